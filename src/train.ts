// `gan train`: the bookkeeping around the training step (src/step.ts): the run folder, resuming, the
// step's inputs, threads, logs (train.log, losses.csv, TensorBoard's events), previews, evaluation and
// checkpoints, and stopping on a signal.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { writeFileAtomic } from './atomic.js';
import { drawAugment } from './augment.js';
import { listCheckpoints, readBest, readState, removeLeftovers, saveCheckpoint, scanCheckpoints, setAside, writeBest, type Checkpoint } from './checkpoint.js';
import { CollapseWatch, diversity } from './collapse.js';
import { checkConfig, checkRes, loadConfig, type TrainConfig } from './config.js';
import type { CropMode } from './data/cache.js';
import { BatchOrder, openDataset, toFloatBatch, type Dataset } from './data/dataset.js';
import { GanError } from './errors.js';
import { scoreGenerator } from './eval.js';
import { createGan, gradientSize, restoreGan, sampler, updateEma, type Gan } from './gan.js';
import { encodeImage, grid } from './images.js';
import { acquireLock, LOCK_FILE, type Lock } from './lock.js';
import { fileLogger, say, type Logger } from './log.js';
import { checkThreads, defaultThreads, startThreads, trainOn, type StepInputs, type StepStats, type Threads } from './parallel.js';
import { plotLosses } from './plot.js';
import { progress } from './progress.js';
import { Rng } from './rng.js';
import { RUN_NAME } from './runs.js';
import { PREVIEW_SEEDS, sampleSeeds } from './sample.js';
import { openEvents } from './tensorboard.js';

