export { Module } from './module.js';
export { ModuleList } from './module-list.js';
export { Embedding, type EmbeddingOptions } from './embedding.js';
export { AvgPool3d, BatchNorm3d, Conv3d, ConvTranspose3d, MaxPool3d, Upsample3d, type Conv3dLayerOptions, type ConvTranspose3dLayerOptions } from './volume-layers.js';
export type { Named } from './module.js';
export { Conv2d, ConvTranspose2d, DepthwiseConv2d, BatchNorm2d, GroupNorm, InstanceNorm2d, LayerNorm, Linear, Dropout, MaxPool2d, Upsample, ReLU, Sigmoid, Softmax, Tanh, LeakyReLU, ELU, SiLU, AvgPool2d, GlobalAvgPool2d, Flatten, Sequential } from './layers.js';
export type { ConvLayerOptions, BatchNormOptions, MaxPool2dLayerOptions, AvgPool2dLayerOptions, SequentialEntry } from './layers.js';
export { initValues, setInitSeed, fans } from './init.js';
export type { InitName } from './init.js';
