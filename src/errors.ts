// Every error dawnet throws on purpose is a DawnetError, so callers can tell ours from the
// platform's. Subclasses say what kind of mistake it was; messages name the op, tensor, file
// or layer first. Tests check the class, not the wording.

export class DawnetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Wrong rank, mismatched dimensions, bad option values: caught in TypeScript before dispatch. */
export class ShapeError extends DawnetError {}

/**
 * An argument of the wrong kind (a number or an array where a Tensor goes, options where the bias
 * goes, a string for a learning rate): what TypeScript catches at compile time and plain JavaScript
 * does not. A ShapeError, so code that catches those for bad options catches these too.
 */
export class ArgumentError extends ShapeError {}

/** A tensor used after dispose(), or read before it was written. */
export class DisposedError extends DawnetError {}

/** A request beyond what the adapter allows (binding size, buffer size, memory budget). */
export class LimitError extends DawnetError {}

/** A WGSL compilation or WebGPU validation error, attributed to the kernel that caused it. */
export class KernelError extends DawnetError {
  constructor(readonly kernel: string, detail: string) {
    super(`kernel ${kernel}: ${detail}`);
  }
}

/** The GPU device was lost (driver reset, destroy(), out of memory in the driver). */
export class DeviceLostError extends DawnetError {}

/** No WebGPU adapter, or dawnet used before init(). */
export class NoDeviceError extends DawnetError {}

/** A file that is not what it claims (weights, checkpoint, image): the message names the file. */
export class FormatError extends DawnetError {}

/**
 * Training cannot go on (a loss that turned NaN or infinite): the last checkpoint is kept.
 * `at` says where, counted from 1 as the log counts (epoch, batch), when the error knows.
 */
export class TrainingError extends DawnetError {
  constructor(message: string, readonly at: { epoch: number; batch: number } | null = null) {
    super(message);
  }
}

/**
 * dn.gradcheck found a gradient (or, against a reference, a forward) that disagrees with the
 * finite differences; `report` has every checked argument's figures (null where fn itself was
 * unfit to check: not deterministic).
 */
export class GradcheckError extends DawnetError {
  constructor(message: string, readonly report: import('./graph/gradcheck-report.js').GradcheckReport | null) {
    super(message);
  }
}
