import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend.js';
import { listCheckpoints, loadCheckpoint } from '../src/checkpoint.js';
import { loadConfig, type TrainConfig } from '../src/config.js';
import { BatchOrder, openDataset, type Dataset } from '../src/data/dataset.js';
import { renderFace, renderFaces } from '../src/data/faces.js';
import { imagesInMemory } from '../src/data/source.js';
import { GanError } from '../src/errors.js';
import { sliceInputs } from '../src/parallel.js';
import { createGan, disposeGan } from '../src/gan.js';
import { applyDiscriminator } from '../src/model.js';
import { discriminatorStep, generatorStep, stepInputs, toShard, train, trainStep } from '../src/train.js';
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

test('D applied layer by layer (plain convolutions) equals D.apply, values and gradients', () => {
  const c = loadConfig(32, { width: 4 });
  const gan = createGan(c);
  const x = tf.randomNormal([4, 32, 32, 3], 0, 1, 'float32', 5);
  const close = (a: tf.Tensor, b: tf.Tensor, what: string) => {
    const worst = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
    assert.ok(worst < 1e-4, `${what}: off by ${worst}`);
  };
  const [viaLayers, viaOurs] = [(y: tf.Tensor) => gan.D.apply(y, { training: true }) as tf.Tensor, (y: tf.Tensor) => applyDiscriminator(gan.D, y)];
  tf.tidy(() => close(viaOurs(x), viaLayers(x), 'logits'));
  for (const f of [viaLayers, viaOurs]) assert.equal(f(x).shape.join(), '4,1');
  // gradients with respect to D's weights (the D step) and to the images (the G step)
  const [a, b] = [viaLayers, viaOurs].map((f) => tf.variableGrads(() => tf.sum(tf.square(f(x))) as tf.Scalar, gan.dVars));
  for (const v of gan.dVars) close(a.grads[v.name], b.grads[v.name], v.name);
  tf.tidy(() => close(tf.grad((y: tf.Tensor) => tf.sum(tf.square(viaOurs(y))))(x), tf.grad((y: tf.Tensor) => tf.sum(tf.square(viaLayers(y))))(x), 'image gradient'));
  tf.dispose([x, a.value, b.value, ...Object.values(a.grads), ...Object.values(b.grads)]);
  disposeGan(gan);
});

test('the D step changes only D\'s weights, the G step only G\'s', () => {
  const c = loadConfig(16, TINY);
  const gan = createGan(c);
  const ds = solidDataset([200, 30, 40]);
  const shard = toShard(stepInputs(ds, new BatchOrder(ds.count, c.batch, c.seed), c, 0), c);
  const g0 = values(gan.gVars);
  const d0 = values(gan.dVars);
  tf.dispose(discriminatorStep(gan, [shard]));
  assert.deepEqual(values(gan.gVars), g0, 'G unchanged by the D step');
  const d1 = values(gan.dVars);
  assert.notDeepEqual(d1, d0, 'D changed by the D step');
  tf.dispose(generatorStep(gan, [shard]));
  assert.deepEqual(values(gan.dVars), d1, 'D unchanged by the G step');
  assert.notDeepEqual(values(gan.gVars), g0, 'G changed by the G step');
  tf.dispose([shard.real, shard.zD, shard.zG]);
  disposeGan(gan);
});

test('training learns: on one-colour images, the generated mean colour moves toward it', () => {
  const target = [230, 40, 40]; // red
  const c = loadConfig(16, { ...TINY, batch: 8, lrG: 0.002, lrD: 0.002 });
  const gan = createGan(c);
  const ds = solidDataset(target as [number, number, number]);
  const order = new BatchOrder(ds.count, c.batch, c.seed);
  const z = tf.randomNormal([32, c.latent], 0, 1, 'float32', 7) as tf.Tensor2D;
  const distance = () => tf.tidy(() => {
    const mean = (gan.G.apply(z, { training: true }) as tf.Tensor).mean([0, 1, 2]);
    return tf.norm(mean.sub(tf.tensor1d(target.map((v) => v / 127.5 - 1)))).dataSync()[0];
  });
  const before = distance();
  for (let step = 0; step < 30; step++) {
    const shard = toShard(stepInputs(ds, order, c, step), c);
    trainStep(gan, [shard]);
    tf.dispose([shard.real, shard.zD, shard.zG]);
  }
  const after = distance();
  assert.ok(after < before * 0.7, `distance to the data's colour ${before.toFixed(3)} -> ${after.toFixed(3)}`);
  tf.dispose(z);
  disposeGan(gan);
});

