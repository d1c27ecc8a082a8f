// Batches of decoded slices for training: images [B, S, S, 3] in 0..1 (NHWC, as the kernels
// take them), masks [B, S, S, 1] in {0, 1}, labels [B], ids. Each epoch shuffles with a seed
// of its own (seed, epoch), so a run can be replayed batch for batch.
//
// Decoding (read two TIFFs, decode, resize) runs ahead of the consumer on worker threads, at most
// `prefetch` batches ahead: while the consumer holds batch i, batches i+1..i+prefetch are being
// decoded or wait finished, and nothing further is started, so memory stays at (prefetch + 1)
// batches however slow the consumer is. Batches come out in order whatever order the decodes
// finish in. `workers: 0` decodes on the calling thread through `read` (the browser, tests).
// Node modules are imported lazily so this file bundles for the browser.

import { DataError } from './errors.js';
import { readFileBytes } from './lgg.js';
import { decodeSlice, type DecodedSlice } from './slice-decode.js';
import { deriveSeed, seededRandom, shuffled } from './split.js';
import { nodeModule } from '../io/files.js';
import { workerSource } from '../util/worker-source.js';

/** What a batch needs of a slice (LggSlice has it). */
export interface BatchSample {
  id: string;
  imagePath: string;
  maskPath: string;
}

export interface Batch {
  /** [count, S, S, 3], 0..1. */
  images: Float32Array;
  /** [count, S, S, 1], 0 or 1. */
  masks: Float32Array;
  /** [count]: 1 when the slice's stored mask has tumour. */
  labels: Float32Array;
  ids: string[];
  count: number;
  size: number;
  epoch: number;
  /** Batch number within the epoch. */
  index: number;
}

export interface BatchOptions {
  batchSize: number;
  /** Working size S. */
  size: number;
  seed?: number;
  /** Shuffle each epoch (default true); false keeps the samples' order. */
  shuffle?: boolean;
  /** Leave out the last, smaller batch (default false). */
  dropLast?: boolean;
  /** Decoding threads; default min(4, cores - 1) in Node, 0 elsewhere. 0 decodes on the calling thread. */
  workers?: number;
  /** Batches decoded ahead of the consumer (default 2). */
  prefetch?: number;
  /** File reader for workers: 0 (default: Node's fs). Workers always read with fs. */
  read?: (path: string) => Promise<Uint8Array>;
  /** The worker script, when the default (decode-worker.js beside this module) does not fit the build. */
  workerUrl?: URL;
}

export interface LoaderStats {
  batchesStarted: number;
  batchesYielded: number;
  /** Most batches started but not yet handed out, at any time. Never above `prefetch`. */
  maxBatchesAhead: number;
  /** Most slices being decoded at once. */
  maxSlicesInFlight: number;
}

/** What the main thread posts to decode-worker.ts. */
export interface DecodeTask {
  imagePath: string;
  maskPath: string;
  size: number;
}
type Decoder = (sample: BatchSample) => Promise<DecodedSlice>;

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/**
 * Imports a Node-only module by a name the bundler cannot see, so the browser bundle neither
 * includes nor fails on it (the same trick as src/gpu/device.ts for `webgpu`).
 */
export class BatchLoader {
  readonly batchesPerEpoch: number;
  private readonly samples: readonly BatchSample[];
  private readonly opts: Required<Pick<BatchOptions, 'batchSize' | 'size' | 'seed' | 'shuffle' | 'dropLast' | 'prefetch'>>;
  private readonly workerCount: number | undefined;
  private pool: Promise<WorkerPool> | undefined;
  private readonly stat: LoaderStats = { batchesStarted: 0, batchesYielded: 0, maxBatchesAhead: 0, maxSlicesInFlight: 0 };
  private inFlight = 0;
  private closed = false;

