// A trained run's model as eval, predict and ensembles load it: the run's best checkpoint (else
// its last) in the model its config builds; several runs, their EnsembleModel (the mean of their
// outputs). Whatever was built is freed when a checkpoint fails to load.

import type { Module } from '../nn/module.js';
import { loadCheckpoint } from '../train/checkpoint.js';
import { EnsembleModel } from '../train/ensemble.js';
import type { TrainConfig } from './config.js';
import { buildModel } from './model.js';
import { bestCheckpoint } from './run-dir.js';

/**
 * `runs[i]`'s best checkpoint loaded into `configs[i]`'s model; two runs or more, averaged.
 * `loaded`, when given, receives the checkpoint files read, in the runs' order.
 */
export async function loadRunModel(runs: readonly string[], configs: readonly TrainConfig[], log: (m: string) => void, loaded: string[] = []): Promise<Module> {
  const members: Module[] = [];
  try {
    for (const [i, c] of configs.entries()) {
      const { model } = buildModel(c);
      members.push(model);
      const checkpoint = await bestCheckpoint(runs[i]);
      loaded.push(checkpoint);
      await loadCheckpoint(checkpoint, model);
      if (runs.length === 1) log(`model: ${checkpoint}`);
    }
  } catch (e) {
    for (const m of members) m.dispose();
    throw e;
  }
  if (members.length === 1) return members[0];
  log(`ensemble: ${runs.length} runs (${runs.join(', ')})`);
  return new EnsembleModel(members);
}
