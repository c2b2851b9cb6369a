import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend.js';
import { listCheckpoints, loadCheckpoint } from '../src/checkpoint.js';
import { loadConfig, type TrainConfig } from '../src/config.js';
import { BatchOrder, type Dataset } from '../src/data/dataset.js';
import { renderFace, renderFaces } from '../src/data/faces.js';
import { imagesInMemory } from '../src/data/source.js';
import { GanError } from '../src/errors.js';
import { createGan, disposeGan, type Gan } from '../src/gan.js';
import { trainOn } from '../src/parallel.js';
import { stepInputs, train } from '../src/train.js';
import { tempDir } from './fixtures.js';

// Tiny models: the same code as a real run, seconds instead of hours.
const TINY = { width: 4, batch: 4, previewEvery: 1000, checkpointEvery: 1000 };

before(async () => {
  await initBackend(process.env.GAN_TEST_BACKEND); // the default backend here: wasm
  process.chdir(tempDir()); // data/ and checkpoints/ of these tests go to a temp dir
});

const values = (vars: tf.Variable[]) => vars.map((v) => Array.from(v.dataSync()));

function solidDataset(rgb: [number, number, number], count = 16, res = 16): Dataset {
  const pixels = new Uint8Array(count * res * res * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = rgb[i % 3];
  return { ...imagesInMemory(res, pixels), name: 'solid', dir: '', fingerprint: 'solid' };
}

/** Runs `steps` training steps of `gan` on `ds`, in this thread. */
async function steps(gan: Gan, ds: Dataset, count: number, first = 0) {
  const c = gan.config;
  const order = new BatchOrder(ds.count, c.batch, c.seed);
  for (let step = first; step < first + count; step++) await trainOn(gan, stepInputs(ds, order, c, step));
}

const worst = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

test('G and D run in training as tfjs runs them (D with plain convolutions): values and gradients', () => {
  for (const spectralNorm of [false, true]) {
    const gan = createGan(loadConfig(32, { width: 4, spectralNorm }));
    const t = { batch: 4 };
    const z = tf.randomNormal([4, 100], 0, 1, 'float32', 4) as tf.Tensor2D;
    const x = tf.randomNormal([4, 32, 32, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    const close = (a: tf.Tensor, b: tf.Tensor, what: string) => assert.ok(worst(a, b) < 1e-4, `${what} (spectralNorm ${spectralNorm}): off by ${worst(a, b)}`);
    // each training call updates state (BatchNorm's moving statistics, spectral norm's u): every call starts from the same
    const start = [gan.G, gan.D].map((m) => m.getWeights().map((w) => w.clone()));
    const fresh = (f: (y: tf.Tensor) => tf.Tensor) => (y: tf.Tensor) => {
      [gan.G, gan.D].forEach((m, i) => m.setWeights(start[i]));
      return f(y);
    };
    const viaLayers = (m: tf.LayersModel) => fresh((y) => m.apply(y, { training: true }) as tf.Tensor);
    const D = fresh((y) => gan.arch.discriminate(gan.D, y as tf.Tensor4D, t));
    const G = fresh((y) => gan.arch.generate(gan.G, y as tf.Tensor2D, t));
    tf.tidy(() => close(D(x), viaLayers(gan.D)(x), 'D'));
    tf.tidy(() => close(G(z), viaLayers(gan.G)(z), 'G'));
    assert.deepEqual(tf.tidy(() => D(x).shape), [4, 1]);
    // gradients with respect to the weights (each network's update) and to the input (G's update goes through D's)
    for (const [ours, theirs, input, vars] of [[D, viaLayers(gan.D), x, gan.dVars], [G, viaLayers(gan.G), z, gan.gVars]] as const) {
      const [a, b] = [theirs, ours].map((f) => tf.variableGrads(() => tf.sum(tf.square(f(input))) as tf.Scalar, vars));
      for (const v of vars) close(a.grads[v.name], b.grads[v.name], v.name);
      tf.dispose([a.value, b.value, ...Object.values(a.grads), ...Object.values(b.grads)]);
      tf.tidy(() => close(tf.grad((y: tf.Tensor) => tf.sum(tf.square(ours(y))))(input), tf.grad((y: tf.Tensor) => tf.sum(tf.square(theirs(y))))(input), 'input gradient'));
    }
    tf.dispose([x, z, ...start.flat()]);
    disposeGan(gan);
  }
});

test('an architecture refuses a layer setting it would not honour, instead of dropping it', () => {
  const gan = createGan(loadConfig(16, { width: 4 }));
  const D = tf.sequential({ layers: [tf.layers.conv2d({ inputShape: [16, 16, 3], filters: 2, kernelSize: 3, dilationRate: 2, padding: 'same' })] });
  const x = tf.zeros([1, 16, 16, 3]) as tf.Tensor4D;
  assert.throws(() => gan.arch.discriminate(D, x, { batch: 1 }), /dilation 1 only/);
  const withActivation = tf.sequential({ layers: [tf.layers.conv2d({ inputShape: [16, 16, 3], filters: 2, kernelSize: 3, activation: 'relu' })] });
  assert.throws(() => gan.arch.discriminate(withActivation, x, { batch: 1 }), /linear activation/);
  tf.dispose([x]);
  D.dispose();
  withActivation.dispose();
  disposeGan(gan);
});

test('the D update changes only D\'s weights, the G update only G\'s', async () => {
  for (const loss of ['bce', 'hinge'] as const) {
    const gan = createGan(loadConfig(16, { ...TINY, loss }));
    const [g0, d0] = [values(gan.gVars), values(gan.dVars)];
    let seen = 0;
    // look at both networks right after each optimizer applies its update
    const [applyD, applyG] = [gan.optD.apply.bind(gan.optD), gan.optG.apply.bind(gan.optG)];
    let d1: number[][] = [];
    gan.optD.apply = (grads) => {
      applyD(grads);
      assert.deepEqual(values(gan.gVars), g0, `${loss}: G unchanged by the D update`);
      d1 = values(gan.dVars);
      assert.notDeepEqual(d1, d0, `${loss}: D changed by the D update`);
      seen++;
    };
    gan.optG.apply = (grads) => {
      applyG(grads);
      assert.deepEqual(values(gan.dVars), d1, `${loss}: D unchanged by the G update`);
      assert.notDeepEqual(values(gan.gVars), g0, `${loss}: G changed by the G update`);
      seen++;
    };
    await steps(gan, solidDataset([200, 30, 40]), 1);
    assert.equal(seen, 2);
    disposeGan(gan);
  }
});

test('training learns with either loss: on one-colour images, the generated mean colour moves toward it', async () => {
  const target = [230, 40, 40]; // red
  for (const loss of ['bce', 'hinge'] as const) {
    const gan = createGan(loadConfig(16, { ...TINY, batch: 8, lrG: 0.002, lrD: 0.002, loss }));
    const z = tf.randomNormal([32, gan.config.latent], 0, 1, 'float32', 7) as tf.Tensor2D;
    const distance = () => tf.tidy(() => {
      const mean = (gan.G.apply(z, { training: true }) as tf.Tensor).mean([0, 1, 2]);
      return tf.norm(mean.sub(tf.tensor1d(target.map((v) => v / 127.5 - 1)))).dataSync()[0];
    });
    const before = distance();
    await steps(gan, solidDataset(target as [number, number, number]), 30);
    const after = distance();
    assert.ok(after < before * 0.7, `${loss}: distance to the data's colour ${before.toFixed(3)} -> ${after.toFixed(3)}`);
    tf.dispose(z);
    disposeGan(gan);
  }
});

test('the tensor count stays flat across training steps', async () => {
  for (const more of [{}, { augment: true, spectralNorm: true, loss: 'hinge' as const }]) {
    const gan = createGan(loadConfig(16, { ...TINY, ...more }));
    const ds = solidDataset([10, 120, 250]);
    const counts: number[] = [];
    for (let step = 0; step < 6; step++) {
      await steps(gan, ds, 1, step);
      counts.push(tf.memory().numTensors);
    }
    assert.deepEqual(counts.slice(1), Array(5).fill(counts[1]), `tensors per step: ${counts}`);
    disposeGan(gan);
  }
});

test('built-in faces are deterministic per seed, varied, and in range', () => {
  const a = renderFace(7, 32);
  assert.deepEqual(renderFace(7, 32), a);
  assert.notDeepEqual(renderFace(8, 32), a);
  assert.equal(a.length, 32 * 32 * 3);
  const set = new Set(a);
  assert.ok(set.size > 20, 'more than a few colours');
  const many = renderFaces(4, 16, 100);
  assert.deepEqual(many.subarray(16 * 16 * 3, 2 * 16 * 16 * 3), renderFace(101, 16));
});

async function trained(run: string, maxSteps: number, threads = 1, more: Partial<TrainConfig> = {}) {
  const r = await train({ res: 16, run, maxSteps, threads, overrides: { ...TINY, epochs: 1, ...more }, quiet: true });
  const weights = (m?: tf.LayersModel) => m?.getWeights().map((t) => Array.from(t.dataSync()));
  const w = { G: weights(r.gan.G)!, D: weights(r.gan.D)!, ema: weights(r.gan.ema) };
  disposeGan(r.gan);
  return { ...r, w };
}

test('resume is exact: 6 steps in one go equal 3 + resume + 3 (with EMA, augmentation, hinge and spectral norm too)', async () => {
  for (const more of [{}, { ema: 0.99, augment: true, loss: 'hinge' as const, spectralNorm: true }]) {
    const tag = more.augment ? 'more' : 'plain';
    const whole = await trained(`whole-${tag}`, 6, 1, more);
    const half = await trained(`split-${tag}`, 3, 1, more);
    assert.equal(half.step, 3);
    const rest = await trained(`split-${tag}`, 3, 1, more);
    assert.equal(rest.resumedFrom, 3);
    assert.equal(rest.step, 6);
    assert.deepEqual(rest.w.G, whole.w.G);
    assert.deepEqual(rest.w.D, whole.w.D);
    assert.deepEqual(rest.w.ema, whole.w.ema);
    // and the optimizer state too: one more step of each matches
    const w7 = await trained(`whole-${tag}`, 1, 1, more);
    const s7 = await trained(`split-${tag}`, 1, 1, more);
    assert.deepEqual(s7.w.G, w7.w.G);
  }
  // augmentation changes what D sees, so the weights differ from the plain run's
  const plain = await trained('plain-ref', 2);
  const aug = await trained('aug-ref', 2, 1, { augment: true });
  assert.notDeepEqual(aug.w.D, plain.w.D);
});

test('an interrupted checkpoint write is never loaded, and a resume refuses other settings', async () => {
  const r = await trained('atomic', 2);
  const runDir = r.runDir;
  // What a kill mid-write leaves: a temp folder, and a checkpoint folder without its state.json.
  fs.mkdirSync(path.join(runDir, '.ckpt-00000009.tmp-1-abcd', 'generator'), { recursive: true });
  fs.mkdirSync(path.join(runDir, 'ckpt-00000010', 'generator'), { recursive: true });
  fs.writeFileSync(path.join(runDir, 'ckpt-00000010', 'generator', 'model.json'), '{"half": ');
  assert.deepEqual(listCheckpoints(runDir).map((c) => c.step), [2]);
  const more = await trained('atomic', 1);
  assert.equal(more.resumedFrom, 2);
  assert.equal(fs.existsSync(path.join(runDir, '.ckpt-00000009.tmp-1-abcd')), false, 'leftovers removed');
  const ck = await loadCheckpoint(listCheckpoints(runDir).at(-1)!.dir);
  assert.equal(ck.state.step, 3);
  ck.G.dispose();
  ck.D?.dispose();
  tf.dispose(Object.values(ck.optimizer.tensors));

  await assert.rejects(train({ res: 32, run: 'atomic', threads: 1, overrides: TINY, quiet: true }), (e: unknown) =>
    e instanceof GanError && /`res` 16/.test(e.message) && /`fresh`/.test(e.message));
  for (const [change, why] of [[{ width: 8 }, /`width` 4, not 8/], [{ loss: 'hinge' }, /`loss` bce, not hinge/],
    [{ spectralNorm: true }, /`spectralNorm` false, not true/]] as const) {
    await assert.rejects(train({ res: 16, run: 'atomic', threads: 1, overrides: { ...TINY, ...change }, quiet: true }), why);
  }
  const fresh = await train({ res: 16, run: 'atomic', fresh: true, maxSteps: 1, threads: 1, overrides: { ...TINY, width: 8, epochs: 1 }, quiet: true });
  assert.equal(fresh.resumedFrom, 0);
  disposeGan(fresh.gan);
});

test('a NaN loss stops the run with a clear message and keeps the last good checkpoint', async () => {
  const r = await trained('nan', 2);
  const ckDir = listCheckpoints(r.runDir).at(-1)!.dir;
  // Poison D's weights in the checkpoint: the next step's loss is NaN.
  const bin = path.join(ckDir, 'discriminator', 'weights.bin');
  const bytes = fs.readFileSync(bin);
  const w = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)); // the file's bytes only
  w.fill(NaN, 0, 16);
  fs.writeFileSync(bin, Buffer.from(w.buffer));
  await assert.rejects(train({ res: 16, run: 'nan', maxSteps: 3, threads: 1, overrides: { ...TINY, epochs: 1, checkpointEvery: 1 }, quiet: true }),
    (e: unknown) => e instanceof GanError && e.exitCode === 3 && /NaN at step 3/.test(e.message) && /step 2\) is kept/.test(e.message));
  assert.deepEqual(listCheckpoints(r.runDir).map((c) => c.step), [2]);
});

test('any thread count trains the same model: 1, 2, 3 and 4 threads, even and uneven splits, across a resume', async () => {
  // batch 8 over 3 threads is 2 + 3 + 3 images; BatchNorm's statistics and the gradients are the whole batch's
  const more = { batch: 8, augment: true };
  const one = await trained('threads-1', 4, 1, more);
  for (const threads of [2, 3, 4]) {
    await trained(`threads-${threads}`, 2, threads, more);
    const many = await trained(`threads-${threads}`, 2, threads, more); // the workers restore from the checkpoint too
    assert.equal(many.step, 4);
    for (const net of ['G', 'D'] as const) {
      const diff = Math.max(...many.w[net].flatMap((w, i) => w.map((v, k) => Math.abs(v - one.w[net][i][k]))));
      assert.ok(diff < 1e-5, `${threads} threads: ${net}'s weights differ from one thread's by up to ${diff}`);
    }
  }
});
