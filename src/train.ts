// `gan train`: the alternating GAN training loop, with previews, checkpoints and exact resume.
// The algorithm itself is trainStep and the two steps above it; the rest of the file is bookkeeping.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { augment, drawAugment } from './augment.js';
import {
  listCheckpoints, readState, removeLeftovers, saveCheckpoint, type CheckpointState,
} from './checkpoint.js';
import { loadConfig, type TrainConfig } from './config.js';
import type { CropMode } from './data/cache.js';
import { BatchOrder, openDataset, toFloatBatch, type Dataset } from './data/dataset.js';
import { writeFileAtomic } from './atomic.js';
import { GanError } from './errors.js';
import { scoreGenerator } from './eval.js';
import { grid, writePng } from './images.js';
import { fileLogger, say, type Logger } from './log.js';
import { createGan, gradientSize, restoreGan, sampler, updateEma, type Gan } from './gan.js';
import { applyDiscriminator } from './model.js';
import { plotLosses } from './plot.js';
import {
  checkThreads, defaultThreads, flatten, meanOf, startThreads, unflatten, type AllReduce, type StepInputs,
} from './parallel.js';
import { progress } from './progress.js';
import { Rng } from './rng.js';
import { PREVIEW_SEEDS, sampleSeeds } from './sample.js';

/** Binary cross-entropy on logits: -log σ(x) = softplus(-x) for real, -log(1 - σ(x)) = softplus(x) for fake. */
const bce = (logits: tf.Tensor, real: boolean) => tf.mean(tf.softplus(real ? tf.neg(logits) : logits));

const generate = (G: tf.LayersModel, z: tf.Tensor) => G.apply(z, { training: true }) as tf.Tensor;

/** What one thread trains on in one step: its slice of the real batch, of both latent batches, and of the
 * augmentation draws (absent without augmentation). */
export interface Shard {
  real: tf.Tensor4D;
  zD: tf.Tensor2D;
  zG: tf.Tensor2D;
  aug?: Float32Array;
}

/** D's logits for images, augmented first when the shard carries augmentation draws (use 0, 1 or 2). */
function judge(gan: Gan, x: tf.Tensor, shard: Shard, use: number): tf.Tensor {
  return applyDiscriminator(gan.D, shard.aug ? augment(x as tf.Tensor4D, shard.aug, use) : x);
}

/**
 * Gradients of `vars` averaged over this thread's shards and, through `allReduce`, over the other threads'.
 * One shard on one thread (training without threads) uses its gradients as they are.
 */
function averaged(perShard: tf.NamedTensorMap[], vars: tf.Variable[], allReduce?: AllReduce): tf.Tensor[] {
  if (perShard.length === 1 && !allReduce) return vars.map((v) => perShard[0][v.name]);
  const flat = perShard.map((grads) => flatten(vars.map((v) => grads[v.name].dataSync() as Float32Array)));
  const mean = flat.length === 1 ? flat[0] : meanOf(flat);
  return unflatten(allReduce ? allReduce(mean) : mean, vars);
}

/**
 * Discriminator step: real images should score 1, fakes 0. The fakes are made outside the gradient
 * function, so nothing flows back into G (PyTorch's fake.detach()), and only D's variables get gradients.
 * Returns [loss, D(x), D(G(z))]: the loss and the mean probability D gives real and fake images.
 */
export function discriminatorStep(gan: Gan, shards: Shard[], allReduce?: AllReduce): tf.Tensor1D {
  return tf.tidy(() => {
    const grads: tf.NamedTensorMap[] = [];
    const stats: tf.Tensor1D[] = [];
    for (const shard of shards) {
      const fake = generate(gan.G, shard.zD);
      let logits: tf.Tensor[] = [];
      const d = tf.variableGrads(() => {
        logits = [judge(gan, shard.real, shard, 0), judge(gan, fake, shard, 1)].map((l) => tf.keep(l)); // for D(x), D(G(z))
        return bce(logits[0], true).add(bce(logits[1], false)) as tf.Scalar;
      }, gan.dVars);
      grads.push(d.grads);
      stats.push(tf.stack([d.value, ...logits.map((l) => tf.sigmoid(l).mean())]) as tf.Tensor1D);
      tf.dispose(logits);
    }
    gan.optD.apply(averaged(grads, gan.dVars, allReduce));
    return tf.stack(stats).mean(0) as tf.Tensor1D;
  });
}

