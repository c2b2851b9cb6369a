// How the layers of G and D run in training, below the architectures: BatchNorm over the whole batch across
// threads, convolutions as plain ops, and spectral normalisation as a layer of its own. Imports tfjs alone,
// so a browser can load a checkpoint that uses SpectralConv2D after importing this file.
import * as tf from '@tensorflow/tfjs';

/** Sums equal-length arrays over the training threads; every thread gets the same sums. */
export type SumAcross = (values: Float32Array) => Float32Array;

/** How layers run in training. */
export interface Training {
  /** Images in the whole batch, over all threads. */
  batch: number;
  /** Adds up per-channel sums across threads (absent with one thread). */
  across?: SumAcross;
  /** Momentum of BatchNorm's moving statistics (default: the layer's own); 0 sets them to this batch's. */
  momentum?: number;
}

const settings = new WeakMap<tf.layers.Layer, Record<string, unknown>>();
/** A layer's settings, read once: getConfig serialises the whole layer, every step otherwise. */
export function settingsOf<T>(layer: tf.layers.Layer): T {
  let s = settings.get(layer);
  if (!s) settings.set(layer, (s = layer.getConfig() as Record<string, unknown>));
  return s as T;
}

/** Refuses a layer setting that the training code would otherwise drop silently. */
function expect(layer: tf.layers.Layer, ok: boolean, what: string): void {
  if (!ok) throw new Error(`${layer.name} (${layer.getClassName()}): training supports ${what} only`);
}

interface ConvSettings {
  strides: [number, number];
  padding: 'same' | 'valid';
  dilationRate: number | number[];
  activation: string;
  dataFormat: string;
  useBias: boolean;
}

/**
 * A Conv2D layer as a plain tf.conv2d and a bias: tfjs-layers runs Conv2D as a fused op whose gradient
 * always computes the filter gradient too, which the generator step (it needs only the gradient with
 * respect to the images) would pay for a third of D's backward pass for nothing.
 */
export function conv2d(layer: tf.layers.Layer, x: tf.Tensor4D): tf.Tensor4D {
  const s = settingsOf<ConvSettings>(layer);
  expect(layer, [s.dilationRate].flat().every((d) => d === 1), 'dilation 1');
  expect(layer, s.activation === 'linear' && s.dataFormat === 'channelsLast', 'a linear activation and channels last');
  const [kernel, bias] = layer.trainableWeights.map((w) => w.read());
  const y = tf.conv2d(x, kernel as tf.Tensor4D, s.strides, s.padding);
  return bias ? tf.add(y, bias) : y;
}

interface BatchNormSettings {
  axis: number;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
}

const AXES = [0, 1, 2]; // NHWC: statistics per channel

/** A BatchNormalization layer in training mode, normalising with the whole batch's statistics. */
export function batchNorm(layer: tf.layers.Layer, x: tf.Tensor4D, t: Training): tf.Tensor4D {
  const s = settingsOf<BatchNormSettings>(layer);
  expect(layer, (s.axis === -1 || s.axis === 3) && s.center && s.scale, 'axis -1 with center and scale');
  const [gamma, beta, movingMean, movingVariance] = layer.weights; // the order tfjs adds them in
  const momentum = t.momentum ?? s.momentum;
  // tfjs's own update, moving -= (moving - batch)·(1 - momentum), done inside the op (its intermediates are freed there)
  const track = (mean: tf.Tensor, variance: tf.Tensor) => {
    for (const [moving, batch] of [[movingMean, mean], [movingVariance, variance]] as const) {
      moving.write(momentum === 0 ? batch : tf.sub(moving.read(), tf.mul(tf.sub(moving.read(), batch), 1 - momentum)));
    }
  };
  return normalise(x, gamma.read() as tf.Tensor1D, beta.read() as tf.Tensor1D, s.epsilon, t, track);
}

/** Per-channel sums of x over the whole batch: this thread's, added to the other threads'. */
function sumAll(x: tf.Tensor, t: Training): tf.Tensor1D {
  const local = tf.sum(x, AXES) as tf.Tensor1D;
  return t.across ? tf.tensor1d(t.across(local.dataSync() as Float32Array)) : local;
}

/**
 * (x - mean) / sqrt(variance + eps) · gamma + beta with the batch's statistics, and its gradient written out,
 * so that the two sums of the backward pass are added across threads too:
 *   dx = gamma / std · (dy - mean(dy) - x̂ · mean(dy · x̂)),  dgamma = Σ dy · x̂,  dbeta = Σ dy,
 * the means over the whole batch; dgamma and dbeta stay this thread's (every variable's gradient is added
 * across threads after the backward pass). The variance is the biased one, as tfjs and PyTorch normalise.
 */
