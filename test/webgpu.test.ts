// The webgpu backend on SwiftShader: our kernels and the stock ones training uses against the cpu backend, a
// training step against wasm's, memory, determinism and resume, and checkpoints that cross backends.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { before, test, type TestContext } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { initBackend, releaseBackend } from '../src/backend.js';
import { saveCheckpoint } from '../src/checkpoint.js';
import { loadConfig, type TrainConfig } from '../src/config.js';
import { BatchOrder, type Dataset } from '../src/data/dataset.js';
import { renderFaces } from '../src/data/faces.js';
import { createGan, disposeGan, loadSampler, restoreGan, sampler, updateEma, type Gan } from '../src/gan.js';
import { sampleSeeds } from '../src/sample.js';
import { imagesInMemory } from '../src/data/source.js';
import { trainOn } from '../src/parallel.js';
import { stepInputs, train } from '../src/train.js';
import { tempDir } from './fixtures.js';
import { gan } from './helpers.js';
import { useSwiftShader } from './swiftshader.js';

let skip: string | undefined;

before(async () => {
  skip = await useSwiftShader();
  if (skip) return;
  await initBackend('wasm');
  await initBackend('webgpu');
});

/** Skips the test, saying why, where webgpu cannot run. */
const ready = (t: TestContext) => (skip ? (t.skip(skip), false) : true);

/** Runs `f` on `backend` and reads its results: tensors never move between backends (reading a GPU tensor
 * synchronously, as a move does, needs a canvas Node does not have). */
async function on(backend: string, f: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const out = tf.tidy(f);
  const list = Array.isArray(out) ? out : [out];
  const data = await Promise.all(list.map(async (t) => (await t.data()) as Float32Array));
  tf.dispose(list);
  return data;
}

/** The largest difference relative to the largest value of `want`. */
function relativeError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  assert.equal(got.length, want.length);
  let scale = 1e-6;
  let err = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i]));
    err = Math.max(err, Math.abs(want[i] - got[i]));
  }
  return err / scale;
}

async function sameAsCpu(f: () => tf.Tensor | tf.Tensor[], what: string, tolerance = 1e-5): Promise<number> {
  const [got, want] = [await on('webgpu', f), await on('cpu', f)];
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const e = relativeError(got[i], want[i]);
    assert.ok(e <= tolerance, `${what} [output ${i}]: relative error ${e}`);
    worst = Math.max(worst, e);
  }
  return worst;
}

type Pad = 'same' | 'valid' | number | [[0, 0], [number, number], [number, number], [0, 0]];

test('Conv2D and our Conv2DBackpropFilter and Conv2DBackpropInput on webgpu match the cpu backend', async (t) => {
  if (!ready(t)) return;
  const cases: { x: [number, number, number, number]; k: number; co: number; stride: number | [number, number]; pad: Pad }[] = [];
  let n = 0;
  for (const [h, w] of [[7, 7], [9, 13], [5, 6], [4, 4]]) {
    for (const stride of [1, 2, [2, 1], 3] as (number | [number, number])[]) {
      for (const pad of ['same', 'valid', ...(stride === 2 ? [1, [[0, 0], [2, 1], [0, 2], [0, 0]]] : [])] as Pad[]) {
        const k = [3, 4, 5, 1][n % 4];
        if (pad === 'valid' && (k > h || k > w)) continue;
        // narrow, middle and wide output tiles for both gradients (some shader compiles per shape: few 1s)
        cases.push({ x: [2 + (n % 2), h, w, [3, 17, 4, 6][n % 4]], k, co: [2, 5, 20, 33][n % 4], stride, pad });
        n++;
      }
    }
  }
  // long reductions over few filter weights: the filter gradient split over workgroups and summed; a 1×1 dy
  // from a filter as large as the input (G's first layer, D's logit): the dense product
  cases.push({ x: [8, 32, 32, 3], k: 4, co: 8, stride: 2, pad: 'same' }, { x: [16, 4, 4, 20], k: 4, co: 10, stride: 1, pad: 'valid' },
    { x: [6, 4, 4, 24], k: 4, co: 1, stride: 1, pad: 'valid' });
  let worst = 0;
  for (const [i, c] of cases.entries()) {
    worst = Math.max(worst, await sameAsCpu(() => {
      const x = tf.randomNormal(c.x, 0, 1, 'float32', i + 1) as tf.Tensor4D;
      const f = tf.randomNormal([c.k, c.k, c.x[3], c.co], 0, 1, 'float32', i + 2) as tf.Tensor4D;
      const y = tf.conv2d(x, f, c.stride, c.pad);
      const dy = tf.randomNormal(y.shape, 0, 1, 'float32', i + 3) as tf.Tensor4D;
      const [dx, df] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad).mul(dy).sum())([x, f]);
      return [y, dx, df, tf.conv2dTranspose(dy, f, c.x as [number, number, number, number], c.stride, c.pad as 'same' | 'valid' | number)];
    }, JSON.stringify(c)));
  }
  assert.ok(cases.length > 30, `${cases.length} cases`);
  assert.ok(worst > 0, 'the two backends really computed separately');
});

