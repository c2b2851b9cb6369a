// A tiny run for the tests of what comes after training (export, timelapse): the same code as a real run.
import { disposeGan } from '../src/gan.js';
import { train } from '../src/train.js';

/** A run on the built-in faces (16 px, width 4, batch 4) in checkpoints/ of the current folder. */
export async function tinyRun(run: string, o: { ema?: number; steps?: number; previewEvery?: number } = {}): Promise<void> {
  const r = await train({ res: 16, run, maxSteps: o.steps ?? 4, quiet: true,
    overrides: { width: 4, batch: 4, epochs: 1, checkpointEvery: 2, previewEvery: o.previewEvery ?? 100, ema: o.ema ?? 0 } });
  disposeGan(r.gan);
}