function normalise(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon: number, t: Training,
  track: (mean: tf.Tensor, variance: tf.Tensor) => void): tf.Tensor4D {
  const count = t.batch * x.shape[1] * x.shape[2]; // values per channel in the whole batch
  const op = tf.customGrad((...args) => {
    const [x, gamma, beta] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const mean = tf.div(sumAll(x, t), count);
    const centred = tf.sub(x, mean);
    const variance = tf.div(sumAll(tf.square(centred), t), count);
    track(mean, variance);
    const rstd = tf.rsqrt(tf.add(variance, epsilon));
    const xhat = tf.mul(centred, rstd);
    save([xhat, rstd, gamma]);
    return {
      value: tf.add(tf.mul(xhat, gamma), beta),
      gradFunc: (dy: tf.Tensor, [xhat, rstd, gamma]: tf.Tensor[]) => {
        const [dgamma, dbeta] = [tf.sum(tf.mul(dy, xhat), AXES), tf.sum(dy, AXES)];
        const both = tf.concat([dgamma, dbeta]);
        const sums = t.across ? tf.tensor1d(t.across(both.dataSync() as Float32Array)) : both;
        const [meanDyXhat, meanDy] = tf.split(tf.div(sums, count), 2);
        const dx = tf.mul(tf.sub(tf.sub(dy, meanDy), tf.mul(xhat, meanDyXhat)), tf.mul(gamma, rstd));
        return [dx, dgamma, dbeta];
      },
    };
  });
  return op(x, gamma, beta) as tf.Tensor4D;
}

export interface SpectralConv2DArgs extends tf.serialization.ConfigDict {
  filters: number;
  kernelSize: number;
  strides: number;
  padding: 'same' | 'valid';
  useBias: boolean;
  /** Kernel N(0, stddev) and the power iteration's start vector, from this seed. */
  stddev: number;
  seed: number;
  name: string;
}

/**
 * Conv2D whose kernel is divided by its largest singular value (spectral normalisation, Miyato et al. 2018),
 * estimated by one step of power iteration per training call, as PyTorch's spectral_norm does: u (a vector
 * per output filter) is kept as a non-trainable weight, so it is saved with the model and a loaded D gives
 * the same logits. Gradients flow through the kernel in σ = uᵀ·W·v, not through u and v.
 */
export class SpectralConv2D extends tf.layers.Layer {
  static className = 'SpectralConv2D';
  private kernel?: tf.LayerVariable;
  private bias?: tf.LayerVariable;
  private u?: tf.LayerVariable;

  constructor(readonly args: SpectralConv2DArgs) {
    super(args);
  }

  override build(inputShape: tf.Shape): void {
    const { filters, kernelSize: k, stddev, seed, useBias } = this.args;
    const normal = (seed: number) => tf.initializers.randomNormal({ mean: 0, stddev, seed });
    this.kernel = this.addWeight('kernel', [k, k, inputShape[3]!, filters], 'float32', normal(seed));
    if (useBias) this.bias = this.addWeight('bias', [filters], 'float32', tf.initializers.zeros());
    this.u = this.addWeight('u', [filters, 1], 'float32', tf.initializers.randomNormal({ mean: 0, stddev: 1, seed: seed + 1 }), undefined, false);
    this.built = true;
  }

  override computeOutputShape(s: tf.Shape): tf.Shape {
    const { filters, kernelSize: k, strides, padding } = this.args;
    const out = (n: number) => Math.floor(((padding === 'same' ? n : n - k + 1) + strides - 1) / strides);
    return [s[0], out(s[1]!), out(s[2]!), filters];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
    const kernel = this.kernel!.read();
    const w = tf.reshape(kernel, [-1, this.args.filters]) as tf.Tensor2D; // [taps·in, out]: Wᵀ in PyTorch's terms
    const [u, v] = powerIteration(w, this.u!.read() as tf.Tensor2D, kwargs.training === true);
    if (kwargs.training) this.u!.write(u);
    const sigma = tf.sum(tf.mul(tf.matMul(w, u), v)); // vᵀ·W·u
    const y = tf.conv2d(x, tf.div(kernel, sigma) as tf.Tensor4D, this.args.strides, this.args.padding);
    return this.bias ? tf.add(y, this.bias.read()) : y;
  }

  override getConfig(): tf.serialization.ConfigDict {
    const { filters, kernelSize, strides, padding, useBias, stddev, seed } = this.args;
    return { ...super.getConfig(), filters, kernelSize, strides, padding, useBias, stddev, seed };
  }
}
tf.serialization.registerClass(SpectralConv2D);

/**
 * v = normalise(W·u), then (in training) u = normalise(Wᵀ·v): the singular vectors' estimates, as constants
 * for the gradient (computed inside a custom op, which the gradient tape does not look into).
 */
function powerIteration(w: tf.Tensor2D, u: tf.Tensor2D, update: boolean): [tf.Tensor2D, tf.Tensor2D] {
  const unit = (a: tf.Tensor2D) => tf.div(a, tf.add(tf.norm(a), 1e-12)) as tf.Tensor2D;
  const uv = tf.customGrad((...args) => {
    const [w, u] = args as tf.Tensor2D[];
    const v = unit(tf.matMul(w, u));
    const next = update ? unit(tf.matMul(w, v, true)) : u;
    return { value: tf.concat([next, v]), gradFunc: () => [tf.zerosLike(w), tf.zerosLike(u)] };
  })(w, u);
  const filters = u.shape[0];
  return [tf.slice(uv, [0, 0], [filters, 1]), tf.slice(uv, [filters, 0], [-1, 1])] as [tf.Tensor2D, tf.Tensor2D];
}