test('the tensor count stays flat across training steps', () => {
  const c = loadConfig(16, TINY);
  const gan = createGan(c);
  const ds = solidDataset([10, 120, 250]);
  const order = new BatchOrder(ds.count, c.batch, c.seed);
  const counts: number[] = [];
  for (let step = 0; step < 6; step++) {
    const shard = toShard(stepInputs(ds, order, c, step), c);
    trainStep(gan, [shard]);
    tf.dispose([shard.real, shard.zD, shard.zG]);
    counts.push(tf.memory().numTensors);
  }
  assert.deepEqual(counts.slice(1), Array(5).fill(counts[1]), `tensors per step: ${counts}`);
  disposeGan(gan);
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

test('resume is exact: 6 steps in one go equal 3 + resume + 3 (with EMA and augmentation too)', async () => {
  for (const more of [{}, { ema: 0.99, augment: true }]) {
    const tag = more.augment ? 'aug' : 'plain';
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
    e instanceof GanError && /--res 16/.test(e.message) && /--fresh/.test(e.message));
  await assert.rejects(train({ res: 16, run: 'atomic', threads: 1, overrides: { ...TINY, width: 8 }, quiet: true }), /width 4, not 8/);
  const fresh = await train({ res: 16, run: 'atomic', fresh: true, maxSteps: 1, threads: 1, overrides: { ...TINY, width: 8, epochs: 1 }, quiet: true });
  assert.equal(fresh.resumedFrom, 0);
  disposeGan(fresh.gan);
});

test('a NaN loss stops the run with a clear message and keeps the last good checkpoint', async () => {
  const r = await trained('nan', 2);
  const ckDir = listCheckpoints(r.runDir).at(-1)!.dir;
  // Poison D's weights in the checkpoint: the next step's loss is NaN.
  const bin = path.join(ckDir, 'discriminator', 'weights.bin');
  const w = new Float32Array(fs.readFileSync(bin).buffer.slice(0));
  w.fill(NaN, 0, 16);
  fs.writeFileSync(bin, Buffer.from(w.buffer));
  await assert.rejects(train({ res: 16, run: 'nan', maxSteps: 3, threads: 1, overrides: { ...TINY, epochs: 1, checkpointEvery: 1 }, quiet: true }),
    (e: unknown) => e instanceof GanError && e.exitCode === 3 && /NaN at step 3/.test(e.message) && /step 2\) is kept/.test(e.message));
  assert.deepEqual(listCheckpoints(r.runDir).map((c) => c.step), [2]);
});

test('two threads compute the same math as one thread training on the same two shards, across a resume', async () => {
  // threaded: 2 steps, then resume for 2 more (the worker replica restores from the checkpoint too)
  await trained('threads', 2, 2);
  const threaded = await trained('threads', 2, 2);
  assert.equal(threaded.step, 4);
  // reference: one thread, each batch split into the same two shards, gradients averaged
  const c = loadConfig(16, { ...TINY, epochs: 1 });
  const ds = await openDataset(undefined, 16, { crop: 'center' });
  const order = new BatchOrder(ds.count, c.batch, c.seed);
  const gan = createGan(c);
  for (let step = 0; step < 4; step++) {
    const inputs = stepInputs(ds, order, c, step);
    const shards = [0, 1].map((i) => toShard(sliceInputs(inputs, i, 2), c));
    trainStep(gan, shards);
    tf.dispose(shards.flatMap((s) => [s.real, s.zD, s.zG]));
  }
  // model.getWeights() lists the trainable weights first, in the order of gVars and dVars
  assert.deepEqual(threaded.w.G.slice(0, gan.gVars.length), values(gan.gVars));
  assert.deepEqual(threaded.w.D.slice(0, gan.dVars.length), values(gan.dVars));
  disposeGan(gan);
});
