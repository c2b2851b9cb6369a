import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { AUG_PARAMS, augment, drawAugment } from '../src/augment.js';
import { initBackend } from '../src/backend.js';
import { loadConfig } from '../src/config.js';
import { Rng } from '../src/rng.js';
import { createGan, disposeGan, sampler, standingStatistics, updateEma } from '../src/gan.js';

before(async () => {
  await initBackend(process.env.GAN_TEST_BACKEND);
});

test('augmentation keeps shapes and a sane range, and lets gradients through', () => {
  const n = 8;
  const x = tf.randomUniform([n, 16, 16, 3], -1, 1, 'float32', 1) as tf.Tensor4D;
  const draws = drawAugment(new Rng(1), n, 16);
  assert.equal(draws.length, n * AUG_PARAMS);
  for (const batch of [draws, drawAugment(new Rng(2), n, 16)]) {
    const y = augment(x, batch);
    assert.deepEqual(y.shape, x.shape);
    const v = y.dataSync();
    assert.ok(v.every((e) => Number.isFinite(e) && Math.abs(e) <= 4), 'values stay near [-1, 1]');
    assert.ok(v.filter((e) => e === 0).length >= n * 8 * 8 * 3 * 0.5, 'cutout zeroes a square');
    y.dispose();
  }
  const g = tf.grad((t: tf.Tensor) => augment(t as tf.Tensor4D, draws).square().sum())(x);
  const gv = g.dataSync();
  assert.ok(gv.every(Number.isFinite));
  assert.ok(gv.filter((e) => e !== 0).length > gv.length / 3, 'gradient reaches the pixels that are kept');
  tf.dispose([x, g]);
});

test('translation moves pixels by exactly the drawn shift', () => {
  const x = tf.tensor4d(Float32Array.from({ length: 8 * 8 }, (_, i) => i + 1), [1, 8, 8, 1]).tile([1, 1, 1, 3]) as tf.Tensor4D;
  // no colour change, shift x +1, y -1, cutout far away (centre outside the image)
  const draws = Float32Array.from([0, 1, 1, 1, -1, 100, 100]);
  const y = augment(x, draws);
  const a = x.slice([0, 0, 0, 0], [1, 8, 8, 1]).reshape([8, 8]).arraySync() as number[][];
  const b = y.slice([0, 0, 0, 0], [1, 8, 8, 1]).reshape([8, 8]).arraySync() as number[][];
  const mean = a.flat().reduce((s, v) => s + v, 0) / 64;
  // contrast 1 and saturation 1 keep values; the shift moves (r, q) to (r - 1, q + 1)
  for (let r = 0; r < 7; r++) for (let q = 1; q < 8; q++) assert.ok(Math.abs(b[r][q] - a[r + 1][q - 1]) < 1e-4, `${r},${q}`);
  for (let q = 0; q < 8; q++) assert.equal(b[7][q], 0);
  assert.ok(mean > 0);
  tf.dispose([x, y]);
});

test('EMA with decay 0 equals the generator; with decay d it moves (1-d) of the way', () => {
  const c = loadConfig(16, { width: 4, ema: 0.5 });
  const gan = createGan(c);
  const g0 = gan.G.getWeights().map((w) => w.dataSync().slice());
  // move G, then average
  tf.tidy(() => gan.gVars.forEach((v) => v.assign(v.add(1))));
  updateEma(gan, 0, 1000);
  gan.ema!.trainableWeights.forEach((w, i) => assert.deepEqual(w.read().dataSync(), gan.gVars[i].dataSync()));
  tf.tidy(() => gan.gVars.forEach((v) => v.assign(v.add(1))));
  updateEma(gan, 0.9, 1e9);
  const e = gan.ema!.trainableWeights[0].read().dataSync();
  const w = gan.gVars[0].dataSync();
  for (let i = 0; i < 10; i++) assert.ok(Math.abs(e[i] - (0.9 * (g0[0][i] + 1) + 0.1 * w[i])) < 1e-5);
  disposeGan(gan);
});

test('EMA warm-up: the decay is min(decay, (1 + t) / (10 + t)), so early averages follow G closely', () => {
  const gan = createGan(loadConfig(16, { width: 4, ema: 0.999 }));
  const w = () => gan.ema!.trainableWeights[0].read().dataSync()[0];
  for (const t of [0, 5, 100, 20_000]) {
    const before = w();
    const g = gan.gVars[0].dataSync()[0] + 1;
    tf.tidy(() => gan.gVars[0].assign(gan.gVars[0].add(1)));
    updateEma(gan, 0.999, t);
    const d = Math.min(0.999, (1 + t) / (10 + t)); // 0.1 at step 0, 0.4 at 5, 0.92 at 100, the decay itself later
    assert.ok(Math.abs(w() - (d * before + (1 - d) * g)) < 1e-5, `step ${t}: ${w()} vs ${d * before + (1 - d) * g}`);
  }
  disposeGan(gan);
});

test('standing statistics: sampling the average in eval mode gives what training mode gives on the same latents', () => {
  const c = loadConfig(16, { width: 4, ema: 0.5 });
  const gan = createGan(c);
  tf.tidy(() => gan.gVars.forEach((v, i) => v.assign(v.mul(1 + 0.1 * (i % 3))))); // weights whose statistics differ from the start
  updateEma(gan, 0, 0);
  const z = tf.randomNormal([32, c.latent], 0, 1, 'float32', 3) as tf.Tensor2D;
  const stale = tf.tidy(() => (gan.ema!.apply(z, { training: false }) as tf.Tensor).dataSync());
  standingStatistics(gan.arch, gan.ema!, z);
  const evalMode = tf.tidy(() => (gan.ema!.apply(z, { training: false }) as tf.Tensor).dataSync());
  const trainMode = tf.tidy(() => (gan.ema!.apply(z, { training: true }) as tf.Tensor).dataSync());
  const worst = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
  assert.ok(worst(evalMode, trainMode) < 1e-4, `eval mode matches training mode: ${worst(evalMode, trainMode)}`);
  assert.ok(worst(stale, trainMode) > 1e-2, 'and the initial statistics did not');
  // sampler refreshes the average's statistics after each update
  assert.equal(sampler(gan), gan.ema);
  assert.equal(gan.emaStats, true);
  updateEma(gan, 0.5, 10);
  assert.equal(gan.emaStats, false);
  sampler(gan);
  assert.equal(gan.emaStats, true);
  z.dispose();
  disposeGan(gan);
});
