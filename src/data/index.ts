// dn.data: the LGG data set as a script trains on it, the pieces the CLI's runs are made of.
// scanLgg checks a kaggle_3m folder; splitDataset / kFoldSplits split it by patient; lggDataset
// serves one side to fit() (decoded ahead on worker threads, augmented on the GPU), and
// lggVolumeDataset the same as patches of each patient's stacked slices for a 3-D U-Net; BatchLoader
// is the host batches beneath it; the TIFF codec and writeSyntheticDataset make test data.
export { scanLgg, loadSlice } from './lgg.js';
export type { LggDataset, LggSlice, LggPatient, LggProblem, LggSummary, ScanLggOptions } from './lgg.js';
export { splitDataset, kFoldSplits, checkNoPatientLeak, classCounts } from './split.js';
export type { DataSplit, SplitOptions, KFoldOptions, ClassCounts, SliceLike } from './split.js';
export { lggDataset, DATASET_NORMALIZATIONS } from './lgg-dataset.js';
export type { LggDatasetOptions, LggFitDataset, DatasetNormalization } from './lgg-dataset.js';
export { lggVolumes, volumePatches, lggVolumeDataset, loadLggVolume, VOLUME_NORMALIZATIONS } from './lgg-volumes.js';
export type { LggVolume, VolumePatch, PatchOptions, LggVolumeDataset, LggVolumeDatasetOptions, LoadedVolume, VolumeNormalization } from './lgg-volumes.js';
export { BatchLoader } from './batches.js';
export type { Batch as HostBatch, BatchOptions, BatchSample, LoaderStats } from './batches.js';
export { channelStats, applyStats, zscoreImages } from './normalize.js';
export type { ChannelStats } from './normalize.js';
export { decodeTiff, readTiffInfo, encodeTiff } from './tiff.js';
export type { TiffImage, TiffInfo, EncodeTiffOptions, TiffCompression } from './tiff.js';
export { decodeSlice } from './slice-decode.js';
export type { DecodedSlice } from './slice-decode.js';
export { writeSyntheticDataset } from './synth.js';
export type { SynthOptions, SynthSummary } from './synth.js';