/** Generator step: fresh fakes that D should score 1. Gradients flow through D, but only G's variables change. */
export function generatorStep(gan: Gan, shards: Shard[], allReduce?: AllReduce): tf.Scalar {
  return tf.tidy(() => {
    const results = shards.map((shard) => tf.variableGrads(() => bce(judge(gan, generate(gan.G, shard.zG), shard, 2), true) as tf.Scalar, gan.gVars));
    gan.optG.apply(averaged(results.map((r) => r.grads), gan.gVars, allReduce));
    return tf.stack(results.map((r) => r.value)).mean() as tf.Scalar;
  });
}

/** [D loss, G loss, D(x), D(G(z))] */
export type StepStats = [number, number, number, number];

/**
 * One GAN iteration: a discriminator step on a real and a fake batch, then a generator step on a fresh fake
 * batch. BatchNorm runs in training mode (batch statistics of each shard) and updates its moving averages,
 * which sampling uses. With threads, every thread runs this on its own shard and `allReduce` averages the
 * gradients, so all replicas apply the same update (as PyTorch's DistributedDataParallel).
 */
export function trainStep(gan: Gan, shards: Shard[], allReduce?: AllReduce): StepStats {
  const stats = tf.tidy(() => {
    const [dLoss, dReal, dFake] = tf.unstack(discriminatorStep(gan, shards, allReduce));
    const gLoss = generatorStep(gan, shards, allReduce);
    return tf.stack([dLoss, gLoss, dReal, dFake]);
  });
  const local = stats.dataSync() as Float32Array;
  stats.dispose();
  return Array.from(allReduce ? allReduce(local) : local) as StepStats;
}

/** The random draws of one step, a pure function of (seed, step): the real batch and both latent batches. */
export function stepInputs(ds: Dataset, order: BatchOrder, c: TrainConfig, step: number): StepInputs {
  const idx = order.indices(step);
  const z = (which: string) => new Rng(c.seed, which, step).normals(c.batch * c.latent);
  const aug = c.augment ? drawAugment(new Rng(c.seed, 'augment', step), c.batch, c.res) : new Float32Array(0);
  return { real: toFloatBatch(ds, idx), zD: z('zD'), zG: z('zG'), aug };
}

/** A step's inputs (or a thread's slice of them) as tensors; the caller disposes them. */
export function toShard(x: StepInputs, c: TrainConfig): Shard {
  const n = x.zD.length / c.latent;
  return {
    real: tf.tensor4d(x.real, [n, c.res, c.res, 3]),
    zD: tf.tensor2d(x.zD, [n, c.latent]),
    zG: tf.tensor2d(x.zG, [n, c.latent]),
    ...(x.aug.length ? { aug: x.aug } : {}),
  };
}

/** One training step on `inputs` (this thread's part of them, with threads); returns the step's figures. */
export function trainOn(gan: Gan, inputs: StepInputs, c: TrainConfig, allReduce?: AllReduce): StepStats {
  const shard = toShard(inputs, c);
  try {
    return trainStep(gan, [shard], allReduce);
  } finally {
    tf.dispose([shard.real, shard.zD, shard.zG]);
  }
}

export interface TrainOptions {
  data?: string; // cache or image folder; built-in faces when absent
  res: number;
  crop?: CropMode; // for a raw image folder
  run?: string;
  fresh?: boolean;
  overrides?: Partial<TrainConfig>;
  checkpointsDir?: string;
  /** Replicas training in parallel, one per thread (default: every core on wasm and cpu). */
  threads?: number;
  /** Stop after this many steps in this call (tests use it to interrupt a run). */
  maxSteps?: number;
  /** Aborting it stops the run after the current step, with a checkpoint (Ctrl-C). */
  signal?: AbortSignal;
  quiet?: boolean;
  tty?: boolean;
}

export interface TrainResult {
  runDir: string;
  step: number;
  totalSteps: number;
  resumedFrom: number; // 0 for a new run
  stopped: boolean; // by the signal
  gan: Gan; // the caller disposes it
}

// Config keys a resumed run may change; the others shape the model, the data order or the optimizer.
const SCHEDULE_KEYS: (keyof TrainConfig)[] = ['epochs', 'previewEvery', 'checkpointEvery', 'keepCheckpoints', 'evalEvery'];

