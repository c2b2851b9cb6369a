// Architectures: an architecture builds G and D from the config and says how each runs in training. Both
// are plain tfjs layers models, so they save in the layers format that tfjs-node or a browser loads unchanged;
// every speed-up lives below, in kernels registered per backend (src/kernels/).
import * as tf from '@tensorflow/tfjs';
import type { ArchName, ModelConfig } from './config.js';
import { batchNorm, conv2d, SpectralConv2D, type Training } from './layers.js';

export interface Architecture {
  /** z [batch, latent] -> images [batch, res, res, 3] in [-1, 1]. */
  generator(c: ModelConfig, seed: number): tf.LayersModel;
  /** images -> one logit each [batch, 1] (real > 0). */
  discriminator(c: ModelConfig, seed: number): tf.LayersModel;
  /** G and D in training mode: BatchNorm over the whole batch, across threads. */
  generate(G: tf.LayersModel, z: tf.Tensor2D, t: Training): tf.Tensor4D;
  discriminate(D: tf.LayersModel, x: tf.Tensor4D, t: Training): tf.Tensor2D;
}

/** Stride-2 stages between 4×4 and res. */
export function stages(res: number): number {
  return Math.log2(res) - 2;
}

// N(0, 0.02) weights, BatchNorm gamma N(1, 0.02), as in the paper. Seeded, so a run's seed fixes its start.
const STDDEV = 0.02;
const weights = (seed: number) => tf.initializers.randomNormal({ mean: 0, stddev: STDDEV, seed });
const gammas = (seed: number) => tf.initializers.randomNormal({ mean: 1, stddev: STDDEV, seed });
// PyTorch's BatchNorm defaults (momentum 0.1 there is 0.9 here).
const batchNormLayer = (name: string, seed: number) =>
  tf.layers.batchNormalization({ name, momentum: 0.9, epsilon: 1e-5, gammaInitializer: gammas(seed) });

// Biases: a convolution followed by BatchNorm has none (BatchNorm subtracts the mean, and its beta is the
// bias), as in PyTorch's dcgan example; the first layer of D and the last of each network have no
// BatchNorm after them, so they keep one, as Radford et al.'s own code does (PyTorch's example drops
// those three too; with them, D's first layer can shift its LeakyReLU and G's output its tanh).

/** The classic DCGAN (Radford et al. 2015): 4×4 kernels, stride 2, BatchNorm, ReLU in G, LeakyReLU 0.2 in D,
 * tanh output, one logit. With spectralNorm, D's convolutions are spectrally normalised and D has no
 * BatchNorm (as SNGAN's D). */
export const dcgan: Architecture = {
  generator(c, seed) {
    const n = stages(c.res);
    let ch = c.width * 2 ** (n - 1);
    const model = tf.sequential({ name: 'generator' });
    model.add(tf.layers.reshape({ targetShape: [1, 1, c.latent], inputShape: [c.latent], name: 'z' }));
    // 1×1 -> 4×4
    model.add(tf.layers.conv2dTranspose({ name: 'g_up0', filters: ch, kernelSize: 4, strides: 1, padding: 'valid',
      useBias: false, kernelInitializer: weights(seed + 1) }));
    model.add(batchNormLayer('g_bn0', seed + 2));
    model.add(tf.layers.reLU({ name: 'g_relu0' }));
    for (let i = 1; i < n; i++) {
      ch /= 2; // each stage doubles the size and halves the width
      model.add(tf.layers.conv2dTranspose({ name: `g_up${i}`, filters: ch, kernelSize: 4, strides: 2, padding: 'same',
        useBias: false, kernelInitializer: weights(seed + 10 * i + 1) }));
      model.add(batchNormLayer(`g_bn${i}`, seed + 10 * i + 2));
      model.add(tf.layers.reLU({ name: `g_relu${i}` }));
    }
    model.add(tf.layers.conv2dTranspose({ name: `g_up${n}`, filters: 3, kernelSize: 4, strides: 2, padding: 'same',
      kernelInitializer: weights(seed + 10 * n + 1) }));
    model.add(tf.layers.activation({ name: 'g_tanh', activation: 'tanh' }));
    return model;
  },

  discriminator(c, seed) {
    const n = stages(c.res);
    const conv = (name: string, filters: number, strides: number, padding: 'same' | 'valid', useBias: boolean, s: number,
      inputShape?: number[]) => c.spectralNorm
      // no BatchNorm follows a spectrally normalised convolution: each keeps its bias
      ? new SpectralConv2D({ name, filters, kernelSize: 4, strides, padding, useBias: true, stddev: STDDEV, seed: s, ...(inputShape && { inputShape }) })
      : tf.layers.conv2d({ name, filters, kernelSize: 4, strides, padding, useBias, kernelInitializer: weights(s), ...(inputShape && { inputShape }) });
    let ch = c.width;
    const model = tf.sequential({ name: 'discriminator' });
    model.add(conv('d_down0', ch, 2, 'same', true, seed + 101, [c.res, c.res, 3]));
    model.add(tf.layers.leakyReLU({ name: 'd_lrelu0', alpha: 0.2 }));
    for (let i = 1; i < n; i++) {
      ch *= 2;
      model.add(conv(`d_down${i}`, ch, 2, 'same', false, seed + 100 + 10 * i + 1));
      if (!c.spectralNorm) model.add(batchNormLayer(`d_bn${i}`, seed + 100 + 10 * i + 2));
      model.add(tf.layers.leakyReLU({ name: `d_lrelu${i}`, alpha: 0.2 }));
    }
    // 4×4 -> 1×1: one logit
    model.add(conv(`d_down${n}`, 1, 1, 'valid', true, seed + 100 + 10 * n + 1));
    model.add(tf.layers.flatten({ name: 'd_logit' }));
    return model;
  },

  generate: (G, z, t) => layerByLayer(G, z, t) as tf.Tensor4D,
  discriminate: (D, x, t) => layerByLayer(D, x, t) as tf.Tensor2D,
};

/** A Sequential model in training mode, layer by layer: BatchNorm and Conv2D our way, the rest as tfjs runs them. */
function layerByLayer(model: tf.LayersModel, x: tf.Tensor, t: Training): tf.Tensor {
  if (!(model instanceof tf.Sequential)) throw new Error(`${model.name}: the dcgan architecture trains Sequential models`);
  let y = x;
  for (const layer of model.layers) {
    const kind = layer.getClassName();
    if (kind === 'BatchNormalization') y = batchNorm(layer, y as tf.Tensor4D, t);
    else if (kind === 'Conv2D') y = conv2d(layer, y as tf.Tensor4D);
    else y = layer.apply(y, { training: true }) as tf.Tensor;
  }
  return y;
}

export const ARCHITECTURES: Record<ArchName, Architecture> = { dcgan };
