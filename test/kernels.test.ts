// Our wasm kernels against the cpu backend (the reference), on many shapes.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { Adam } from '../src/adam.js';
import { initBackend } from '../src/backend.js';
import { loadConfig } from '../src/config.js';
import { createGan, disposeGan, updateEma } from '../src/gan.js';
import { batchNorm } from '../src/layers.js';
import { useWinograd } from '../src/kernels/conv.js';
import type { BackendWasm } from '../src/kernels/wasm.js';

before(async () => {
  await initBackend('wasm'); // registers our kernels
});

type Pad = 'same' | 'valid' | number | [[0, 0], [number, number], [number, number], [0, 0]];

interface Case {
  x: [number, number, number, number]; // [n, h, w, ci]
  k: number;
  co: number;
  stride: number | [number, number];
  pad: Pad;
}

function cases(): Case[] {
  const out: Case[] = [];
  const sizes: [number, number][] = [[7, 7], [9, 13], [8, 8], [5, 6], [4, 4]]; // 4×4 'valid' with k 4: a 1×1 dy
  for (const [h, w] of sizes) {
    for (const k of [1, 3, 4, 5]) {
      for (const ci of [1, 3, 17]) {
        for (const stride of [1, 2, [2, 1], 3] as (number | [number, number])[]) {
          const pads: Pad[] = ['same', 'valid'];
          if (typeof stride === 'number') pads.push(1, [[0, 0], [2, 1], [0, 2], [0, 0]]); // tfjs-core needs equal strides for these
          for (const pad of pads) {
            if (pad === 'valid' && (k > h || k > w)) continue;
            out.push({ x: [(h + w + k) % 3 + 1, h, w, ci], k, co: ci === 17 ? 5 : 2 + (k % 2), stride, pad });
          }
        }
      }
    }
  }
  // Many taps of an odd number of channels: the filter gradient works through several blocks of taps.
  out.push({ x: [2, 12, 12, 5], k: 8, co: 8, stride: 1, pad: 'same' }, { x: [1, 10, 10, 7], k: 7, co: 3, stride: 2, pad: 'valid' });
  return out;
}

/** conv2d, both its gradients (input: Conv2DBackpropInput, filter: Conv2DBackpropFilter) and conv2dTranspose. */
function compute(c: Case, seed: number) {
  return tf.tidy(() => {
    const x = tf.randomNormal(c.x, 0, 1, 'float32', seed) as tf.Tensor4D;
    const f = tf.randomNormal([c.k, c.k, c.x[3], c.co], 0, 1, 'float32', seed + 1) as tf.Tensor4D;
    const y = tf.conv2d(x, f, c.stride, c.pad);
    const dy = tf.randomNormal(y.shape, 0, 1, 'float32', seed + 2) as tf.Tensor4D;
    const [dx, df] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad).mul(dy).sum())([x, f]);
    const t = tf.conv2dTranspose(dy, f, c.x, c.stride, c.pad as 'same' | 'valid' | number);
    return [y, dx, df, t].map((r) => ({ shape: r.shape, data: r.dataSync() }));
  });
}

/** The largest error of each result of `compute` on wasm, relative to the largest value of the cpu backend's. */
async function againstCpu(c: Case, seed: number): Promise<{ errors: number[]; got: Float32Array[] }> {
  await tf.setBackend('cpu');
  const want = compute(c, seed);
  await tf.setBackend('wasm');
  const got = compute(c, seed);
  const errors = want.map((w, j) => {
    assert.deepEqual(got[j].shape, w.shape);
    let [scale, err] = [1e-6, 0];
    for (let e = 0; e < w.data.length; e++) {
      scale = Math.max(scale, Math.abs(w.data[e]));
      err = Math.max(err, Math.abs(w.data[e] - got[j].data[e]));
    }
    return err / scale;
  });
  return { errors, got: got.map((g) => g.data as Float32Array) };
}

const RESULTS = ['conv2d', 'dx', 'dfilter', 'conv2dTranspose'];

test('Conv2D, Conv2DBackpropInput and Conv2DBackpropFilter on wasm match the cpu backend', async () => {
  const all = cases();
  assert.ok(all.length > 300, `${all.length} cases`);
  let worst = 0;
  for (const [i, c] of all.entries()) {
    const { errors } = await againstCpu(c, i + 1);
    for (const [j, rel] of errors.entries()) {
      worst = Math.max(worst, rel);
      assert.ok(rel < 1e-5, `${RESULTS[j]} ${JSON.stringify(c)}: relative error ${rel}`);
    }
  }
  assert.ok(worst > 0, 'the two backends really computed separately');
});