/** Refuses to resume on other data or resolution; takes the run's config plus schedule overrides. */
function resumeConfig(state: CheckpointState, ds: Dataset, o: TrainOptions, run: string): TrainConfig {
  const redo = `use --fresh to start ${run} over, or another --run`;
  if (state.config.res !== o.res) throw new GanError(`run ${run} was trained at --res ${state.config.res}, not ${o.res}: ${redo}`);
  if (state.fingerprint !== ds.fingerprint) throw new GanError(`run ${run} was trained on other data (${state.data}): ${redo}`);
  const c: TrainConfig = { ...loadConfig(o.res), ...state.config }; // keys newer than the checkpoint: defaults
  for (const [k, v] of Object.entries(o.overrides ?? {}) as [keyof TrainConfig, unknown][]) {
    if (v === undefined || v === c[k]) continue;
    if (!SCHEDULE_KEYS.includes(k)) throw new GanError(`run ${run} has ${k} ${c[k]}, not ${v}: ${redo}`);
    Object.assign(c, { [k]: v });
  }
  return c;
}

const CSV_HEADER = 'step,epoch,d_loss,g_loss,d_real,d_fake,img_per_s';
const EVAL_HEADER = 'step,face_share,frechet,frechet_floor';
/** Faces judged by --eval-every (gan eval's default is 1000: figures are comparable only at the same n). */
export const EVAL_EVERY_N = 200;

/** Keeps the rows of steps up to `step` (those after the checkpoint will be trained again). */
function trimCsv(file: string, header: string, step: number): void {
  if (!fs.existsSync(file)) return writeFileAtomic(file, header + '\n');
  const rows = fs.readFileSync(file, 'utf8').trim().split('\n').slice(1).filter((r) => Number(r.split(',')[0]) <= step);
  writeFileAtomic(file, [header, ...rows].join('\n') + '\n');
}

