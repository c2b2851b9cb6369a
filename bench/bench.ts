// `npm run bench`: how fast gan trains and preprocesses here, beside the peers (PyTorch, PIL) in the same run.
// Prints one JSON line per measure. A benchmark, not a test: it is not part of npm test.
//   npm run bench -- [--res 32,64,128] [--batch 64[,256]] [--iters N] [--runs N] [--threads N] [--backend NAME] [--profile] [--soak N]
//                    [--gan-train STEPS] [--skip-peers] [--only preprocess|train]
// Training: each run times our bare loop on N threads and on one (threads_scaling), then the PyTorch peer
// tuned and with its defaults, back to back; ratios are medians over the runs (3, one at res 128) of ratios
// within a run, at the first batch (other batches, 256 by default on a GPU backend, are timed once). Then `gan
// train` itself at res 64 beside the bare loop at its batch.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { parseArgs } from 'node:util';
import { initBackend, releaseBackend } from '../src/backend.js';
import { loadConfig } from '../src/config.js';
import { BatchOrder, openDataset, type Dataset } from '../src/data/dataset.js';
import { preprocess } from '../src/data/preprocess.js';
import { imagesInMemory } from '../src/data/source.js';
import { defaultThreads, startThreads, trainOn } from '../src/parallel.js';
import { createGan, disposeGan, gradientSize } from '../src/gan.js';
import { useWinograd } from '../src/kernels/conv.js';
import type { BackendWasm } from '../src/kernels/wasm.js';
import { stepInputs, train } from '../src/train.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SHARED = process.env.GAN_SHARED ?? path.resolve(ROOT, '../shared');
const PYTHON = '/usr/bin/python3';

const { values: args } = parseArgs({
  options: {
    res: { type: 'string', default: '32,64,128' },
    batch: { type: 'string' }, // default 64, and 256 too on a GPU backend
    iters: { type: 'string' },
    runs: { type: 'string' }, // default 3, 1 at res 128 (a run takes minutes there)
    'gan-train': { type: 'string', default: '200' }, // steps of `gan train` at res 64 (0: not timed)
    threads: { type: 'string' },
    backend: { type: 'string' },
    profile: { type: 'boolean', default: false },
    soak: { type: 'string' },
    'skip-peers': { type: 'boolean', default: false },
    only: { type: 'string' }, // preprocess or train
  },
});

if (args.only !== undefined && !['preprocess', 'train'].includes(args.only)) throw new Error(`--only preprocess or --only train (got ${args.only})`);
const print = (o: Record<string, unknown>) => console.log(JSON.stringify(o));
const rssMb = () => Math.round(process.memoryUsage().rss / 2 ** 20);

/** Random pixels: the compute of a step does not depend on them. */
function randomDataset(res: number, count: number): Dataset {
  const pixels = new Uint8Array(count * res * res * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 2654435761) >>> 24;
  return { ...imagesInMemory(res, pixels), name: 'random', dir: '', fingerprint: 'random' };
}

/** The real model and the real training step on random pixels (a step's compute does not depend on them). */
async function trainer(res: number, threadCount: number, batch: number) {
  const c = loadConfig(res, { batch });
  const ds = randomDataset(res, 256);
  const order = new BatchOrder(ds.count, c.batch, c.seed);
  const gan = createGan(c);
  const threads = await startThreads(threadCount, { backend: tf.getBackend(), config: c }, gradientSize(gan));
  let s = 0;
  return {
    step() {
      const inputs = stepInputs(ds, order, c, s++);
      return trainOn(gan, threads ? threads.share(inputs) : inputs, threads?.across);
    },
    async close() {
      await threads?.close();
      disposeGan(gan);
    },
  };
}

/** img/s of the bare training loop, timed after two warm-up steps. */
async function trainSpeed(res: number, batch: number, threadCount: number, iters: number): Promise<number> {
  const t = await trainer(res, threadCount, batch);
  try {
    for (let i = 0; i < 2; i++) await t.step();
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) await t.step();
    return (batch * iters) / ((performance.now() - t0) / 1000);
  } finally {
    await t.close();
  }
}

/**
 * Kernel times of one step on the main thread (tf.profile), the convolutions by shape; on wasm also with the
 * direct convolution kernels instead of Winograd's, to show what those pay.
 */
