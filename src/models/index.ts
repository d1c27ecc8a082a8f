export { unet, UNet } from './unet.js';
export type { UNetOptions } from './unet.js';
export { vgg16, Vgg16, vggClassifier, VggClassifier, vggFeatures } from './vgg16.js';
export type { Vgg16Options, ClassifierOptions } from './vgg16.js';
export { unet3d, UNet3d } from './unet3d.js';
export type { UNet3dOptions } from './unet3d.js';
