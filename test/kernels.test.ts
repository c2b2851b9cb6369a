// Our wasm kernels against the cpu backend (the reference), on many shapes.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend.js';

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
  const sizes: [number, number][] = [[7, 7], [9, 13], [8, 8], [5, 6]];
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
  return out;
}

/** Both gradients of conv2d (input: Conv2DBackpropInput, filter: Conv2DBackpropFilter) and conv2dTranspose. */
function compute(c: Case, seed: number) {
  return tf.tidy(() => {
    const x = tf.randomNormal(c.x, 0, 1, 'float32', seed) as tf.Tensor4D;
    const f = tf.randomNormal([c.k, c.k, c.x[3], c.co], 0, 1, 'float32', seed + 1) as tf.Tensor4D;
    const y = tf.conv2d(x, f, c.stride, c.pad);
    const dy = tf.randomNormal(y.shape, 0, 1, 'float32', seed + 2) as tf.Tensor4D;
    const [dx, df] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad).mul(dy).sum())([x, f]);
    const t = tf.conv2dTranspose(dy, f, c.x, c.stride, c.pad as 'same' | 'valid' | number);
    return [dx, df, t].map((r) => ({ shape: r.shape, data: r.dataSync() }));
  });
}

test('Conv2DBackpropInput and Conv2DBackpropFilter on wasm match the cpu backend', async () => {
  const all = cases();
  assert.ok(all.length > 300, `${all.length} cases`);
  let worst = 0;
  for (const [i, c] of all.entries()) {
    await tf.setBackend('cpu');
    const want = compute(c, i + 1);
    await tf.setBackend('wasm');
    const got = compute(c, i + 1);
    for (let j = 0; j < 3; j++) {
      assert.deepEqual(got[j].shape, want[j].shape);
      let scale = 0;
      let err = 0;
      for (let e = 0; e < want[j].data.length; e++) {
        scale = Math.max(scale, Math.abs(want[j].data[e]));
        err = Math.max(err, Math.abs(want[j].data[e] - got[j].data[e]));
      }
      const rel = err / Math.max(scale, 1e-6);
      worst = Math.max(worst, rel);
      assert.ok(rel < 1e-5, `${['dx', 'dfilter', 'conv2dTranspose'][j]} ${JSON.stringify(c)}: relative error ${rel}`);
    }
  }
  assert.ok(worst > 0, 'the two backends really computed separately');
});

test('the kernels leak no tensor and no wasm memory', async () => {
  await tf.setBackend('wasm');
  const c: Case = { x: [4, 16, 16, 8], k: 4, co: 16, stride: 2, pad: 'same' };
  compute(c, 1);
  const before = tf.memory();
  for (let i = 0; i < 20; i++) compute(c, i);
  const after = tf.memory();
  assert.equal(after.numTensors, before.numTensors);
  assert.equal(after.numBytes, before.numBytes);
});
