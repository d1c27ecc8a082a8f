// `dawnet predict RUN IMAGE.tif... --out DIR [--tta flip] [--min-lesion-size N] [--keep-largest] [--ensemble RUN,RUN...] [--explain] [--nifti [--spacing DZ,DY,DX]] [--window-weighting gaussian]`.

import { runPredict } from '../app/predict-job.js';
import * as dn from '../index.js';
import { TTA_MODES, type TtaMode } from '../train/tta.js';
import { WINDOW_WEIGHTINGS, type WindowWeighting } from '../train/sliding-window.js';
import { parseArgs, UsageError, type CommandSpec } from './args.js';
import { parseMinLesionSize, parseSpacing } from './eval.js';

export const predictSpec: CommandSpec = {
  name: 'predict',
  summary:
    "Run a trained model on MRI slices (TIFF). segment: writes NAME_prob.png, NAME_mask.png and NAME_overlay.png\n(predicted outline over the slice); classify: prints p(tumour), and with --explain writes NAME_gradcam.png. Both write DIR/predictions.json.",
  positionals: [
    { name: 'RUN', help: 'run folder written by dawnet train' },
    {
      name: 'IMAGE.tif...',
      help:
        "one or more slices, or patient folders (each stands for its <folder>_<n>.tif slices in order, summarised per patient).\n" +
        "A zscore-volume run normalises a folder's slices with the folder's statistics, as eval does; a single file on its own.\n" +
        'Masks (_mask.tif) are refused. Slices sharing a file name get NAME, NAME-2, ... as output names.',
      variadic: true,
    },
  ],
  flags: {
    out: { type: 'string', help: 'output folder', default: 'predictions' },
    tta: { type: 'string', help: 'test-time augmentation: flip averages the slice and its left-right mirror', choices: TTA_MODES, default: 'none' },
    'window-weighting': { type: 'string', help: "a 3-D run's (train --volume-depth) sliding windows: 'uniform' averages a plane's windows alike, 'gaussian' weighs each by nnU-Net's Gaussian about its centre", choices: WINDOW_WEIGHTINGS, default: 'uniform' },
    'min-lesion-size': {
      type: 'number',
      help: 'drop predicted lesions under N pixels from the mask and overlay: 2-D components of each slice, 8-connected (corners join)',
      default: 0,
    },
    'keep-largest': { type: 'boolean', help: "keep only each slice's largest predicted lesion (after --min-lesion-size; a tie keeps the topmost, then leftmost)" },
    ensemble: { type: 'list', help: "more runs whose best checkpoints are averaged with RUN's (the folds of dawnet cv): the ensemble's probabilities" },
    nifti: {
      type: 'boolean',
      help: "segment: also stack each patient folder's predictions into NAME_prob.nii.gz, NAME_mask.nii.gz and NAME_flair.nii.gz\n(NIfTI-1, for 3D Slicer, ITK-SNAP, nibabel; slice n at z = n - 1, a missing number a blank plane)",
    },
    spacing: { type: 'list', help: 'with --nifti: voxel size dz,dy,dx in mm, as eval takes it (default 1,1,1; kaggle_3m records none)' },
    explain: { type: 'boolean', help: 'classify: also write NAME_gradcam.png, the slice under a Grad-CAM heat map of where p(tumour) comes from (with --tta and --ensemble as p(tumour))' },
  },
  examples: [
    'dawnet predict runs/unet kaggle_3m/TCGA_CS_4941_19960909/TCGA_CS_4941_19960909_12.tif --out pred',
    'dawnet predict runs/unet slice.tif --out pred --min-lesion-size 20 --keep-largest',
    'dawnet predict runs/unet kaggle_3m/TCGA_CS_4941_19960909 --out pred/TCGA_CS_4941',
    'dawnet predict runs/cv/fold-1 slice.tif --ensemble runs/cv/fold-2,runs/cv/fold-3 --out pred',
    'dawnet predict runs/vgg slice.tif --explain --out pred',
    'dawnet predict runs/unet kaggle_3m/TCGA_CS_4941_19960909 --nifti --spacing 2.5,1,1 --out pred',
  ],
};

export async function runPredictCommand(args: string[]): Promise<void> {
  const parsed = parseArgs(predictSpec, args);
  if (!parsed) return;
  const [run, ...images] = parsed.positionals;
  if (!images.length) {
    throw new UsageError("give at least one IMAGE.tif (see 'dawnet predict --help')");
  }
  const minLesionSize = parseMinLesionSize(parsed.flags['min-lesion-size']);
  await dn.init();
  try {
    await runPredict(run, images, parsed.flags.out as string, (m) => console.log(m), {
      tta: parsed.flags.tta as TtaMode,
      windowWeighting: parsed.flags['window-weighting'] as WindowWeighting,
      minLesionSize,
      keepLargest: parsed.flags['keep-largest'] === true,
      ensemble: parsed.flags.ensemble as string[] | undefined,
      explain: parsed.flags.explain === true,
      nifti: parsed.flags.nifti === true,
      spacing: parseSpacing(parsed.flags.spacing as string[] | undefined) as [number, number, number] | undefined,
    });
  } finally {
    dn.shutdown();
  }
}