test('the stock kernels training uses on webgpu (BatchNorm, LeakyReLU, softplus, tanh; their gradients) match the cpu backend', async (t) => {
  if (!ready(t)) return;
  for (const [i, shape] of [[4, 8, 8, 16], [3, 5, 7, 6], [2, 4, 4, 33]].entries()) {
    const x = () => tf.randomNormal(shape, 0.5, 2, 'float32', i + 10);
    const dy = () => tf.randomNormal(shape, 0, 1, 'float32', i + 20);
    await sameAsCpu(() => {
      const bn = tf.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5, gammaInitializer: tf.initializers.randomNormal({ mean: 1, stddev: 0.1, seed: 3 }) });
      bn.build(shape);
      const [gamma, beta] = bn.trainableWeights.map((w) => w.read() as tf.Variable);
      const f = (v: tf.Tensor) => (bn.apply(v, { training: true }) as tf.Tensor).mul(dy()).sum();
      const { value, grads } = tf.variableGrads(() => f(x()) as tf.Scalar, [gamma, beta]);
      const out = [value, tf.grad(f)(x()), grads[gamma.name], grads[beta.name], ...bn.nonTrainableWeights.map((w) => w.read().clone())];
      bn.weights.forEach((w) => w.dispose());
      return out;
    }, `BatchNorm ${shape}`);
    await sameAsCpu(() => [tf.leakyRelu(x(), 0.2), tf.grad((v: tf.Tensor) => tf.leakyRelu(v, 0.2).mul(dy()).sum())(x())], `LeakyReLU ${shape}`, 1e-6);
    await sameAsCpu(() => [tf.relu(x()), tf.tanh(x()), tf.grad((v: tf.Tensor) => tf.tanh(tf.relu(v)).mul(dy()).sum())(x())], `ReLU, tanh ${shape}`);
  }
  const logits = () => tf.randomNormal([64, 1], 0, 4, 'float32', 7);
  await sameAsCpu(() => [tf.softplus(logits()), tf.sigmoid(logits()), tf.grad((v: tf.Tensor) => tf.softplus(v).mean())(logits())], 'softplus');
});

/** A tiny GAN on the built-in faces: res 16, width 4, batch 8. */
function tiny(ema = 0): { c: TrainConfig; ds: Dataset; order: BatchOrder } {
  const c = loadConfig(16, { width: 4, batch: 8, ema });
  const ds = { ...imagesInMemory(16, renderFaces(64, 16)), name: 'faces', dir: '', fingerprint: 'faces' };
  return { c, ds, order: new BatchOrder(ds.count, c.batch, c.seed) };
}

/** One training step (D, then G) on the current backend; returns [D loss, G loss, D(x), D(G(z))]. */
const step = (gan: Gan, s: number, t = tiny()) => trainOn(gan, stepInputs(t.ds, t.order, t.c, s));

/** Every weight of both networks (BatchNorm statistics included) and the optimizers' moments. */
async function state(gan: Gan): Promise<Float32Array[]> {
  const all = [...gan.G.weights, ...gan.D.weights].map((w) => w.read()).concat(gan.optG.m, gan.optG.v, gan.optD.m, gan.optD.v);
  return Promise.all(all.map(async (w) => (await w.data()) as Float32Array));
}

