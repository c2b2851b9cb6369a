// Training configuration as plain values: configs/res<N>.json per resolution, then overrides. Free of tfjs, so
// commands that need no tensors (gan preprocess) start without loading it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GanError } from './errors.js';

/** Image sizes with a model and a config: 4×4 doubled by two to five stride-2 stages. */
export const RESOLUTIONS = [16, 32, 64, 128] as const;
/** Architectures (src/model.ts) and losses (src/losses.ts) by name; their registries are typed by these. */
export const ARCHS = ['dcgan'] as const;
export const LOSSES = ['bce', 'hinge'] as const;
export type ArchName = (typeof ARCHS)[number];
export type LossName = (typeof LOSSES)[number];

export interface ModelConfig {
  res: number;
  latent: number; // size of z (100)
  width: number; // filters of D's first layer and G's last hidden layer (64)
  arch: ArchName;
  spectralNorm: boolean; // D's convolutions spectrally normalised (and no BatchNorm in D)
}

export interface TrainConfig extends ModelConfig {
  loss: LossName;
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

const oneOf = (name: string, choices: readonly unknown[], got: unknown) =>
  new GanError(`\`${name}\` must be one of ${choices.join(', ')} (got ${got})`);

export function checkRes(res: number): void {
  if (!(RESOLUTIONS as readonly number[]).includes(res)) throw oneOf('res', RESOLUTIONS, res);
}

/** The config of resolution `res` with `overrides` (undefined values ignored), checked. */
export function loadConfig(res: number, overrides: Partial<TrainConfig> = {}): TrainConfig {
  checkRes(res);
  const file = JSON.parse(fs.readFileSync(path.join(CONFIG_DIR, `res${res}.json`), 'utf8')) as TrainConfig;
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  return checkConfig({ ...file, ...defined });
}

/** A config saved by an earlier run, with defaults for the settings added since, checked. */
export function savedConfig(saved: Partial<TrainConfig>): TrainConfig {
  if (typeof saved !== 'object' || saved === null) throw new GanError('no config');
  checkRes(saved.res as number);
  return checkConfig({ ...loadConfig(saved.res!), ...saved });
}

/** Every value of a config checked, whether it comes from configs/, the command line or a checkpoint. */
export function checkConfig(c: TrainConfig): TrainConfig {
  checkRes(c.res);
  const positiveInts: (keyof TrainConfig)[] = ['batch', 'epochs', 'latent', 'width', 'previewEvery', 'checkpointEvery', 'keepCheckpoints'];
  for (const k of positiveInts) {
    if (!Number.isInteger(c[k]) || (c[k] as number) < 1) throw new GanError(`\`${k}\` must be a positive integer (got ${c[k]})`);
  }
  for (const k of ['lrG', 'lrD'] as const) {
    if (!(typeof c[k] === 'number' && c[k] > 0 && c[k] < 1)) throw new GanError(`\`${k}\`, a learning rate, must be in (0, 1) (got ${c[k]})`);
  }
  for (const k of ['beta1', 'beta2'] as const) {
    if (!(typeof c[k] === 'number' && c[k] >= 0 && c[k] < 1)) throw new GanError(`\`${k}\` must be in [0, 1) (got ${c[k]})`);
  }
  if (!(typeof c.ema === 'number' && c.ema >= 0 && c.ema < 1)) throw new GanError(`\`ema\` must be in [0, 1) (got ${c.ema})`);
  if (!(Number.isInteger(c.evalEvery) && c.evalEvery >= 0)) throw new GanError(`\`evalEvery\` must be a whole number of steps (got ${c.evalEvery})`);
  if (!Number.isInteger(c.seed)) throw new GanError(`\`seed\` must be an integer (got ${c.seed})`);
  for (const k of ['augment', 'spectralNorm'] as const) {
    if (typeof c[k] !== 'boolean') throw new GanError(`\`${k}\` must be true or false (got ${c[k]})`);
  }
  if (!ARCHS.includes(c.arch)) throw oneOf('arch', ARCHS, c.arch);
  if (!LOSSES.includes(c.loss)) throw oneOf('loss', LOSSES, c.loss);
  return c;
}