async function profile(res: number, batch: number, threadCount: number) {
  const t = await trainer(res, threadCount, batch);
  const wasm = tf.getBackend() === 'wasm' ? tf.backend() as BackendWasm : undefined;
  try {
    for (let i = 0; i < 2; i++) await t.step();
    for (const winograd of wasm ? [true, false] : [undefined]) {
      if (wasm) useWinograd(wasm, winograd!);
      const p = await tf.profile(() => t.step());
      const byKernel = new Map<string, number>();
      for (const k of p.kernels) {
        if (!tf.getKernel(k.name, tf.getBackend())) continue; // a custom op's scope: its kernels count on their own
        const key = k.name.startsWith('Conv2D') ? `${k.name} ${k.inputShapes.map((s) => s?.join('x')).join(' ')}` : k.name;
        byKernel.set(key, (byKernel.get(key) ?? 0) + (k.kernelTimeMs as number));
      }
      const total = [...byKernel.values()].reduce((a, b) => a + b, 0);
      const top = [...byKernel.entries()].sort((a, b) => b[1] - a[1]).slice(0, 20)
        .map(([name, ms]) => ({ kernel: name, ms: Math.round(ms), share: +(ms / total).toFixed(3) }));
      print({ measure: 'profile', res, threads: threadCount, ...(wasm && { winograd }), note: 'main thread only', kernel_ms: Math.round(total), top });
    }
  } finally {
    if (wasm) useWinograd(wasm, true);
    await t.close();
  }
}

/** RSS and the tensor count over `iterations` steps (printed every 50). */
async function soak(res: number, batch: number, threadCount: number, iterations: number) {
  const t = await trainer(res, threadCount, batch);
  try {
    for (let i = 0; i < 2; i++) await t.step();
    const rss = [rssMb()];
    const tensors = tf.memory().numTensors;
    for (let i = 1; i <= iterations; i++) {
      await t.step();
      if (i % 50 === 0) rss.push(rssMb());
    }
    print({ measure: 'soak', res, threads: threadCount, iterations, rss_mb_every_50: rss, tensors_before: tensors, tensors_after: tf.memory().numTensors });
  } finally {
    await t.close();
  }
}

/**
 * `gan train` itself with its defaults at `res` (moving average, previews, checkpoints; the built-in faces,
 * rendered beforehand, in a temporary folder) for `steps` steps, beside the bare loop at its batch (timed
 * before and after it, averaged).
 */
