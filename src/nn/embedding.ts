// Embedding(numEmbeddings, embeddingDim): a table of trainable rows, looked up by id (dn.gather on
// its first axis), as PyTorch's nn.Embedding and Keras's Embedding. The table is `weight`
// [numEmbeddings, embeddingDim], PyTorch's name and layout, so a state dict's table loads as it is;
// its rows start as N(0, 1) draws, PyTorch's default. Ids are float32 tensors of any shape, as
// argmax gives them; an id outside the table gives NaN across its row (see kernels/index-gather.ts).

import { expectChoice, expectNumber, expectOptionalNumber, expectTensor } from '../graph/args.js';
import { tensor, type Tensor } from '../graph/tensor.js';
import { gather } from '../kernels/index-gather.js';
import { INIT_NAMES, initValues, nextSeed, type InitName } from './init.js';
import { Module } from './module.js';
import { expectLayerOptions } from './options.js';

export interface EmbeddingOptions {
  /** The rows' initialiser (default 'normal', N(0, 1)). */
  init?: InitName;
  seed?: number;
}

export class Embedding extends Module {
  readonly weight: Tensor;
  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    opts: EmbeddingOptions = {},
  ) {
    super();
    expectNumber('Embedding', 'numEmbeddings', numEmbeddings, { integer: true, min: 1 });
    expectNumber('Embedding', 'embeddingDim', embeddingDim, { integer: true, min: 1 });
    expectLayerOptions('Embedding', opts, ['init', 'seed'], "{ init: 'normal', seed: 7 }");
    expectChoice('Embedding', 'init', opts.init, INIT_NAMES);
    expectOptionalNumber('Embedding', 'seed', opts.seed);
    const shape = [numEmbeddings, embeddingDim];
    this.weight = this.addParameter('weight', tensor(initValues(opts.init ?? 'normal', shape, opts.seed ?? nextSeed()), shape, { requiresGrad: true }));
  }

  override extraRepr(): string {
    return `${this.numEmbeddings}, ${this.embeddingDim}`;
  }

  /** The rows for `ids` (any shape): [...ids.shape, embeddingDim]. */
  forward(ids: Tensor): Tensor {
    expectTensor('Embedding', 'ids', ids);
    return gather(this.weight, ids, 0);
  }
}
