// What a forward run again by dn.checkpoint's backward must not do twice. The recomputation has
// to give the tensors the first run gave, and leave the model's state as the first run left it:
// - random draws (a Dropout's seed, an unseeded draw of dn's seed counter) are logged by the
//   first run and replayed, in order, by the second, so a dropout mask is the same mask;
// - running statistics (BatchNorm2d in train()) are updated by the first run only: PyTorch's
//   checkpoint updates them twice, moving them faster than the momentum says.
// dn.gradcheck holds the state the same way for every call it makes (holdingState).
// Checkpoints nest: each keeps its own log, which holds the draws of the checkpoints inside it.

import { DawnetError } from '../errors.js';

interface Frame {
  mode: 'record' | 'replay';
  draws: number[];
  next: number;
}

const frames: Frame[] = [];

/** A log of the draws made by a checkpoint's first run, for its recomputation. */
export interface DrawLog {
  draws: number[];
}

/** Runs fn as a checkpoint's first run, logging its draws into `log`. */
export function recordingDraws<T>(log: DrawLog, fn: () => T): T {
  return within({ mode: 'record', draws: log.draws, next: 0 }, fn);
}

/** Runs fn as a checkpoint's recomputation: draws come from `log`, state is left alone. */
export function replayingDraws<T>(log: DrawLog, fn: () => T): T {
  return within({ mode: 'replay', draws: log.draws, next: 0 }, fn);
}

function within<T>(frame: Frame, fn: () => T): T {
  frames.push(frame);
  try {
    return fn();
  } finally {
    frames.pop();
  }
}

/**
 * A random draw that a recomputation must repeat: `draw` runs (and may advance its generator)
 * except while replaying, which hands back what the first run drew. Outside any checkpoint it
 * just draws.
 */
export function repeatableDraw(draw: () => number): number {
  // The innermost replaying checkpoint supplies the value (a checkpoint nested in one being
  // recomputed makes its first run again, and must draw what it drew the first time); every
  // checkpoint recording inside it logs the value, since its own recomputation needs it too.
  let replaying = -1;
  for (let i = frames.length - 1; i >= 0 && replaying < 0; i--) if (frames[i]!.mode === 'replay') replaying = i;
  let v: number;
  if (replaying < 0) v = draw();
  else {
    const frame = frames[replaying]!;
    // Only a forward that draws differently the second time gets here (it branches on something
    // that changed between the runs): its gradients would be wrong, so say so.
    if (frame.next >= frame.draws.length) {
      throw new DawnetError('checkpoint: the recomputed forward drew more random numbers than its first run; a checkpointed function must compute the same way twice');
    }
    v = frame.draws[frame.next++]!;
  }
  for (let i = replaying + 1; i < frames.length; i++) frames[i]!.draws.push(v);
  return v;
}

/** True while a checkpoint recomputes: state (running statistics) must not be updated again. */
function isRecomputing(): boolean {
  return frames.some((f) => f.mode === 'replay');
}

let holds = 0;

/**
 * Runs fn (synchronous) with the model's state held: dn.gradcheck calls its function a few
 * hundred times to take differences, and each call must leave the running statistics as the
 * caller had them, as its report promises. Nests.
 */
export function holdingState<T>(fn: () => T): T {
  holds++;
  try {
    return fn();
  } finally {
    holds--;
  }
}

/** Whether a forward must leave state (running statistics) alone: a checkpoint's recomputation or a held call. */
export const stateHeld = (): boolean => holds > 0 || isRecomputing();
