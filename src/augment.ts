// Differentiable augmentation (Zhao et al. 2020, "DiffAugment"): every image D sees, real or fake, gets a
// random colour change, translation and cutout, made of ops that gradients flow through, so G still learns
// through D. It keeps D from memorising a small face set. The random draws are data (drawn with the
// step's other inputs from the seed), so a resumed or threaded run augments exactly as an unbroken one.
import * as tf from '@tensorflow/tfjs';
import type { Rng } from './rng.js';

/** Per image: brightness, saturation, contrast, shift x, shift y, cutout x, cutout y. */
export const AUG_PARAMS = 7;

/** Random draws for a batch of n images, laid out [n, AUG_PARAMS] (so a batch slices by image). */
export function drawAugment(rng: Rng, n: number, res: number): Float32Array {
  const out = new Float32Array(n * AUG_PARAMS);
  const shift = Math.floor(res / 8);
  for (let i = 0; i < out.length; i += AUG_PARAMS) {
    out[i] = rng.uniform() - 0.5; // brightness: + [-0.5, 0.5)
    out[i + 1] = rng.uniform() * 2; // saturation: × [0, 2)
    out[i + 2] = rng.uniform() + 0.5; // contrast: × [0.5, 1.5)
    out[i + 3] = rng.int(2 * shift + 1) - shift; // translation by up to 1/8 of the image, zero filled
    out[i + 4] = rng.int(2 * shift + 1) - shift;
    out[i + 5] = rng.int(res); // centre of a res/2 square cut out
    out[i + 6] = rng.int(res);
  }
  return out;
}

/** One-hot matrices [n, len, len] moving row r to r + shift (rows moved off the edge vanish). */
function shiftMatrices(shifts: number[], len: number): tf.Tensor3D {
  const m = new Float32Array(shifts.length * len * len);
  shifts.forEach((s, b) => {
    for (let r = 0; r < len; r++) if (r - s >= 0 && r - s < len) m[(b * len + r) * len + r - s] = 1;
  });
  return tf.tensor3d(m, [shifts.length, len, len]);
}

/** Augments images [n, res, res, 3] with their draws. */
export function augment(x: tf.Tensor4D, draws: Float32Array): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    const p = (k: number) => Array.from({ length: n }, (_, b) => draws[b * AUG_PARAMS + k]);
    const perImage = (k: number) => tf.tensor4d(p(k), [n, 1, 1, 1]);
    let y: tf.Tensor4D = x.add(perImage(0));
    const grey = y.mean(3, true);
    y = y.sub(grey).mul(perImage(1)).add(grey);
    const mean = y.mean([1, 2, 3], true);
    y = y.sub(mean).mul(perImage(2)).add(mean);
    // translation: rows, then columns, each a batched matMul with one-hot shift matrices
    y = tf.matMul(shiftMatrices(p(4), h), y.reshape([n, h, w * c])).reshape([n, h, w, c]);
    const t = tf.matMul(shiftMatrices(p(3), w), y.transpose([0, 2, 1, 3]).reshape([n, w, h * c]));
    y = t.reshape([n, w, h, c]).transpose([0, 2, 1, 3]);
    // cutout: a res/2 square of zeros
    const mask = new Float32Array(n * h * w).fill(1);
    const [cx, cy] = [p(5), p(6)];
    for (let b = 0; b < n; b++) {
      for (let r = Math.max(0, cy[b] - (h >> 2)); r < Math.min(h, cy[b] + (h >> 2)); r++) {
        for (let q = Math.max(0, cx[b] - (w >> 2)); q < Math.min(w, cx[b] + (w >> 2)); q++) mask[(b * h + r) * w + q] = 0;
      }
    }
    return y.mul(tf.tensor4d(mask, [n, h, w, 1]));
  });
}
