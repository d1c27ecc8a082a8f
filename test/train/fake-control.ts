// A TrainingControl for the callback tests: the "model" is a number (the epoch's), and snapshots
// are tracked so that none is left behind.
import type { TrainingControl } from '../../src/train/callbacks.js';

export class FakeControl implements TrainingControl {
  stopTraining = false;
  lr = 1;
  weights = 0;
  restored: number[] = [];
  saved: string[] = [];
  live = new Set<number>();
  logs: string[] = [];
  getLr(): number { return this.lr; }
  setLr(lr: number): void { this.lr = lr; }
  snapshotWeights(): unknown { this.live.add(this.weights); return { w: this.weights }; }
  restoreWeights(s: unknown): void { this.weights = (s as { w: number }).w; this.restored.push(this.weights); }
  disposeWeights(s: unknown): void { if (s) this.live.delete((s as { w: number }).w); }
  async saveCheckpoint(path: string): Promise<void> { this.saved.push(path); }
  log(m: string): void { this.logs.push(m); }
}