export interface TrainOptions {
  data?: string; // cache or image folder; built-in faces when absent
  res: number;
  crop?: CropMode; // for a raw image folder
  run?: string;
  fresh?: boolean;
  overrides?: Partial<TrainConfig>;
  checkpointsDir?: string;
  /** Replicas training in parallel, one per thread (default: every core with images to train on, on wasm and cpu). */
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

/** The data, the run folder (new or resumed, locked while this process trains in it), then the training. */
export async function train(o: TrainOptions): Promise<TrainResult> {
  checkRes(o.res);
  const ds = await openDataset(o.data, o.res, { crop: o.crop ?? 'center', quiet: o.quiet, signal: o.signal });
  try {
    const run = openRun(o, ds);
    try {
      return await trainRun(run, ds, o);
    } finally {
      run.lock.release();
    }
  } finally {
    ds.close();
  }
}

/** Steps until the run is done, stopped or paused, with its previews, evaluations and checkpoints. */
async function trainRun(run: Run, ds: Dataset, o: TrainOptions): Promise<TrainResult> {
  const { c, order, totalSteps } = run;
  const gan = run.latest ? await restoreGan(c, run.latest.dir) : createGan(c);
  const stopAt = Math.min(totalSteps, o.maxSteps === undefined ? Infinity : run.step + o.maxSteps);
  let [step, stopped] = [run.step, false];
  let out: Outputs | undefined;
  let threads: Threads | undefined;
  try {
    out = outputs(run, gan, ds, o);
    if (!run.latest) await out.preview(0); // what the untrained generator makes: step 0
    threads = await startThreads(run.threads, { backend: tf.getBackend(), config: c, checkpoint: run.latest?.dir }, gradientSize(gan));
    if (threads) {
      const least = Math.floor(c.batch / threads.count), most = Math.ceil(c.batch / threads.count);
      run.tell(`training on ${threads.count} threads, ${least === most ? least : `${least}-${most}`} images of each batch per thread`);
    }
    while (step < stopAt && !(stopped = o.signal?.aborted === true)) {
      const t0 = performance.now();
      const inputs = stepInputs(ds, order, c, step);
      const stats = await trainOn(gan, threads ? threads.share(inputs) : inputs, threads?.across);
      updateEma(gan, c.ema, step);
      if (!stats.slice(0, 2).every(Number.isFinite)) throw lossFailed(run, step, stats);
      step++;
      out.record(step, stats, (performance.now() - t0) / 1000);
      if (step % c.previewEvery === 0) await out.preview(step);
      if (c.evalEvery && step % c.evalEvery === 0) await out.evaluate(step);
      if (step % c.checkpointEvery === 0) await out.checkpoint(step);
      await new Promise(setImmediate); // let Ctrl-C and other events in between steps
    }
    if (step > run.step || !run.latest) {
      if (step % c.previewEvery !== 0) await out.preview(step);
      await out.checkpoint(step);
    }
  } catch (e) {
    throw diskFull(e, run, step) ?? e;
  } finally {
    out?.close();
    await threads?.close();
  }
  run.tell(stopped
    ? `stopped at step ${step}; checkpoint written. Run the same command again to resume.`
    : step >= totalSteps ? `done: ${step} steps; previews in ${path.join(run.dir, 'previews')}` : `paused at step ${step} of ${totalSteps}`);
  run.log.flush();
  return { runDir: run.dir, step, totalSteps, resumedFrom: run.step, stopped, gan };
}

/** The random draws of one step, a pure function of (seed, step): the real batch, both latent batches, and
 * the augmentation of each batch D judges. */
export function stepInputs(ds: Dataset, order: BatchOrder, c: TrainConfig, step: number): StepInputs {
  const z = (which: string) => new Rng(c.seed, which, step).normals(c.batch * c.latent);
  const aug = (which: string) => drawAugment(new Rng(c.seed, 'augment', which, step), c.batch, c.res);
  return {
    real: toFloatBatch(ds, order.indices(step)),
    zD: z('zD'),
    zG: z('zG'),
    ...(c.augment && { aug: { real: aug('real'), fake: aug('fake'), gen: aug('gen') } }),
    size: c.batch,
  };
}

interface Run {
  name: string;
  dir: string;
  c: TrainConfig;
  order: BatchOrder;
  totalSteps: number;
  threads: number;
  step: number; // where this call starts
  latest?: Checkpoint; // the checkpoint it resumes from
  log: Logger;
  tell(line: string): void; // to the log and the terminal
  lock: Lock; // on the run folder, released when training ends
}

/** A default run name from the data's folder name ("My Photos" -> "My-Photos"). */
export function runNameFrom(data: string, res: number): string {
  return `${data.replace(/[^\w.-]+/g, '-').replace(/^[.-]+/, '').slice(0, 90) || 'data'}-${res}`;
}

/** The run folder, made or resumed: its config (checked before anything is written) and its log. */
function openRun(o: TrainOptions, ds: Dataset): Run {
  const name = o.run ?? runNameFrom(ds.name, o.res);
  if (!RUN_NAME.test(name)) throw new GanError(`\`run\` must be a plain name of letters, digits, '_', '.' and '-', not starting with '.' or '-' (got "${name}")`);
  const dir = path.join(o.checkpointsDir ?? 'checkpoints', name);
  const lock = acquireLock(dir, 'gan train'); // one process trains in a run folder at a time
  try {
    return openLocked(o, ds, name, dir, lock);
  } catch (e) {
    lock.release();
    throw e;
  }
}

function openLocked(o: TrainOptions, ds: Dataset, name: string, dir: string, lock: Lock): Run {
  if (o.fresh) for (const f of fs.readdirSync(dir)) if (f !== LOCK_FILE) fs.rmSync(path.join(dir, f), { recursive: true, force: true });
  removeLeftovers(dir);
  const { whole, damaged } = scanCheckpoints(dir);
  const latest = whole.at(-1);
  if (!latest && damaged.length) {
    const d = damaged.at(-1)!;
    throw new GanError(`run ${name} has no whole checkpoint: ${path.basename(d.dir)} is unreadable (${d.why}); use \`fresh\` to start it over, or another \`run\``);
  }
  const notes: string[] = [];
  for (const d of damaged.filter((d) => d.step > latest!.step)) { // newer than the newest whole one: its step will be trained again
    notes.push(`checkpoint ${path.basename(d.dir)} is damaged (${d.why}): moved aside to ${path.basename(setAside(d))}; resuming from ${path.basename(latest!.dir)}, the newest whole one`);
  }
  const state = latest && readState(latest.dir);
  const c = state ? resumeConfig(state.config, state.fingerprint, state.data, ds, o, name) : loadConfig(o.res, o.overrides);
  const threads = o.threads ?? defaultThreads(tf.getBackend(), c.batch);
  checkThreads(threads, c.batch, tf.getBackend());
  const order = new BatchOrder(ds.count, c.batch, c.seed);
  const totalSteps = c.epochs * order.stepsPerEpoch;

  fs.mkdirSync(path.join(dir, 'previews'), { recursive: true });
  const log = fileLogger(path.join(dir, 'train.log'));
  const tell = (line: string) => {
    log.info({ event: 'status' }, line);
    if (!o.quiet) say(line);
  };
  const step = state?.step ?? 0;
  notes.forEach(tell);
  tell(latest
    ? `resuming ${name} at step ${step} of ${totalSteps} (epoch ${order.epochOf(step) + 1} of ${c.epochs})`
    : `training ${name}: ${ds.count} images at ${c.res}px, batch ${c.batch}, ${totalSteps} steps (${c.epochs} epochs), run folder ${dir}`);
  return { name, dir, c, order, totalSteps, threads, step, latest, log, tell, lock };
}

// Config keys a resumed run may change (the learning rates too: the way on after a loss that became NaN); the
// others shape the model, the loss, the data order or the optimizer's state.
const SCHEDULE_KEYS: (keyof TrainConfig)[] = ['epochs', 'previewEvery', 'checkpointEvery', 'keepCheckpoints', 'evalEvery', 'lrG', 'lrD'];

/** Refuses to resume on other data, resolution or model; takes the run's config plus schedule overrides. */
function resumeConfig(saved: TrainConfig, fingerprint: string, data: string, ds: Dataset, o: TrainOptions, run: string): TrainConfig {
  const redo = `use \`fresh\` to start ${run} over, or another \`run\``;
  if (saved.res !== o.res) throw new GanError(`run ${run} was trained at \`res\` ${saved.res}, not ${o.res}: ${redo}`);
  if (fingerprint !== ds.fingerprint) throw new GanError(`run ${run} was trained on other data (${data}): ${redo}`);
  const c = { ...saved };
  for (const [k, v] of Object.entries(o.overrides ?? {}) as [keyof TrainConfig, unknown][]) {
    if (v === undefined || v === c[k]) continue;
    if (!SCHEDULE_KEYS.includes(k)) throw new GanError(`run ${run} has \`${k}\` ${c[k]}, not ${v}: ${redo}`);
    Object.assign(c, { [k]: v });
  }
  return checkConfig(c);
}

/** A full disk (or quota) while training, as one line that says what is kept (nothing more is written: the log is on that disk). */
function diskFull(e: unknown, run: Run, step: number): GanError | undefined {
  const code = (e as NodeJS.ErrnoException).code;
  if (code !== 'ENOSPC' && code !== 'EDQUOT' && !/ENOSPC|EDQUOT|no space left|short write|disk full/i.test((e as Error).message)) return undefined;
  const kept = listCheckpoints(run.dir).at(-1);
  return new GanError(`the disk is full (${(e as Error).message.split('\n')[0]}): training stopped at step ${step}; ` +
    (kept ? `the last whole checkpoint (step ${kept.step}) is kept, and the same command goes on from it once there is room` : 'no checkpoint was written yet'), 3);
}

function lossFailed(run: Run, step: number, [dLoss, gLoss]: StepStats): GanError {
  run.log.error({ event: 'nan', step, dLoss, gLoss });
  const kept = listCheckpoints(run.dir).at(-1);
  const lower = `\`lrG\` ${run.c.lrG / 2}`;
  return new GanError(`the loss became ${Number.isNaN(dLoss + gLoss) ? 'NaN' : 'infinite'} at step ${step + 1}: training stopped; ` +
    (kept ? `the last good checkpoint (step ${kept.step}) is kept: run the same command with a lower learning rate (${lower}) to go on from it, ` +
      'or start over with `fresh`' : `no checkpoint was written yet: start over with a lower learning rate (${lower})`), 3);
}

const CSV_HEADER = 'step,epoch,d_loss,g_loss,d_real,d_fake,img_per_s';
const EVAL_HEADER = 'step,face_share,frechet,frechet_floor';
/** Faces judged by evalEvery (gan eval's default is 1000: figures are comparable only at the same n). */
export const EVAL_EVERY_N = 200;

/** Keeps the rows of steps up to `step` (those after the checkpoint will be trained again). */
function trimCsv(file: string, header: string, step: number): void {
  if (!fs.existsSync(file)) return writeFileAtomic(file, header + '\n');
  const rows = fs.readFileSync(file, 'utf8').trim().split('\n').slice(1).filter((r) => Number(r.split(',')[0]) <= step);
  writeFileAtomic(file, [header, ...rows].join('\n') + '\n');
}

type Outputs = ReturnType<typeof outputs>;

/** What a run writes as it trains: its config, the log and losses.csv each step, previews, evaluations and checkpoints. */
function outputs(run: Run, gan: Gan, ds: Dataset, o: TrainOptions) {
  const { c, dir, order } = run;
  writeFileAtomic(path.join(dir, 'config.json'), JSON.stringify({ ...c, data: ds.name, fingerprint: ds.fingerprint }, null, 1));
  const csv = path.join(dir, 'losses.csv');
  const evalCsv = path.join(dir, 'evals.csv');
  trimCsv(csv, CSV_HEADER, run.step);
  if (c.evalEvery) trimCsv(evalCsv, EVAL_HEADER, run.step);
  const events = openEvents(dir, { resumedAt: run.latest && run.step });
  const bar = o.quiet ? undefined : progress('train', run.totalSteps, { tty: o.tty });
  const watch = new CollapseWatch();
  const warn = (line?: string) => line && run.tell(line);
  let best = readBest(dir);
  let imgPerS = 0;
  let losses: { d: number; g: number } | undefined;
  const out = {
    record(step: number, [dLoss, gLoss, dReal, dFake]: StepStats, seconds: number) {
      imgPerS = imgPerS ? 0.9 * imgPerS + (0.1 * c.batch) / seconds : c.batch / seconds;
      losses = { d: dLoss, g: gLoss };
      const epoch = order.epochOf(step - 1) + 1;
      run.log.info({ step, epoch, d_loss: dLoss, g_loss: gLoss, d_real: dReal, d_fake: dFake, img_per_s: imgPerS });
      fs.appendFileSync(csv, `${step},${epoch},${dLoss},${gLoss},${dReal},${dFake},${imgPerS.toFixed(2)}\n`);
      events.scalars(step, { 'loss/D': dLoss, 'loss/G': gLoss, 'D/real D(x)': dReal, 'D/fake D(G(z))': dFake, 'speed/img_per_s': imgPerS });
      bar?.update(step, { epoch: `${epoch}/${c.epochs}`, D: dLoss.toFixed(3), G: gLoss.toFixed(3), 'D(x)': dReal.toFixed(2),
        'D(G(z))': dFake.toFixed(2), 'img/s': imgPerS.toFixed(1) });
      warn(watch.step(step, dFake));
    },
    async preview(step: number) {
      const pixels = await sampleSeeds(sampler(gan), PREVIEW_SEEDS);
      const img = grid(pixels, PREVIEW_SEEDS.length, c.res, 8);
      const png = await encodeImage(img, '.png', Math.max(1, Math.floor(128 / c.res))); // small faces enlarged for viewing
      for (const name of [previewName(step), 'latest.png']) writeFileAtomic(path.join(dir, 'previews', name), png);
      prunePreviews(path.join(dir, 'previews'), c.previewEvery);
      const alike = diversity(pixels, PREVIEW_SEEDS.length);
      events.image(step, 'previews', png);
      events.scalars(step, { 'samples/diversity': alike });
      warn(watch.preview(step, alike));
    },
    async evaluate(step: number) {
      const q = await scoreGenerator(sampler(gan), ds, EVAL_EVERY_N);
      run.log.info({ event: 'eval', step, ...q });
      fs.appendFileSync(evalCsv, `${step},${q.face_share},${q.frechet},${q.frechet_floor}\n`);
      events.scalars(step, { 'eval/face_share': q.face_share, 'eval/frechet': q.frechet, 'eval/frechet_floor': q.frechet_floor });
      if (best && best.frechet <= q.frechet) return;
      best = { step, frechet: q.frechet };
      await out.checkpoint(step); // kept as `best` besides the newest ones
      writeBest(dir, best);
    },
    async checkpoint(step: number) {
      const saved = await saveCheckpoint(dir, {
        G: gan.G,
        D: gan.D,
        ema: gan.ema && sampler(gan), // with its standing statistics: the saved model samples right on its own
        optimizerState: () => ({ tG: gan.optG.t, tD: gan.optD.t, tensors: { ...gan.optG.state('g'), ...gan.optD.state('d') } }),
      }, { step, epoch: Math.floor(step / order.stepsPerEpoch), config: c, data: ds.name, dataDir: ds.dir, fingerprint: ds.fingerprint,
        time: new Date().toISOString(), losses }, c.keepCheckpoints, best?.step);
      await plotLosses(csv, path.join(dir, 'losses.png'), c.evalEvery ? evalCsv : undefined);
      run.log.info({ event: 'checkpoint', step, dir: saved });
    },
    close() {
      bar?.stop();
      events.close();
    },
  };
  return out;
}

const previewName = (step: number) => `step-${String(step).padStart(8, '0')}.png`;
const PREVIEWS_KEPT = 10; // the newest, and every tenth preview interval since the start

/** Keeps the newest previews and one in ten of the rest (a long run would write thousands of grids). */
function prunePreviews(folder: string, every: number): void {
  const steps = fs.readdirSync(folder).map((f) => /^step-(\d+)\.png$/.exec(f)).filter((m) => m !== null).map((m) => Number(m[1])).sort((a, b) => a - b);
  for (const step of steps.slice(0, -PREVIEWS_KEPT)) {
    if (step % (every * PREVIEWS_KEPT) !== 0) fs.rmSync(path.join(folder, previewName(step)), { force: true });
  }
}