test('4×4 stride-2 convolutions (Winograd on wasm) match the cpu backend, and the direct kernels', async () => {
  // [n, h, w, ci], co: even output sizes and channels in fours, as Winograd takes them; blocks of 128 and 256
  // tiles and of 512 inner products are crossed, and Co off the 8-column panels
  const shapes: [[number, number, number, number], number][] = [[[1, 4, 4, 4], 4], [[2, 8, 8, 4], 8], [[3, 8, 12, 8], 12],
    [[2, 16, 8, 16], 4], [[1, 4, 8, 12], 20], [[3, 32, 24, 4], 8], [[5, 32, 32, 4], 4], [[1, 4, 4, 136], 8], [[1, 4, 4, 4], 516],
    [[2, 12, 4, 32], 36]];
  const backend = () => tf.findBackend('wasm') as BackendWasm;
  for (const [i, [x, co]] of shapes.entries()) {
    for (const pad of ['same', 1] as const) {
      const c: Case = { x, k: 4, co, stride: 2, pad };
      const winograd = await againstCpu(c, 100 + i);
      useWinograd(backend(), false);
      const direct = await againstCpu(c, 100 + i).finally(() => useWinograd(backend(), true));
      for (const [j, rel] of winograd.errors.entries()) {
        assert.ok(rel < 1e-5, `${RESULTS[j]} ${JSON.stringify(c)}: relative error ${rel}`);
        assert.ok(direct.errors[j] < 1e-5);
      }
      // the other summation order shows in the last bits: the Winograd kernels really ran
      assert.ok(winograd.got.some((g, j) => g.some((v, e) => v !== direct.got[j][e])), `${JSON.stringify(c)}: Winograd ran`);
    }
  }
});

test('conv.wasm and ops.wasm have no data of their own, so importing the backend\'s memory writes nothing into it', () => {
  for (const name of ['conv', 'ops']) noData(fs.readFileSync(new URL(`../${name}.wasm`, import.meta.url))); // dist/
});

function noData(bytes: Uint8Array<ArrayBuffer>) {
  const sections: number[] = [];
  for (let at = 8; at < bytes.length;) { // after the magic number and version: id, LEB128 size, contents
    sections.push(bytes[at++]);
    let size = 0;
    for (let shift = 0; ; shift += 7) {
      const b = bytes[at++];
      size |= (b & 0x7f) << shift;
      if (b < 0x80) break;
    }
    at += size;
  }
  assert.ok(sections.includes(10), 'the module has code');
  assert.ok(!sections.includes(11), 'no data section');
  assert.deepEqual(WebAssembly.Module.imports(new WebAssembly.Module(bytes)).map((i) => `${i.module}.${i.name}:${i.kind}`).sort(),
    ['env.memory:memory']);
}

test('dilated Conv2D on wasm matches the cpu backend', async () => {
  // seeds from 1: a seed of 0 means a fresh random draw on each backend
  for (const [i, [h, w, k, dilation, pad]] of ([[9, 9, 3, 2, 'same'], [10, 7, 2, [3, 1], 'valid'], [12, 12, 3, 4, 'same']] as const).entries()) {
    await sameOnBoth(() => tf.conv2d(tf.randomNormal([2, h, w, 5], 0, 1, 'float32', i + 1) as tf.Tensor4D,
      tf.randomNormal([k, k, 5, 9], 0, 1, 'float32', i + 2) as tf.Tensor4D, 1, pad, 'NHWC', dilation as number), `dilation ${dilation}`, 1e-5);
  }
});

/** Runs `f` on the cpu backend and on wasm and compares the results (relative to the largest value). */
async function sameOnBoth(f: () => tf.Tensor, what: string, tolerance = 1e-6) {
  await tf.setBackend('cpu');
  const want = tf.tidy(f);
  const wantData = want.dataSync();
  await tf.setBackend('wasm');
  const got = tf.tidy(f);
  assert.deepEqual(got.shape, want.shape, what);
  assert.equal(got.dtype, want.dtype, what);
  const gotData = got.dataSync();
  let scale = 1e-6;
  let err = 0;
  for (let i = 0; i < wantData.length; i++) {
    scale = Math.max(scale, Math.abs(wantData[i]));
    err = Math.max(err, Math.abs(wantData[i] - gotData[i]));
  }
  assert.ok(err / scale <= tolerance, `${what}: relative error ${err / scale}`);
  tf.dispose([want, got]);
}

test('Sum and Mean over leading axes (and the rest, which fall back) match the cpu backend', async () => {
  const x = () => tf.randomNormal([4, 5, 6, 7], 0, 1, 'float32', 3);
  for (const axes of [[0, 1, 2], [0], [0, 1], [0, 1, 2, 3], [1, 2], [3], [0, 2]]) {
    for (const keepDims of [false, true]) {
      await sameOnBoth(() => tf.sum(x(), axes, keepDims), `sum ${axes} ${keepDims}`);
      await sameOnBoth(() => tf.mean(x(), axes, keepDims), `mean ${axes} ${keepDims}`);
    }
  }
  await sameOnBoth(() => tf.sum(tf.tensor2d([[1, 2], [3, 4]], [2, 2], 'int32'), 0), 'int32 sum');
});