export async function train(o: TrainOptions): Promise<TrainResult> {
  const ds = await openDataset(o.data, o.res, { crop: o.crop ?? 'center', quiet: o.quiet, signal: o.signal });
  const run = o.run ?? `${ds.name}-${o.res}`;
  if (!/^[\w.-]+$/.test(run)) throw new GanError(`--run must be letters, digits, '.', '_' or '-' (got "${run}")`);
  const runDir = path.join(o.checkpointsDir ?? 'checkpoints', run);
  if (o.fresh) fs.rmSync(runDir, { recursive: true, force: true });
  removeLeftovers(runDir);
  const latest = listCheckpoints(runDir).at(-1);
  const state = latest ? readState(latest.dir) : undefined;
  const c = state ? resumeConfig(state, ds, o, run) : loadConfig(o.res, o.overrides);
  const order = new BatchOrder(ds.count, c.batch, c.seed);
  const totalSteps = c.epochs * order.stepsPerEpoch;
  const threadCount = o.threads ?? defaultThreads(tf.getBackend());
  checkThreads(threadCount, c.batch, tf.getBackend()); // before anything is written

  const gan = latest ? await restoreGan(c, latest.dir) : createGan(c);
  let step = latest ? state!.step : 0;
  fs.mkdirSync(path.join(runDir, 'previews'), { recursive: true });
  writeFileAtomic(path.join(runDir, 'config.json'), JSON.stringify({ ...c, data: ds.name, fingerprint: ds.fingerprint }, null, 1));
  const csv = path.join(runDir, 'losses.csv');
  const evalCsv = path.join(runDir, 'evals.csv');
  trimCsv(csv, CSV_HEADER, step);
  if (c.evalEvery) trimCsv(evalCsv, EVAL_HEADER, step);
  const log: Logger = fileLogger(path.join(runDir, 'train.log'));
  const resumedFrom = step;
  const tell = (line: string) => {
    log.info({ event: 'status' }, line);
    if (!o.quiet) say(line);
  };
  tell(latest
    ? `resuming ${run} at step ${step} of ${totalSteps} (epoch ${order.epochOf(step) + 1} of ${c.epochs})`
    : `training ${run}: ${ds.count} images at ${c.res}px, batch ${c.batch}, ${totalSteps} steps (${c.epochs} epochs), run folder ${runDir}`);

  const checkpoint = async (losses?: { d: number; g: number }) => {
    const dir = await saveCheckpoint(runDir, {
      G: gan.G,
      D: gan.D,
      ema: gan.ema && sampler(gan), // with its standing statistics: the saved model samples right on its own
      optimizerState: () => ({ tG: gan.optG.t, tD: gan.optD.t, tensors: { ...gan.optG.state('g'), ...gan.optD.state('d') } }),
    }, { step, epoch: Math.floor(step / order.stepsPerEpoch), config: c, data: ds.name, dataDir: ds.dir, fingerprint: ds.fingerprint, time: new Date().toISOString(), losses }, c.keepCheckpoints);
    await plotLosses(csv, path.join(runDir, 'losses.png'), c.evalEvery ? evalCsv : undefined);
    log.info({ event: 'checkpoint', step, dir });
  };
  const preview = async () => {
    const pixels = await sampleSeeds(sampler(gan), PREVIEW_SEEDS);
    const img = grid(pixels, PREVIEW_SEEDS.length, c.res, 8);
    const scale = Math.max(1, Math.floor(128 / c.res)); // small faces are enlarged for viewing
    await writePng(path.join(runDir, 'previews', `step-${String(step).padStart(8, '0')}.png`), img, scale);
    await writePng(path.join(runDir, 'previews', 'latest.png'), img, scale);
  };
  if (!latest) await preview(); // what the untrained generator makes: step 0
  const evaluate = async () => {
    const q = await scoreGenerator(sampler(gan), ds, EVAL_EVERY_N);
    log.info({ event: 'eval', step, ...q });
    fs.appendFileSync(evalCsv, `${step},${q.face_share},${q.frechet},${q.frechet_floor}\n`);
  };

  const threads = await startThreads(threadCount, { backend: tf.getBackend(), config: c, checkpoint: latest?.dir }, gradientSize(gan));
  if (threads) tell(`training on ${threads.count} threads, ${c.batch / threads.count} images of each batch per thread`);
  const stopAt = Math.min(totalSteps, o.maxSteps === undefined ? Infinity : step + o.maxSteps);
  const bar = o.quiet ? undefined : progress('train', totalSteps, { tty: o.tty });
  let last: { d: number; g: number } | undefined;
  let imgPerS = 0;
  let stopped = false;
  try {
    while (step < stopAt) {
      if (o.signal?.aborted) {
        stopped = true;
        break;
      }
      const t0 = performance.now();
      const inputs = stepInputs(ds, order, c, step);
      const [dLoss, gLoss, dReal, dFake] = trainOn(gan, threads ? threads.share(inputs) : inputs, c, threads?.allReduce);
      updateEma(gan, c.ema, step);
      if (![dLoss, gLoss].every(Number.isFinite)) {
        log.error({ event: 'nan', step, dLoss, gLoss });
        const kept = listCheckpoints(runDir).at(-1);
        throw new GanError(`the loss became ${Number.isNaN(dLoss + gLoss) ? 'NaN' : 'infinite'} at step ${step + 1}: training stopped; ` +
          (kept ? `the last good checkpoint (step ${kept.step}) is kept` : 'no checkpoint was written yet') + '. Try a lower --lr.', 3);
      }
      step++;
      const seconds = (performance.now() - t0) / 1000;
      imgPerS = imgPerS ? 0.9 * imgPerS + (0.1 * c.batch) / seconds : c.batch / seconds;
      last = { d: dLoss, g: gLoss };
      const epoch = order.epochOf(step - 1) + 1;
      log.info({ step, epoch, d_loss: dLoss, g_loss: gLoss, d_real: dReal, d_fake: dFake, img_per_s: imgPerS });
      fs.appendFileSync(csv, `${step},${epoch},${dLoss},${gLoss},${dReal},${dFake},${imgPerS.toFixed(2)}\n`);
      bar?.update(step, { epoch: `${epoch}/${c.epochs}`, D: dLoss.toFixed(3), G: gLoss.toFixed(3), 'D(x)': dReal.toFixed(2),
        'D(G(z))': dFake.toFixed(2), 'img/s': imgPerS.toFixed(1) });
      if (step % c.previewEvery === 0) await preview();
      if (c.evalEvery && step % c.evalEvery === 0) await evaluate();
      if (step % c.checkpointEvery === 0) await checkpoint(last);
      await new Promise(setImmediate); // let Ctrl-C and other events in between steps
    }
  } finally {
    bar?.stop();
    await threads?.close();
  }
  if (step > resumedFrom || !latest) {
    if (step % c.previewEvery !== 0) await preview();
    await checkpoint(last);
  }
  tell(stopped
    ? `stopped at step ${step}; checkpoint written. Run the same command again to resume.`
    : step >= totalSteps ? `done: ${step} steps; previews in ${path.join(runDir, 'previews')}` : `paused at step ${step} of ${totalSteps}`);
  log.flush();
  return { runDir, step, totalSteps, resumedFrom, stopped, gan };
}