/** A GAN on `backend` with the weights of `weights` (from another backend), or fresh from the config's seed. */
async function ganOn(backend: string, weights?: Float32Array[], c = tiny().c): Promise<Gan> {
  await tf.setBackend(backend);
  const gan = createGan(c);
  if (weights) {
    let i = 0;
    tf.tidy(() => [gan.G, gan.D].forEach((m) => m.setWeights(m.weights.map((w) => tf.tensor(weights[i++], w.shape as number[])))));
  }
  return gan;
}

test('a training step on webgpu gives wasm\'s losses and weights from the same start', async (t) => {
  if (!ready(t)) return;
  const start = await ganOn('wasm');
  const weights = (await state(start)).slice(0, start.G.weights.length + start.D.weights.length);
  const results: { losses: number[]; after: Float32Array[] }[] = [];
  for (const [backend, gan] of [['wasm', start], ['webgpu', await ganOn('webgpu', weights)]] as const) {
    await tf.setBackend(backend);
    results.push({ losses: await step(gan, 0), after: await state(gan) });
    disposeGan(gan);
  }
  const [wasm, webgpu] = results;
  for (const [i, l] of wasm.losses.entries()) assert.ok(Math.abs(webgpu.losses[i] - l) < 1e-5 * Math.max(1, Math.abs(l)), `loss ${i}: ${webgpu.losses[i]} vs ${l}`);
  let worst = 0;
  for (const [i, w] of wasm.after.entries()) {
    const e = relativeError(webgpu.after[i], w);
    worst = Math.max(worst, e);
    assert.ok(e < 1e-4, `tensor ${i} of ${wasm.after.length}: relative error ${e}`);
  }
  assert.ok(worst > 0, 'the two backends really computed separately');
});

test('training on webgpu keeps the tensor count and GPU memory flat', async (t) => {
  if (!ready(t)) return;
  const gan = await ganOn('webgpu');
  const counts: number[] = [];
  const bytes: number[] = [];
  for (let s = 0; s < 5; s++) {
    await step(gan, s);
    counts.push(tf.memory().numTensors);
    bytes.push((tf.memory() as { numBytesInGPU?: number }).numBytesInGPU ?? 0);
  }
  disposeGan(gan);
  assert.deepEqual(counts.slice(1), Array(4).fill(counts[1]), `tensors after each step: ${counts}`);
  assert.deepEqual(bytes.slice(1), Array(4).fill(bytes[1]), `GPU bytes after each step: ${bytes}`);
});

test('webgpu is deterministic here, so a resumed run equals an unbroken one bit for bit', async (t) => {
  if (!ready(t)) return;
  const { c } = tiny();
  const run = async () => {
    const gan = await ganOn('webgpu');
    for (let s = 0; s < 2; s++) await step(gan, s);
    const out = await state(gan);
    disposeGan(gan);
    return out;
  };
  assert.deepEqual(await run(), await run(), 'the same two steps twice');
  // D's logit layer above batch 128, which tfjs computes as a matrix product with atomics unless told not to
  const logits = () => tf.conv2d(tf.randomNormal([160, 4, 4, 128], 0, 1, 'float32', 5) as tf.Tensor4D,
    tf.randomNormal([4, 4, 128, 1], 0, 1, 'float32', 6) as tf.Tensor4D, 1, 'valid');
  const once = await on('webgpu', logits);
  for (let i = 0; i < 3; i++) assert.deepEqual(await on('webgpu', logits), once, 'D\'s logits at batch 160');
  // 4 steps in one go, against 2 + checkpoint + a GAN restored from it + 2
  const whole = await ganOn('webgpu');
  for (let s = 0; s < 4; s++) await step(whole, s);
  const first = await ganOn('webgpu');
  for (let s = 0; s < 2; s++) await step(first, s);
  const dir = await checkpoint(first, c, 2);
  disposeGan(first);
  const resumed = await restoreGan(c, dir);
  for (let s = 2; s < 4; s++) await step(resumed, s);
  assert.deepEqual(await state(resumed), await state(whole));
  disposeGan(whole);
  disposeGan(resumed);
});

