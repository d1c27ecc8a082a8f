export { Optimizer } from './optimizer.js';
export type { NamedParameter } from './optimizer.js';
export { Adam, AdamW } from './adam.js';
export type { AdamOptions } from './adam.js';
export { SGD } from './sgd.js';
export type { SgdOptions } from './sgd.js';
export { clipGradNorm } from './clip.js';