  constructor(samples: readonly BatchSample[], private readonly options: BatchOptions) {
    const { batchSize, size } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new DataError(`batches: batchSize must be a positive integer, got ${batchSize}`);
    if (!Number.isInteger(size) || size < 1) throw new DataError(`batches: size must be a positive integer, got ${size}`);
    const prefetch = options.prefetch ?? 2;
    if (!Number.isInteger(prefetch) || prefetch < 0) throw new DataError(`batches: prefetch must be an integer >= 0, got ${prefetch}`);
    if (options.workers !== undefined && !(Number.isInteger(options.workers) && options.workers >= 0)) {
      throw new DataError(`batches: workers must be an integer >= 0, got ${options.workers}`);
    }
    if ((options.workers ?? 0) > 0 && !isNode) throw new DataError('batches: worker threads need Node; use workers: 0 in the browser');
    this.samples = samples;
    this.opts = { batchSize, size, prefetch, seed: options.seed ?? 0, shuffle: options.shuffle ?? true, dropLast: options.dropLast ?? false };
    this.workerCount = isNode ? options.workers : 0;
    const full = Math.floor(samples.length / batchSize);
    this.batchesPerEpoch = this.opts.dropLast || samples.length % batchSize === 0 ? full : full + 1;
  }

  /** The sample order of an epoch: a permutation of 0..n-1 seeded by (seed, epoch). */
  order(epoch: number): number[] {
    const identity = this.samples.map((_, i) => i);
    return this.opts.shuffle ? shuffled(identity, seededRandom(deriveSeed(this.opts.seed, epoch))) : identity;
  }

  /**
   * The batches of one epoch, in order, from batch `from` on (default 0): a resumed epoch starts
   * where it stopped without decoding the batches before it. They are the batches an epoch from 0
   * yields from there (the same samples in the same order, the same `index`, which a caller's
   * augmentation seeds by), since the order is a function of (seed, epoch) alone. Breaking out
   * early is fine: pending decodes are dropped.
   */
  async *epoch(epoch: number, from = 0): AsyncGenerator<Batch> {
    if (this.closed) throw new DataError('batches: the loader is closed');
    if (!Number.isInteger(from) || from < 0 || from > this.batchesPerEpoch) {
      throw new DataError(`batches: an epoch starts at a batch from 0 to ${this.batchesPerEpoch} (its batches per epoch), got ${from}`);
    }
    const decode = await this.decoder();
    const order = this.order(epoch);
    const { batchSize, prefetch } = this.opts;
    const queue: Promise<Batch>[] = [];
    let next = from;
    const start = () => {
      const index = next++;
      const picked = order.slice(index * batchSize, (index + 1) * batchSize).map((i) => this.samples[i]!);
      const p = this.assemble(picked, decode, epoch, index);
      p.catch(() => {}); // handled when awaited; keeps an abandoned epoch from raising unhandled rejections
      queue.push(p);
      this.stat.batchesStarted++;
    };
    while (next < this.batchesPerEpoch || queue.length > 0) {
      if (queue.length === 0) start();
      const head = queue.shift()!;
      while (queue.length < prefetch && next < this.batchesPerEpoch) start();
      this.stat.maxBatchesAhead = Math.max(this.stat.maxBatchesAhead, queue.length);
      const batch = await head;
      this.stat.batchesYielded++;
      yield batch;
    }
  }

  stats(): LoaderStats {
    return { ...this.stat };
  }