async function ganTrainSpeed(res: number, steps: number, threadCount: number) {
  const { batch } = loadConfig(res);
  const iters = Math.max(5, Math.round(steps / 10));
  const before = await trainSpeed(res, batch, threadCount, iters);
  const [cwd, dir] = [process.cwd(), fs.mkdtempSync(path.join(os.tmpdir(), 'gan-bench-train-'))];
  process.chdir(dir);
  try {
    (await openDataset(undefined, res, { crop: 'center', quiet: true })).close();
    const t0 = performance.now();
    const r = await train({ res, maxSteps: steps, threads: threadCount, quiet: true });
    const seconds = (performance.now() - t0) / 1000;
    disposeGan(r.gan);
    const bare = (before + await trainSpeed(res, batch, threadCount, iters)) / 2;
    const ganTrain = (batch * steps) / seconds;
    print({ measure: 'gan_train', res, batch, steps, threads: threadCount, img_per_s: +ganTrain.toFixed(2), bare_img_per_s: +bare.toFixed(2),
      ratio_to_bare: +(ganTrain / bare).toFixed(3) });
  } finally {
    process.chdir(cwd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const round = (x: number) => +x.toFixed(3);

function peerRun(script: string, argv: string[], env: Record<string, string> = {}): Record<string, unknown> | undefined {
  const r = spawnSync(PYTHON, [path.join(SHARED, 'peers', script), ...argv], { encoding: 'utf8', env: { ...process.env, ...env } });
  if (r.status !== 0) {
    print({ measure: 'peer', script, error: (r.stderr || r.stdout).trim().split('\n').at(-1) });
    return undefined;
  }
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}

/** `gan preprocess` on CelebA-9k at res 64 into a fresh cache, then the PIL peer on the same files. */
async function preprocessSpeed() {
  const faces = path.join(SHARED, 'datasets', 'celeba-9k');
  if (!fs.existsSync(faces)) {
    print({ measure: 'preprocess', skipped: `${faces} not found` });
    return;
  }
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'gan-bench-'));
  try {
    const r = await preprocess(faces, { res: 64, crop: 'celeba', out: path.join(out, 'cache'), quiet: true });
    const ourRate = +(r.cached / r.seconds).toFixed(1);
    print({ measure: 'preprocess', images: r.cached, seconds: +r.seconds.toFixed(2), img_per_s: ourRate });
    if (fs.existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import PIL, numpy'], { stdio: 'ignore' }).status === 0) {
      const p = peerRun('preprocess_pil.py', [faces, '64', path.join(out, 'faces64.npy'), 'celeba']);
      if (p) print({ measure: 'peer', ...p, ratio_preprocess: +(ourRate / (p.img_per_s as number)).toFixed(3) });
    } else {
      print({ measure: 'peer', skipped: 'PIL peer not run (needs python3-pil and python3-numpy)' });
    }
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

const hasTorch = () => spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;

async function main() {
  const backend = await initBackend(args.backend);
  const batches = (args.batch ?? (backend.on ? '64,256' : '64')).split(',').map(Number);
  const BATCH = batches[0]; // the peers' batch
  const threads = args.threads ? Number(args.threads) : defaultThreads(tf.getBackend(), BATCH);
  const machine = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version, load: os.loadavg().map((l) => +l.toFixed(2)) };
  // where the backend runs on a GPU: its name; on a software adapter (SwiftShader) the figures are CPU figures
  const device = backend.on ? { on: backend.on, ...(backend.software ? { software: true } : {}) } : {};
  print({ measure: 'setup', backend: backend.name, ...device, threads, ...machine });
  if (args.only !== 'train') await preprocessSpeed(); // first, in a process as fresh as a `gan preprocess`
  if (args.only === 'preprocess') return;

  const peersDir = path.join(SHARED, 'peers');
  const peers = !args['skip-peers'] && fs.existsSync(PYTHON) && fs.existsSync(peersDir) && hasTorch();
  if (!peers) print({ measure: 'peer', skipped: `PyTorch peer not run (needs ${PYTHON} with torch and ${peersDir}; apt-get install -y python3-torch libopenblas0-pthread)` });
  for (const res of args.res!.split(',').map(Number)) {
    const iters = Number(args.iters ?? (res <= 32 ? 10 : res <= 64 ? 5 : 3));
    const runs = Number(args.runs ?? (res <= 64 ? 3 : 1));
    if (args.profile) await profile(res, BATCH, threads);
    const rounds: { ours: number; one: number; peer: Record<string, Record<string, unknown> | undefined> }[] = [];
    for (let run = 1; run <= runs; run++) {
      const ours = await trainSpeed(res, BATCH, threads, iters);
      const one = threads > 1 ? await trainSpeed(res, BATCH, 1, iters) : ours;
      const peer: Record<string, Record<string, unknown> | undefined> = {};
      if (peers) {
        const argv = ['bench', '--res', String(res), '--batch', String(BATCH), '--iters', String(iters)];
        // PyTorch at its best here: OpenBLAS single-threaded inside, torch's own threads, one a core (the peers' README)
        peer.tuned = peerRun('dcgan_torch.py', [...argv, '--threads', String(os.cpus().length)], { OPENBLAS_NUM_THREADS: '1' });
        peer.defaults = peerRun('dcgan_torch.py', argv);
      }
      rounds.push({ ours, one, peer });
      print({ measure: 'train_run', res, run, img_per_s: round(ours), img_per_s_1_thread: round(one),
        ...Object.fromEntries(Object.entries(peer).map(([k, p]) => [`peer_${k}`, p?.img_per_s])) });
    }
    print({ measure: 'train', backend: backend.name, ...device, threads, res, batch: BATCH, iters, runs, [`img_per_s_${res}`]: round(median(rounds.map((r) => r.ours))),
      [`img_per_s_${res}_1_thread`]: round(median(rounds.map((r) => r.one))), threads_scaling: round(median(rounds.map((r) => r.ours / r.one))), [`rss_mb_${res}`]: rssMb() });
    for (const variant of peers ? ['tuned', 'defaults'] : []) {
      const ok = rounds.filter((r) => r.peer[variant]);
      if (!ok.length) continue;
      print({ measure: 'peer', variant, ...ok[0].peer[variant], img_per_s: round(median(ok.map((r) => r.peer[variant]!.img_per_s as number))),
        [`ratio_${res}`]: round(median(ok.map((r) => r.ours / (r.peer[variant]!.img_per_s as number)))) });
    }
    for (const batch of batches.slice(1)) {
      print({ measure: 'train', backend: backend.name, ...device, threads, res, batch, iters, [`img_per_s_${res}`]: round(await trainSpeed(res, batch, threads, iters)), [`rss_mb_${res}`]: rssMb() });
    }
  }
  if (args.soak) await soak(64, BATCH, threads, Number(args.soak));
  if (Number(args['gan-train'])) await ganTrainSpeed(64, Number(args['gan-train']), threads);
}

await main();
releaseBackend();
