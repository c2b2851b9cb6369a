// Training configuration as plain values: configs/res<N>.json per resolution, then command-line overrides.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GanError } from './errors.js';
import type { ModelConfig } from './model.js';

export interface TrainConfig extends ModelConfig {
  batch: number;
  epochs: number;
  lrG: number;
  lrD: number;
  beta1: number;
  beta2: number;
  previewEvery: number; // steps
  checkpointEvery: number; // steps
  keepCheckpoints: number;
  seed: number;
  ema: number; // decay of the generator's moving average (0: none); samples use the average when there is one
  augment: boolean; // differentiable augmentation of every image D sees
  evalEvery: number; // steps between quick gan eval figures in the log (0: never)
}

export const CONFIG_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../configs');

export function loadConfig(res: number, overrides: Partial<TrainConfig> = {}): TrainConfig {
  const file = path.join(CONFIG_DIR, `res${res}.json`);
  if (!fs.existsSync(file)) {
    const known = fs.readdirSync(CONFIG_DIR).map((f) => /^res(\d+)\.json$/.exec(f)?.[1]).filter(Boolean);
    throw new GanError(`no config for --res ${res}: choose one of ${known.join(', ')}`);
  }
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  const c = { ...(JSON.parse(fs.readFileSync(file, 'utf8')) as TrainConfig), ...defined };
  const positiveInts: (keyof TrainConfig)[] = ['batch', 'epochs', 'latent', 'width', 'previewEvery', 'checkpointEvery', 'keepCheckpoints'];
  if (!(c.ema >= 0 && c.ema < 1)) throw new GanError(`--ema must be in [0, 1) (got ${c.ema})`);
  if (!(Number.isInteger(c.evalEvery) && c.evalEvery >= 0)) throw new GanError(`--eval-every must be a whole number of steps (got ${c.evalEvery})`);
  for (const k of positiveInts) {
    if (!Number.isInteger(c[k]) || (c[k] as number) < 1) throw new GanError(`${k} must be a positive integer (got ${c[k]})`);
  }
  for (const k of ['lrG', 'lrD'] as const) {
    if (!(c[k] > 0 && c[k] < 1)) throw new GanError(`learning rate must be in (0, 1) (got ${c[k]})`);
  }
  if (!Number.isInteger(c.seed)) throw new GanError(`--seed must be an integer (got ${c.seed})`);
  return c;
}
