export { fit, trainEpoch, evaluate } from './fit.js';
export type { Batch, Dataset, EvalSet, MetricFn, FitOptions, History, BatchProgress, TrainMetric } from './fit.js';
export { EarlyStopping, ReduceLROnPlateau, ModelCheckpoint, resolveMode } from './callbacks.js';
export type { Callback, Logs, TrainingControl } from './callbacks.js';
export { saveCheckpoint, loadCheckpoint, applyCheckpoint, encodeCheckpoint } from './checkpoint.js';
export type { CheckpointMeta, LoadedCheckpoint } from './checkpoint.js';
export { binaryReport, rocAuc, confusion, segmentationReport, overlap, diceOf, iouOf } from './metrics.js';
export type { BinaryReport, Confusion, SegmentationReport, EmptyPolicy } from './metrics.js';
