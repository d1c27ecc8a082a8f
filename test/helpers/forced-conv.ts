// Checks shared by the tests of the forward-only conv kernels that setConvAlgorithm forces
// (uniform-weights, channel-lanes, row-patch): a batch past the binding limit runs in chunks of samples, and
// the gradients stay the direct kernels', the reference's.
import { expect } from 'vitest';
import * as dn from '../../src/index.js';
import { runtime } from '../../src/gpu/runtime.js';
import { conv2dBackwardRef, conv2dForwardRef } from '../../src/reference/conv.js';
import type { ConvAlgorithm } from '../../src/kernels/conv2d-winograd-run.js';
import { expectClose } from './close.js';
import { convCaseData } from './conv-case.js';
import { fromNd } from './gpu.js';

const TOL = { atol: 1e-4, rtol: 1e-4 };

/**
 * 5 samples of 8x8 with `cin` channels to 12: one sample's output is 8·8·12·4 = 3072 bytes, so a
 * 6 KiB binding limit takes two samples a chunk (three dispatches of `kernel`), the chunks'
 * offsets keeping to a 1 KiB alignment. The caller resets the limit and the algorithm afterwards.
 */
export async function expectChunkedForward(algorithm: ConvAlgorithm, kernel: string, cin: number, seed: number): Promise<void> {
  const d = convCaseData({ x: [5, 8, 8, cin], k: [3, 3], cout: 12, opts: { padding: 'same' } }, seed);
  const [x, w, b] = [fromNd(d.x.data, d.x.shape), fromNd(d.w.data, d.w.shape), fromNd(d.b.data, d.b.shape)];
  runtime().setBindingLimit(6144, { offsetAlignment: 1024 });
  dn.setConvAlgorithm(algorithm);
  let y: dn.Tensor | undefined;
  const p = await dn.profile(() => {
    y = dn.conv2d(x, w, b, d.opts);
  });
  if (p) expect(p.kernels.find((k) => k.name === kernel)?.dispatches).toBe(3);
  expectClose('chunked', await y!.toArray(), conv2dForwardRef(d.x, d.w, d.b, d.opts).data, TOL);
  for (const t of [x, w, b, y!]) t.dispose();
}

/** A conv of 2 samples of 6x7 with `cin` channels to 16, `algorithm` forced: its gradients are the reference's. */
export async function expectReferenceGradients(algorithm: ConvAlgorithm, cin: number, seed: number): Promise<void> {
  const d = convCaseData({ x: [2, 6, 7, cin], k: [3, 3], cout: 16, opts: { padding: 'same' } }, seed);
  const [x, w, b] = [fromNd(d.x.data, d.x.shape, true), fromNd(d.w.data, d.w.shape, true), fromNd(d.b.data, d.b.shape, true)];
  dn.setConvAlgorithm(algorithm);
  const dy = fromNd(d.dy.data, d.dy.shape);
  dn.scope(() => dn.sum(dn.mul(dn.conv2d(x, w, b, d.opts), dy)).backward());
  const g = conv2dBackwardRef(d.x, d.w, d.dy, d.opts);
  expectClose('dx', await x.grad!.toArray(), g.dx.data, TOL);
  expectClose('dw', await w.grad!.toArray(), g.dw.data, TOL);
  expectClose('db', await b.grad!.toArray(), g.db.data, TOL);
  for (const t of [x, w, b, dy]) {
    t.grad?.dispose();
    t.dispose();
  }
}
