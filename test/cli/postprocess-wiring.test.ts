// The eval and predict commands hand --min-lesion-size and --keep-largest (and predict its --explain,
// --nifti and --spacing) to their jobs: the jobs
// and the GPU are replaced by recorders, so this runs without a device or a trained run.
import { beforeEach, describe, expect, it, vi } from 'vitest';

vi.mock('../../src/index.js', () => ({ init: vi.fn(async () => undefined), shutdown: vi.fn() }));
vi.mock('../../src/app/eval-job.js', () => ({ runEval: vi.fn(async () => ({ json: {}, table: '', set: {} })) }));
vi.mock('../../src/app/predict-job.js', () => ({ runPredict: vi.fn(async () => []) }));

const { runEval } = await import('../../src/app/eval-job.js');
const { runPredict } = await import('../../src/app/predict-job.js');
const { runEvalCommand } = await import('../../src/cli/eval.js');
const { runPredictCommand } = await import('../../src/cli/predict.js');

beforeEach(() => vi.clearAllMocks());

describe('post-processing flags reach the jobs', () => {
  it('eval', async () => {
    await runEvalCommand(['runs/u', '--min-lesion-size', '40', '--keep-largest']);
    expect(runEval).toHaveBeenCalledWith('runs/u', expect.objectContaining({ minLesionSize: 40, keepLargest: true }));
    await runEvalCommand(['runs/u']);
    expect(runEval).toHaveBeenLastCalledWith('runs/u', expect.objectContaining({ minLesionSize: 0, keepLargest: false }));
  });

  it('predict', async () => {
    await runPredictCommand(['runs/u', 'a.tif', '--out', 'p', '--min-lesion-size', '7', '--keep-largest']);
    expect(runPredict).toHaveBeenCalledWith('runs/u', ['a.tif'], 'p', expect.any(Function), expect.objectContaining({ minLesionSize: 7, keepLargest: true }));
    await runPredictCommand(['runs/u', 'a.tif']);
    expect(runPredict).toHaveBeenLastCalledWith('runs/u', ['a.tif'], 'predictions', expect.any(Function), expect.objectContaining({ minLesionSize: 0, keepLargest: false }));
  });

  it('predict --explain, --nifti and --spacing (dz,dy,dx as given)', async () => {
    await runPredictCommand(['runs/c', 'a.tif', '--explain']);
    expect(runPredict).toHaveBeenLastCalledWith('runs/c', ['a.tif'], 'predictions', expect.any(Function), expect.objectContaining({ explain: true, nifti: false, spacing: undefined }));
    await runPredictCommand(['runs/u', 'patient', '--nifti', '--spacing', '2.5,0.9,0.8']);
    expect(runPredict).toHaveBeenLastCalledWith('runs/u', ['patient'], 'predictions', expect.any(Function), expect.objectContaining({ explain: false, nifti: true, spacing: [2.5, 0.9, 0.8] }));
    await expect(runPredictCommand(['runs/u', 'patient', '--nifti', '--spacing', '2.5,0'])).rejects.toThrow('--spacing expects three positive numbers dz,dy,dx');
  });
});