test('Tile, Identity and Cast match the cpu backend; a shared copy outlives its source', async () => {
  await sameOnBoth(() => tf.tile(tf.range(0, 5).reshape([1, 1, 1, 5]), [3, 4, 2, 1]), 'per-channel tile');
  await sameOnBoth(() => tf.tile(tf.tensor2d([[1, 2, 3], [4, 5, 6]]), [2, 3]), 'general tile');
  await sameOnBoth(() => tf.tile(tf.tensor1d([1, 2], 'int32'), [3]), 'int32 tile');
  await sameOnBoth(() => tf.cast(tf.tensor1d([1.5, -2.5]), 'int32'), 'cast to int32');
  await tf.setBackend('wasm');
  const x = tf.tensor1d([1, 2, 3]);
  const copies = [tf.clone(x), tf.cast(x, 'float32')];
  x.dispose();
  for (const c of copies) assert.deepEqual(Array.from(c.dataSync()), [1, 2, 3]);
  tf.dispose(copies);
});

/** Runs `f` on the cpu backend (where src/fused.ts's ops run their tfjs definitions) and on wasm (our kernels). */
async function fusedOnBoth(f: () => tf.Tensor[], what: string, tolerance: number) {
  const results: Float32Array[][] = [];
  for (const backend of ['cpu', 'wasm']) {
    await tf.setBackend(backend);
    results.push(tf.tidy(f).map((t) => {
      const data = t.dataSync() as Float32Array;
      t.dispose();
      return data;
    }));
  }
  const [want, got] = results;
  assert.equal(got.length, want.length);
  for (const [j, w] of want.entries()) {
    assert.equal(got[j].length, w.length, `${what}: result ${j}'s size`);
    let [scale, err] = [1e-6, 0];
    for (let i = 0; i < w.length; i++) {
      if (Number.isFinite(w[i])) scale = Math.max(scale, Math.abs(w[i]));
      if (!Object.is(w[i], got[j][i])) err = Math.max(err, Math.abs(w[i] - got[j][i])); // NaN or an infinity: only itself
    }
    assert.ok(err / scale <= tolerance, `${what}: result ${j} off by ${err / scale} (relative)`);
  }
}

test('BatchNorm in training, forward and backward, on our wasm kernels matches its tfjs definition on the cpu backend', async () => {
  for (const [n, h, w, c] of [[4, 3, 5, 8], [2, 4, 4, 5], [3, 2, 2, 12], [1, 7, 3, 3]]) {
    await fusedOnBoth(() => {
      const layer = tf.layers.batchNormalization({ momentum: 0.5, gammaInitializer: tf.initializers.randomNormal({ mean: 1, stddev: 0.3, seed: 1 }),
        betaInitializer: tf.initializers.randomNormal({ mean: 0, stddev: 0.3, seed: 2 }) });
      layer.build([null, h, w, c]);
      const x = tf.randomNormal([n, h, w, c], 3, 2, 'float32', 3) as tf.Tensor4D; // off zero: the centred sums matter
      const dy = tf.randomNormal([n, h, w, c], 0, 1, 'float32', 4);
      const [gamma, beta, movingMean, movingVariance] = layer.weights.map((v) => v.read());
      const f = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
        layer.weights[0].write(g);
        layer.weights[1].write(b);
        return tf.sum(tf.mul(batchNorm(layer, x as tf.Tensor4D, { batch: n }), dy));
      };
      const grads = tf.grads(f)([x, gamma, beta]);
      const y = batchNorm(layer, x, { batch: n });
      const out = [y, ...grads, movingMean.clone(), movingVariance.clone()];
      layer.weights.forEach((v) => v.dispose());
      return out;
    }, `BatchNorm [${n},${h},${w},${c}]`, 1e-5);
  }
});

test('LeakyReLU and its gradient, and ReLU\'s, on our wasm kernels match tfjs on the cpu backend', async () => {
  for (const shape of [[2, 3, 5, 7], [4, 4], [13], [0, 3]]) {
    await fusedOnBoth(() => {
      const x = tf.randomNormal(shape, 0, 1, 'float32', 5);
      const dy = tf.randomNormal(shape, 0, 1, 'float32', 6);
      return [tf.leakyRelu(x, 0.2), ...[(t: tf.Tensor) => tf.leakyRelu(t, 0.2), tf.relu].map((f) => tf.grad((t) => tf.sum(tf.mul(f(t), dy)))(x))];
    }, `shape ${shape}`, 1e-7); // the cpu backend multiplies by alpha in double precision
  }
});

