// The classic DCGAN (Radford et al. 2015, as PyTorch's dcgan example builds it), one definition for every
// resolution: 4×4 kernels, stride 2, BatchNorm, ReLU in G, LeakyReLU 0.2 in D, tanh output, one logit.
// Plain tfjs layers, so both models save in the layers format that tfjs-node or a browser loads unchanged;
// every speed-up lives below, in kernels registered per backend (src/kernels/).
import * as tf from '@tensorflow/tfjs';

export interface ModelConfig {
  res: number; // 16, 32, 64 or 128
  latent: number; // size of z (100)
  width: number; // filters of D's first layer and G's last hidden layer (64)
}

/** Stride-2 stages between 4×4 and res. */
export function stages(res: number): number {
  return Math.log2(res) - 2;
}

// N(0, 0.02) weights, BatchNorm gamma N(1, 0.02), as in the paper. Seeded, so a run's seed fixes its start.
const weights = (seed: number) => tf.initializers.randomNormal({ mean: 0, stddev: 0.02, seed });
const gammas = (seed: number) => tf.initializers.randomNormal({ mean: 1, stddev: 0.02, seed });
// PyTorch's BatchNorm defaults (momentum 0.1 there is 0.9 here).
const batchNorm = (name: string, seed: number) =>
  tf.layers.batchNormalization({ name, momentum: 0.9, epsilon: 1e-5, gammaInitializer: gammas(seed) });

/** z [batch, latent] -> image [batch, res, res, 3] in [-1, 1]. */
export function buildGenerator(c: ModelConfig, seed = 0): tf.LayersModel {
  const n = stages(c.res);
  let ch = c.width * 2 ** (n - 1);
  const model = tf.sequential({ name: 'generator' });
  model.add(tf.layers.reshape({ targetShape: [1, 1, c.latent], inputShape: [c.latent], name: 'z' }));
  // 1×1 -> 4×4
  model.add(tf.layers.conv2dTranspose({ name: 'g_up0', filters: ch, kernelSize: 4, strides: 1, padding: 'valid',
    useBias: false, kernelInitializer: weights(seed + 1) }));
  model.add(batchNorm('g_bn0', seed + 2));
  model.add(tf.layers.reLU({ name: 'g_relu0' }));
  for (let i = 1; i < n; i++) {
    ch /= 2; // each stage doubles the size and halves the width
    model.add(tf.layers.conv2dTranspose({ name: `g_up${i}`, filters: ch, kernelSize: 4, strides: 2, padding: 'same',
      useBias: false, kernelInitializer: weights(seed + 10 * i + 1) }));
    model.add(batchNorm(`g_bn${i}`, seed + 10 * i + 2));
    model.add(tf.layers.reLU({ name: `g_relu${i}` }));
  }
  model.add(tf.layers.conv2dTranspose({ name: `g_up${n}`, filters: 3, kernelSize: 4, strides: 2, padding: 'same',
    kernelInitializer: weights(seed + 10 * n + 1) }));
  model.add(tf.layers.activation({ name: 'g_tanh', activation: 'tanh' }));
  return model;
}

/** image [batch, res, res, 3] -> logit [batch, 1] (real > 0). */
export function buildDiscriminator(c: ModelConfig, seed = 0): tf.LayersModel {
  const n = stages(c.res);
  let ch = c.width;
  const model = tf.sequential({ name: 'discriminator' });
  model.add(tf.layers.conv2d({ name: 'd_down0', inputShape: [c.res, c.res, 3], filters: ch, kernelSize: 4, strides: 2,
    padding: 'same', kernelInitializer: weights(seed + 101) }));
  model.add(tf.layers.leakyReLU({ name: 'd_lrelu0', alpha: 0.2 }));
  for (let i = 1; i < n; i++) {
    ch *= 2;
    model.add(tf.layers.conv2d({ name: `d_down${i}`, filters: ch, kernelSize: 4, strides: 2, padding: 'same',
      useBias: false, kernelInitializer: weights(seed + 100 + 10 * i + 1) }));
    model.add(batchNorm(`d_bn${i}`, seed + 100 + 10 * i + 2));
    model.add(tf.layers.leakyReLU({ name: `d_lrelu${i}`, alpha: 0.2 }));
  }
  // 4×4 -> 1×1: one logit
  model.add(tf.layers.conv2d({ name: `d_down${n}`, filters: 1, kernelSize: 4, strides: 1, padding: 'valid',
    kernelInitializer: weights(seed + 100 + 10 * n + 1) }));
  model.add(tf.layers.flatten({ name: 'd_logit' }));
  return model;
}

type ConvConfig = { strides: [number, number]; padding: 'same' | 'valid' };
const convConfigs = new WeakMap<tf.layers.Layer, ConvConfig>();
/** A Conv2D layer's strides and padding, read once: getConfig serialises the whole layer, every step otherwise. */
function convConfig(layer: tf.layers.Layer): ConvConfig {
  let c = convConfigs.get(layer);
  if (!c) convConfigs.set(layer, (c = layer.getConfig() as ConvConfig));
  return c;
}

/**
 * D in training mode, layer by layer, with each convolution as a plain tf.conv2d: tfjs-layers runs Conv2D
 * as a fused op whose gradient always computes the filter gradient too, and the generator step, which
 * only needs the gradient with respect to the images, would pay for a third of D's backward pass for
 * nothing. Same weights and the same result as D.apply(x, { training: true }).
 */
export function applyDiscriminator(D: tf.LayersModel, x: tf.Tensor): tf.Tensor {
  let y = x;
  for (const layer of D.layers) {
    if (layer.getClassName() === 'Conv2D') {
      const { strides, padding } = convConfig(layer);
      const [kernel, bias] = layer.trainableWeights.map((w) => w.read());
      y = tf.conv2d(y as tf.Tensor4D, kernel as tf.Tensor4D, strides, padding);
      if (bias) y = tf.add(y, bias);
    } else {
      y = layer.apply(y, { training: true }) as tf.Tensor;
    }
  }
  return y;
}
