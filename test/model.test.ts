import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { Adam } from '../src/adam.js';
import { initBackend } from '../src/backend.js';
import { loadConfig, RESOLUTIONS } from '../src/config.js';
import { createGan, disposeGan } from '../src/gan.js';

before(async () => {
  await initBackend(process.env.GAN_TEST_BACKEND);
});

test('Adam gives PyTorch\'s numbers, computed here by hand in double precision, over five steps', () => {
  const [lr, beta1, beta2, eps] = [0.01, 0.5, 0.999, 1e-8];
  const start = [1, -2, 0.5, 0];
  const grads = [[0.1, -0.3, 2, 0], [0.2, 0.1, -1, 1e-9], [-0.5, 0.3, 0.7, -2], [0.05, 0, 0, 3], [1, 1, 1, 1]];
  const w = tf.variable(tf.tensor1d(start));
  const adam = new Adam([w], { lr, beta1, beta2, eps });
  // torch.optim.Adam: m = b1·m + (1-b1)·g; v = b2·v + (1-b2)·g²; w -= lr/(1-b1^t) · m / (sqrt(v)/sqrt(1-b2^t) + eps)
  const want = [...start];
  const m = [0, 0, 0, 0];
  const v = [0, 0, 0, 0];
  grads.forEach((g, k) => {
    const t = k + 1;
    for (let i = 0; i < 4; i++) {
      m[i] = beta1 * m[i] + (1 - beta1) * g[i];
      v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
      want[i] -= (lr / (1 - beta1 ** t)) * m[i] / (Math.sqrt(v[i]) / Math.sqrt(1 - beta2 ** t) + eps);
    }
    const gt = tf.tensor1d(g);
    adam.apply([gt]);
    gt.dispose();
    const got = w.dataSync();
    for (let i = 0; i < 4; i++) assert.ok(Math.abs(got[i] - want[i]) < 1e-6, `step ${t}, w[${i}]: ${got[i]} vs ${want[i]}`);
  });
  assert.equal(adam.t, 5);
  adam.dispose();
  w.dispose();
});

// The trainable parameters of PyTorch's DCGAN, tensor by tensor in order, and its output shapes, at every
// resolution (latent 100, width 64), printed once by the peer (../shared/peers/dcgan_torch.py, PyTorch 1.13):
//   G, D = build(res); [p.numel() for p in G.parameters()]; G(torch.zeros(2, 100, 1, 1)).shape
// Its G keeps a bias in the last layer only, its D in the first and the last, as ours (see src/model.ts).
const PYTORCH: Record<number, { G: number[]; D: number[]; G_total: number; D_total: number }> = {
  16: { G: [204800, 128, 128, 131072, 64, 64, 3072, 3], D: [3072, 64, 131072, 128, 128, 2048, 1], G_total: 339331, D_total: 136513 },
  32: { G: [409600, 256, 256, 524288, 128, 128, 131072, 64, 64, 3072, 3], D: [3072, 64, 131072, 128, 128, 524288, 256, 256, 4096, 1],
    G_total: 1068931, D_total: 663361 },
  64: { G: [819200, 512, 512, 2097152, 256, 256, 524288, 128, 128, 131072, 64, 64, 3072, 3],
    D: [3072, 64, 131072, 128, 128, 524288, 256, 256, 2097152, 512, 512, 8192, 1], G_total: 3576707, D_total: 2765633 },
  128: { G: [1638400, 1024, 1024, 8388608, 512, 512, 2097152, 256, 256, 524288, 128, 128, 131072, 64, 64, 3072, 3],
    D: [3072, 64, 131072, 128, 128, 524288, 256, 256, 2097152, 512, 512, 8388608, 1024, 1024, 16384, 1], G_total: 12786563, D_total: 11164481 },
};

test('G and D have PyTorch\'s parameter counts, tensor by tensor, and its output shapes, at every resolution', () => {
  for (const res of RESOLUTIONS) {
    const gan = createGan(loadConfig(res, { latent: 100, width: 64, ema: 0 }));
    const want = PYTORCH[res];
    // tfjs lists a conv's kernel, then its bias; BatchNorm's gamma, then beta: PyTorch's order
    assert.deepEqual(gan.gVars.map((v) => v.size), want.G, `G at ${res}`);
    assert.deepEqual(gan.dVars.map((v) => v.size), want.D, `D at ${res}`);
    const trainable = (m: tf.LayersModel) => m.trainableWeights.reduce((n, w) => n + w.read().size, 0);
    assert.equal(trainable(gan.G), want.G_total);
    assert.equal(trainable(gan.D), want.D_total);
    assert.deepEqual(gan.G.outputs[0].shape, [null, res, res, 3]); // PyTorch's [n, 3, res, res], channels last
    assert.deepEqual(gan.D.outputs[0].shape, [null, 1]);
    disposeGan(gan);
  }
});

test('spectral normalisation: the kernel D uses has a largest singular value of 1, and D saves and loads as a layers model', async () => {
  const gan = createGan(loadConfig(16, { width: 8, spectralNorm: true }));
  assert.ok(!gan.D.layers.some((l) => l.getClassName() === 'BatchNormalization'), 'no BatchNorm in D');
  const x = tf.randomNormal([4, 16, 16, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  for (let i = 0; i < 40; i++) tf.tidy(() => gan.arch.discriminate(gan.D, x, { batch: 4 })); // power iterations converge
  const layer = gan.D.getLayer('d_down1');
  const [kernel, , u] = layer.getWeights();
  // σ of the kernel as a [taps·in, out] matrix, by power iteration in double precision
  const [rows, cols] = [kernel.size / kernel.shape[3]!, kernel.shape[3]!];
  const w = kernel.dataSync();
  let v = new Float64Array(cols).fill(1);
  let sigma = 0;
  for (let it = 0; it < 500; it++) {
    const wv = new Float64Array(rows);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) wv[r] += w[r * cols + c] * v[c];
    const next = new Float64Array(cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) next[c] += w[r * cols + c] * wv[r];
    const norm = Math.hypot(...next);
    sigma = Math.sqrt(norm);
    v = next.map((e) => e / norm);
  }
  // the layer divides its kernel by its own estimate, vᵀ·W·u: the normalised kernel's σ is 1
  const estimate = tf.tidy(() => {
    const k = tf.reshape(kernel, [rows, cols]) as tf.Tensor2D;
    const vv = tf.matMul(k, u as tf.Tensor2D);
    return tf.norm(vv).dataSync()[0];
  });
  assert.ok(Math.abs(sigma / estimate - 1) < 0.01, `σ ${sigma} against the layer's estimate ${estimate}`);

  let saved: tf.io.ModelArtifacts | undefined;
  await gan.D.save(tf.io.withSaveHandler(async (a) => {
    saved = a;
    return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(a) };
  }));
  assert.match(JSON.stringify(saved!.modelTopology), /"class_name":"SpectralConv2D"/);
  const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved!));
  const [a, b] = [gan.D, loaded].map((m) => m.predict(x) as tf.Tensor);
  assert.deepEqual(a.dataSync(), b.dataSync(), 'the same logits from the loaded D');
  tf.dispose([x, a, b]);
  loaded.dispose();
  disposeGan(gan);
});
