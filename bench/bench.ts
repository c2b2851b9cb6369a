// `npm run bench`: how fast gan trains and preprocesses here, beside the peers (PyTorch, PIL) in the same run.
// Prints one JSON line per measure. A benchmark, not a test: it is not part of npm test.
//   npm run bench -- [--res 32,64] [--batch 64[,256]] [--iters N] [--threads N] [--backend NAME] [--profile] [--soak N] [--skip-peers] [--only preprocess|train]
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { parseArgs } from 'node:util';
import { initBackend, releaseBackend } from '../src/backend.js';
import { loadConfig } from '../src/config.js';
import { BatchOrder, type Dataset } from '../src/data/dataset.js';
import { preprocess } from '../src/data/preprocess.js';
import { imagesInMemory } from '../src/data/source.js';
import { defaultThreads, startThreads, trainOn } from '../src/parallel.js';
import { createGan, disposeGan, gradientSize } from '../src/gan.js';
import { stepInputs } from '../src/train.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SHARED = process.env.GAN_SHARED ?? path.resolve(ROOT, '../shared');
const PYTHON = '/usr/bin/python3';

const { values: args } = parseArgs({
  options: {
    res: { type: 'string', default: '32,64' },
    batch: { type: 'string' }, // default 64, and 256 too on a GPU backend
    iters: { type: 'string' },
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

/** The real model and the real training step, timed after two warm-up iterations. */
async function trainSpeed(res: number, batch: number, threadCount: number, iters: number, soak = 0) {
  const c = loadConfig(res, { batch });
  const ds = randomDataset(res, 256);
  const order = new BatchOrder(ds.count, c.batch, c.seed);
  const gan = createGan(c);
  const threads = await startThreads(threadCount, { backend: tf.getBackend(), config: c }, gradientSize(gan));
  const step = (s: number) => {
    const inputs = stepInputs(ds, order, c, s);
    return trainOn(gan, threads ? threads.share(inputs) : inputs, threads?.across);
  };
  try {
    for (let s = 0; s < 2; s++) await step(s);
    if (args.profile) {
      const p = await tf.profile(() => step(2));
      const byKernel = new Map<string, number>();
      for (const k of p.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + (k.kernelTimeMs as number));
      const total = [...byKernel.values()].reduce((a, b) => a + b, 0);
      const top = [...byKernel.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15)
        .map(([name, ms]) => ({ kernel: name, ms: Math.round(ms), share: +(ms / total).toFixed(3) }));
      print({ measure: 'profile', res, threads: threadCount, note: 'main thread only', kernel_ms: Math.round(total), top });
    }
    const t0 = performance.now();
    for (let s = 0; s < iters; s++) await step(3 + s);
    const seconds = (performance.now() - t0) / 1000;
    const result = { img_per_s: +((c.batch * iters) / seconds).toFixed(2), rss_mb: rssMb() };
    if (soak) {
      const rss = [rssMb()];
      const tensors = tf.memory().numTensors;
      for (let s = 1; s <= soak; s++) {
        await step(2 + iters + s);
        if (s % 50 === 0) rss.push(rssMb());
      }
      print({ measure: 'soak', res, iterations: soak, rss_mb_every_50: rss, tensors_before: tensors, tensors_after: tf.memory().numTensors });
    }
    return result;
  } finally {
    await threads?.close();
    disposeGan(gan);
  }
}

function peer(script: string, argv: string[], env: Record<string, string> = {}): Record<string, unknown> | undefined {
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
      const p = peer('preprocess_pil.py', [faces, '64', path.join(out, 'faces64.npy'), 'celeba']);
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

  const ours: Record<string, number> = {};
  for (const res of args.res!.split(',').map(Number)) {
    const iters = Number(args.iters ?? (res <= 32 ? 10 : 5));
    for (const batch of batches) {
      const r = await trainSpeed(res, batch, threads, iters, res === 64 && batch === BATCH && args.soak ? Number(args.soak) : 0);
      if (batch === BATCH) ours[res] = r.img_per_s;
      print({ measure: 'train', backend: backend.name, ...device, threads, res, batch, iters, [`img_per_s_${res}`]: r.img_per_s, [`rss_mb_${res}`]: r.rss_mb });
    }
  }

  const peersDir = path.join(SHARED, 'peers');
  if (args['skip-peers'] || !fs.existsSync(PYTHON) || !fs.existsSync(peersDir) || !hasTorch()) {
    print({ measure: 'peer', skipped: `PyTorch peer not run (needs ${PYTHON} with torch and ${peersDir}; apt-get install -y python3-torch libopenblas0-pthread)` });
  } else {
    for (const res of Object.keys(ours).map(Number)) {
      const iters = String(res <= 32 ? 10 : 5);
      // PyTorch at its best here: OpenBLAS single-threaded inside, torch's own 2 threads (the peers' README)
      const best = peer('dcgan_torch.py', ['bench', '--res', String(res), '--batch', String(BATCH), '--iters', iters, '--threads', String(os.cpus().length)],
        { OPENBLAS_NUM_THREADS: '1' });
      const plain = peer('dcgan_torch.py', ['bench', '--res', String(res), '--batch', String(BATCH), '--iters', iters]);
      for (const [variant, p] of [['tuned', best], ['defaults', plain]] as const) {
        if (!p) continue;
        print({ measure: 'peer', variant, ...p, [`ratio_${res}`]: +(ours[res] / (p.img_per_s as number)).toFixed(3) });
      }
    }
  }
}

await main();
releaseBackend();
