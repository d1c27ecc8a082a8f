// dn.io: weight import and conversion, checkpoint files, saved conv tunings.
export { loadWeights, convertWeights, readWeightFile, detectFormat } from './load-weights.js';
export type { LoadOptions, LoadReport, ConvertOptions, ConvertReport, WeightFormat, WeightFile, Layout, ModelKind } from './load-weights.js';
export type { SourceTensor } from './torch.js';
export { encodeWeights, saveWeights } from './save-weights.js';
export { encodeSafetensors, decodeSafetensors } from './safetensors.js';
export type { HostTensor, DecodedSafetensors } from './safetensors.js';
export { saveConvTuning, loadConvTuning } from './conv-tuning.js';
export { encodeNifti, encodeNiftiGz } from './nifti.js';
export type { NiftiVolume } from './nifti.js';
