// NumPy broadcasting on the host, for references: where element `flat` of an output of shape
// `out` reads in an operand of shape `own` (its shape padded with leading 1s, an axis of size 1
// read at 0, which is stride 0 on a broadcast axis).
export function broadcastSource(own: readonly number[], out: readonly number[], flat: number): number {
  const pad = [...new Array<number>(out.length - own.length).fill(1), ...own];
  let [src, stride, rest] = [0, 1, flat];
  for (let d = out.length - 1; d >= 0; d--) {
    const c = rest % out[d];
    rest = Math.floor(rest / out[d]);
    if (pad[d] !== 1) src += c * stride;
    stride *= pad[d];
  }
  return src;
}