async function checkpoint(gan: Gan, c: TrainConfig, step: number, runDir = tempDir()): Promise<string> {
  return saveCheckpoint(runDir, {
    G: gan.G, D: gan.D, ema: gan.ema && sampler(gan),
    optimizerState: () => ({ tG: gan.optG.t, tD: gan.optD.t, tensors: { ...gan.optG.state('g'), ...gan.optD.state('d') } }),
  }, { step, epoch: 0, config: c, data: 'faces', fingerprint: 'faces', time: new Date().toISOString() }, 1);
}

test('a checkpoint written on webgpu gives wasm\'s faces within one 8-bit level, and the reverse', async (t) => {
  if (!ready(t)) return;
  const seeds = Array.from({ length: 16 }, (_, i) => i);
  const t0 = tiny(0.9); // the moving average samples with standing statistics: faces, not the grey of an untrained G
  for (const [writer, reader] of [['webgpu', 'wasm'], ['wasm', 'webgpu']]) {
    const gan = await ganOn(writer, undefined, t0.c);
    for (let s = 0; s < 3; s++) {
      await step(gan, s, t0);
      updateEma(gan, t0.c.ema, s);
    }
    const dir = await checkpoint(gan, t0.c, 3);
    disposeGan(gan);
    const faces: Uint8Array[] = [];
    for (const backend of [writer, reader]) {
      await tf.setBackend(backend);
      const { G } = await loadSampler(dir);
      faces.push(await sampleSeeds(G, seeds));
      G.dispose();
    }
    let worst = 0;
    for (let i = 0; i < faces[0].length; i++) worst = Math.max(worst, Math.abs(faces[0][i] - faces[1][i]));
    assert.ok(worst <= 1, `written on ${writer}, sampled on ${reader}: pixels differ by up to ${worst} levels`);
    assert.ok(new Set(faces[0]).size > 10, 'faces, not a blank image');
    assert.equal(path.basename(dir), 'ckpt-00000003');
  }
});

test('gan sample --backend webgpu on SwiftShader: one warning line, wasm\'s face, and the command exits', async (t) => {
  if (!ready(t)) return;
  const work = tempDir();
  process.chdir(work); // the built-in faces and the run go there
  await tf.setBackend('wasm');
  const r = await train({ res: 16, run: 'tiny', maxSteps: 2, threads: 1, quiet: true,
    overrides: { width: 4, batch: 4, epochs: 1, ema: 0.9, previewEvery: 100, checkpointEvery: 100 } });
  disposeGan(r.gan);
  const pixels: Buffer[] = [];
  for (const backend of ['webgpu', 'wasm']) {
    const out = path.join(work, `${backend}.png`);
    const run = gan(['sample', '--backend', backend, '--run', 'tiny', '--seed', '3', '--out', out], work, 60_000);
    assert.equal(run.status, 0, run.stderr); // a device left open would keep Node from exiting: the deadline catches it
    const lines = run.stderr.trim().split('\n');
    if (backend === 'webgpu') {
      assert.match(lines[0], /^backend webgpu on .*SwiftShader.* \(forced with --backend\)$/);
      assert.match(lines[1], /^warning: .* software adapter/);
    }
    pixels.push((await sharp(out).raw().toBuffer()));
  }
  let worst = 0;
  for (let i = 0; i < pixels[0].length; i++) worst = Math.max(worst, Math.abs(pixels[0][i] - pixels[1][i]));
  assert.ok(worst <= 1, `the face differs by up to ${worst} levels`);
});

test('releaseBackend destroys the GPU device, and webgpu loads again after it (the CLI run in-process)', async (t) => {
  if (!ready(t)) return;
  for (let i = 0; i < 2; i++) {
    await initBackend('webgpu');
    const device = (tf.backend() as unknown as { device: GPUDevice }).device;
    assert.deepEqual(await on('webgpu', () => tf.square(tf.tensor1d([1, 2, 3]).add(1))), [Float32Array.from([4, 9, 16])]);
    releaseBackend();
    const lost = await Promise.race([device.lost, new Promise((r) => setTimeout(() => r(undefined), 10_000))]);
    assert.equal((lost as GPUDeviceLostInfo | undefined)?.reason, 'destroyed');
    assert.equal(tf.engine().backendName ?? null, null);
  }
});