test('Tanh on our wasm kernel matches the cpu backend bit for bit; a bias Add too, and other Adds fall back', async () => {
  const xs = Array.from({ length: 40001 }, (_, i) => (i - 20000) / 1000).concat([0, -0, 1e-8, -1e-30, 30, -100, NaN, Infinity, -Infinity]);
  await fusedOnBoth(() => [tf.tanh(tf.tensor1d(xs)), tf.tanh(tf.randomNormal([3, 5, 7], 0, 3, 'float32', 9))], 'tanh', 0);
  for (const [x, b] of [[[2, 3, 5, 8], [8]], [[2, 3, 5, 8], [1, 1, 1, 8]], [[6], [6, 7, 6]], [[4, 5], [4, 1]], [[3, 6], [3, 6]], [[1, 7], [1, 7]]]) {
    await fusedOnBoth(() => {
      const [a, c] = [tf.randomNormal(x, 0, 1, 'float32', 11), tf.randomNormal(b, 0, 1, 'float32', 12)];
      return [tf.add(a, c), tf.add(c, a)];
    }, `add [${x}] [${b}]`, 0);
  }
});

test('Adam on our wasm kernel updates bit for bit as its tfjs definition on the cpu backend', async () => {
  await fusedOnBoth(() => {
    const vars = [tf.variable(tf.randomNormal([3, 5, 7], 0, 1, 'float32', 7)), tf.variable(tf.randomNormal([9], 0, 1, 'float32', 8))];
    const adam = new Adam(vars, { lr: 0.01, beta1: 0.5, beta2: 0.999, eps: 1e-8 });
    for (let step = 0; step < 3; step++) adam.apply(vars.map((v, i) => tf.randomNormal(v.shape, 0, 1, 'float32', 10 * step + i + 1)));
    const out = [...vars, ...adam.m, ...adam.v].map((v) => v.clone());
    tf.dispose(vars);
    adam.dispose();
    return out;
  }, 'Adam', 0);
});

test('the moving average of G on our wasm kernel updates bit for bit as its tfjs definition on the cpu backend', async () => {
  await fusedOnBoth(() => {
    const gan = createGan(loadConfig(16, { width: 4, ema: 0.9 }));
    for (let step = 0; step < 3; step++) {
      gan.G.trainableWeights.forEach((w, i) => w.write(tf.randomNormal(w.shape as number[], 0, 1, 'float32', 10 * step + i + 1)));
      updateEma(gan, 0.9, step);
    }
    const out = gan.ema!.trainableWeights.map((w) => w.read().clone());
    disposeGan(gan);
    return out;
  }, 'EMA', 0);
});

test('the gradients of Sum and Mean are the broadcast of dy', async () => {
  await tf.setBackend('wasm');
  const c = tf.tensor1d([1, -2, 3]);
  const x = tf.ones([2, 4, 3]);
  const gMean = tf.grad((t: tf.Tensor) => tf.mean(t, [0, 1]).mul(c).sum())(x);
  const gSum = tf.grad((t: tf.Tensor) => tf.sum(t, [0, 1]).mul(c).sum())(x);
  assert.deepEqual(gMean.shape, [2, 4, 3]);
  assert.deepEqual(Array.from(gSum.dataSync()), Array(8).fill([1, -2, 3]).flat());
  for (const [i, v] of Array.from(gMean.dataSync()).entries()) assert.ok(Math.abs(v - [1, -2, 3][i % 3] / 8) < 1e-7);
  tf.dispose([c, x, gMean, gSum]);
});

test('the kernels leak no tensor and no wasm memory', async () => {
  await tf.setBackend('wasm');
  const c: Case = { x: [4, 16, 16, 8], k: 4, co: 16, stride: 2, pad: 'same' };
  const layer = tf.layers.batchNormalization({});
  layer.build([null, 4, 4, 8]);
  const vars = layer.trainableWeights.map((w) => w.read() as tf.Variable);
  const adam = new Adam(vars, { lr: 0.1, beta1: 0.5, beta2: 0.9, eps: 1e-8 });
  const fusedOps = () => tf.tidy(() => {
    const x = tf.randomNormal([2, 4, 4, 8]) as tf.Tensor4D;
    const { grads } = tf.variableGrads(() => tf.sum(tf.leakyRelu(batchNorm(layer, x, { batch: 2 }), 0.2)), vars);
    adam.apply(vars.map((v) => grads[v.name]));
  });
  const round = (i: number) => {
    compute(c, i);
    fusedOps();
  };
  round(1);
  const before = tf.memory();
  for (let i = 0; i < 20; i++) round(i);
  const after = tf.memory();
  assert.equal(after.numTensors, before.numTensors);
  assert.equal(after.numBytes, before.numBytes);
  adam.dispose();
  layer.weights.forEach((w) => w.dispose());
});