  /** Stops the worker threads. The loader cannot be used afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    const pool = this.pool;
    this.pool = undefined;
    if (pool) await (await pool.catch(() => undefined))?.close();
  }

  private async decoder(): Promise<Decoder> {
    const workers = this.workerCount ?? (await defaultWorkerCount());
    const { size } = this.opts;
    if (workers === 0) {
      const read = this.options.read ?? readFileBytes;
      return async (s) => {
        const [image, mask] = await Promise.all([read(s.imagePath), read(s.maskPath)]);
        return decodeSlice(image, mask, size, { image: s.imagePath, mask: s.maskPath });
      };
    }
    this.pool ??= WorkerPool.start(workers, this.options.workerUrl);
    const pool = await this.pool;
    return (s) => pool.run({ imagePath: s.imagePath, maskPath: s.maskPath, size });
  }

  private async assemble(picked: BatchSample[], decode: Decoder, epoch: number, index: number): Promise<Batch> {
    const { size } = this.opts;
    const pixels = size * size;
    const count = picked.length;
    const batch: Batch = {
      images: new Float32Array(count * pixels * 3),
      masks: new Float32Array(count * pixels),
      labels: new Float32Array(count),
      ids: picked.map((s) => s.id),
      count,
      size,
      epoch,
      index,
    };
    await Promise.all(
      picked.map(async (s, b) => {
        this.inFlight++;
        this.stat.maxSlicesInFlight = Math.max(this.stat.maxSlicesInFlight, this.inFlight);
        try {
          const d = await decode(s);
          batch.images.set(d.image, b * pixels * 3);
          batch.masks.set(d.mask, b * pixels);
          batch.labels[b] = d.label;
        } finally {
          this.inFlight--;
        }
      }),
    );
    return batch;
  }
}

async function defaultWorkerCount(): Promise<number> {
  if (!isNode) return 0;
  const os = await nodeModule<typeof import('node:os')>('node:os');
  return Math.max(1, Math.min(4, os.availableParallelism() - 1));
}

type NodeWorker = import('node:worker_threads').Worker;

/** N worker threads, each decoding one slice at a time; referenced only while busy, so an idle pool never keeps Node alive. */
class WorkerPool {
  private readonly idle: NodeWorker[] = [];
  private readonly waiting: { task: DecodeTask; resolve: (d: DecodedSlice) => void; reject: (e: Error) => void }[] = [];
  private readonly busy = new Map<NodeWorker, { resolve: (d: DecodedSlice) => void; reject: (e: Error) => void }>();
  private failure: Error | undefined;

  private constructor(private readonly workers: NodeWorker[]) {
    for (const w of workers) {
      w.unref();
      w.on('message', (reply: DecodeReply) => this.onReply(w, reply));
      w.on('error', (e: Error) => this.fail(new DataError(`batches: a decode worker crashed (${e.message})`)));
      w.on('exit', (code: number) => {
        if (!this.failure && code !== 0) this.fail(new DataError(`batches: a decode worker exited with code ${code}`));
      });
      this.idle.push(w);
    }
  }

  static async start(n: number, workerUrl?: URL): Promise<WorkerPool> {
    const { Worker } = await nodeModule<typeof import('node:worker_threads')>('node:worker_threads');
    const source = await decodeWorkerSource(workerUrl);
    const workers = Array.from({ length: n }, () => (typeof source === 'string' ? new Worker(source, { eval: true }) : new Worker(source)));
    return new WorkerPool(workers);
  }

  run(task: DecodeTask): Promise<DecodedSlice> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting.push({ task, resolve, reject });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.fail(new DataError('batches: the loader was closed'));
    // An idle worker is unreferenced, and terminate() settles on its 'exit': with nothing else
    // referenced, Node could end the process while close() is awaited (status 0, the caller's
    // next lines never run). Referenced, each keeps the loop open until it has exited.
    for (const w of this.workers) w.ref();
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private dispatch(): void {
    while (this.idle.length > 0 && this.waiting.length > 0) {
      const w = this.idle.pop()!;
      const job = this.waiting.shift()!;
      this.busy.set(w, job);
      w.ref();
      w.postMessage(job.task);
    }
  }

  private onReply(w: NodeWorker, reply: DecodeReply): void {
    const job = this.busy.get(w);
    this.busy.delete(w);
    w.unref();
    this.idle.push(w);
    if (job) {
      if ('error' in reply) job.reject(new DataError(reply.error));
      else job.resolve({ image: reply.image, mask: reply.mask, label: reply.label });
    }
    this.dispatch();
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const job of this.busy.values()) job.reject(e);
    this.busy.clear();
    for (const job of this.waiting.splice(0)) job.reject(e);
  }
}

/** What decode-worker.ts posts back for each task. */
export type DecodeReply = { image: Float32Array; mask: Float32Array; label: 0 | 1 } | { error: string };

/**
 * The decode worker's script (util/worker-source.ts): `decode-worker.js` beside this module in
 * built code, bundled from the TypeScript source under vitest; `override` where the build differs.
 */
async function decodeWorkerSource(override?: URL): Promise<URL | string> {
  if (override) return override;
  return workerSource(import.meta.url, 'decode-worker', (url) => new DataError(`batches: worker script ${url.href} is missing (add src/data/decode-worker.ts to the build, pass workerUrl, or use workers: 0)`));
}
