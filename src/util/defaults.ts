// Options over defaults, where an option given as `undefined` takes its default. A plain spread
// ({ ...defaults, ...opts }) keeps the undefined, so `{ features: cfg.features }` with the field
// unset would build a model of NaN channels instead of the default's 32.

/** `defaults` with every option of `opts` that is not undefined laid over it. */
export function withDefaults<D extends object, O extends object>(defaults: D, opts: O): D & O {
  const given = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
  return { ...defaults, ...given } as D & O;
}
