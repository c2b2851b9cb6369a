// The kernels of src/fused.ts's ops on wasm, and LeakyReLU, on dist/ops.wasm (assembly/ops.ts): one or two
// passes over memory each, where tfjs's ops make several with a tensor each (BatchNorm was about a tenth of
// a step, LeakyReLU and its gradient another, Adam a few hundredths; the generator's moving average is
// updated after every step while the other threads wait).
import * as tf from '@tensorflow/tfjs';
import { at, compile, instantiate, withScratch, type BackendWasm, type Kernel, type KernelArgs, type TensorInfo } from './wasm.js';

interface OpsModule {
  leakyRelu(x: number, y: number, n: number, alpha: number): void;
  leakyReluGrad(dy: number, x: number, dx: number, n: number, alpha: number): void;
  channelSums(x: number, rows: number, C: number, mean: number, acc: number, out: number): void;
  normGradSums(dy: number, x: number, rows: number, C: number, mean: number, rstd: number, acc: number, out: number): void;
  normalize(x: number, y: number, rows: number, C: number, mean: number, rstd: number, gamma: number, beta: number, scratch: number): void;
  normGrad(dy: number, x: number, dx: number, rows: number, C: number, mean: number, rstd: number, gamma: number,
    meanDyXhat: number, meanDy: number, scratch: number): void;
  adam(w: number, m: number, v: number, g: number, w2: number, m2: number, v2: number, n: number,
    b1: number, c1: number, b2: number, c2: number, step: number, eps: number): void;
  ema(avg: number, g: number, out: number, n: number, d: number, c: number): void;
  addChannels(x: number, b: number, y: number, rows: number, C: number): void;
  tanh(x: number, y: number, n: number): void;
}

const module = (backend: BackendWasm) => instantiate<OpsModule>(backend, compile('ops'));

/** The backend, the module, where each input starts, and [rows, channels] of the first (NHWC as [rows][C]). */
function setup(args: KernelArgs) {
  const backend = args.backend as BackendWasm;
  const inputs = args.inputs as Record<string, TensorInfo>;
  for (const [name, t] of Object.entries(inputs)) if (t.dtype !== 'float32') throw new Error(`${name}: float32 only, not ${t.dtype}`);
  const first = Object.values(inputs)[0];
  const C = first.shape.at(-1) ?? 1;
  const size = tf.util.sizeFromShape(first.shape);
  const place = Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, at(backend, t)]));
  return { backend, m: module(backend), place, first, C, rows: C ? size / C : 0, size };
}

/** LeakyReLU in place of wasm's (a scalar loop); other dtypes go to the original. */
export const leakyRelu = (original: Kernel): Kernel => (args) => {
  if ((args.inputs.x as TensorInfo).dtype !== 'float32') return original(args);
  const { backend, m, place, first, size } = setup(args);
  const y = backend.makeOutput(first.shape, 'float32');
  m.leakyRelu(place.x, at(backend, y), size, (args.attrs as unknown as tf.LeakyReluAttrs).alpha);
  return y;
};

/** Tanh in place of wasm's (~14 ns an element); other dtypes go to the original. */
export const tanh = (original: Kernel): Kernel => (args) => {
  if ((args.inputs.x as TensorInfo).dtype !== 'float32') return original(args);
  const { backend, m, place, first, size } = setup(args);
  const y = backend.makeOutput(first.shape, 'float32');
  m.tanh(place.x, at(backend, y), size);
  return y;
};

/**
 * Add of a bias over the last axis (a [C] or [1,…,1,C] tensor to an […, C] one, either way round, as layers add
 * their biases) as one pass; the rest goes to the original, which broadcasts generally.
 */
export const addBias = (original: Kernel): Kernel => (args) => {
  const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
  const isBias = (v: TensorInfo, x: TensorInfo) => v.shape.length <= x.shape.length && v.shape.slice(0, -1).every((d) => d === 1) &&
    v.shape.at(-1) === x.shape.at(-1) && tf.util.sizeFromShape(x.shape) > tf.util.sizeFromShape(v.shape);
  const [x, bias] = isBias(b, a) ? [a, b] : isBias(a, b) ? [b, a] : [];
  if (!x || x.dtype !== 'float32' || bias!.dtype !== 'float32') return original(args);
  const backend = args.backend as BackendWasm;
  const C = x.shape.at(-1)!;
  const y = backend.makeOutput(x.shape, 'float32');
  module(backend).addChannels(at(backend, x), at(backend, bias!), at(backend, y), tf.util.sizeFromShape(x.shape) / C, C);
  return y;
};

/** Our kernels that tfjs has not: their names are those src/fused.ts and gradients.ts ask for. */
export const OPS: Record<string, Kernel> = {
  /** dx = x > 0 ? dy : alpha·dy; inputs dy, x. */
  GanLeakyReluGrad(args) {
    const { backend, m, place, first, size } = setup(args);
    const dx = backend.makeOutput(first.shape, 'float32');
    m.leakyReluGrad(place.dy, place.x, at(backend, dx), size, (args.attrs as { alpha: number }).alpha);
    return dx;
  },
  /** Per-channel Σ x, or Σ (x - mean)² with a mean. */
  GanChannelSums(args) {
    const { backend, m, place, C, rows } = setup(args);
    const out = backend.makeOutput([C], 'float32');
    withScratch(backend, 8 * C, (acc) => m.channelSums(place.x, rows, C, place.mean ?? 0, acc, at(backend, out)));
    return out;
  },
  /** Per channel, [Σ dy·x̂ | Σ dy] with x̂ = (x - mean)·rstd. */
  GanNormGradSums(args) {
    const { backend, m, place, C, rows } = setup(args);
    const out = backend.makeOutput([2 * C], 'float32');
    withScratch(backend, 16 * C, (acc) => m.normGradSums(place.dy, place.x, rows, C, place.mean, place.rstd, acc, at(backend, out)));
    return out;
  },
  /** (x - mean)·rstd·gamma + beta. */
  GanNormalize(args) {
    const { backend, m, place, first, C, rows } = setup(args);
    const y = backend.makeOutput(first.shape, 'float32');
    withScratch(backend, 4 * C, (s) => m.normalize(place.x, at(backend, y), rows, C, place.mean, place.rstd, place.gamma, place.beta, s));
    return y;
  },
  /** gamma·rstd·(dy - meanDy - x̂·meanDyXhat). */
  GanNormGrad(args) {
    const { backend, m, place, first, C, rows } = setup(args);
    const dx = backend.makeOutput(first.shape, 'float32');
    withScratch(backend, 12 * C, (s) => m.normGrad(place.dy, place.x, at(backend, dx), rows, C, place.mean, place.rstd, place.gamma,
      place.meanDyXhat, place.meanDy, s));
    return dx;
  },
  /** Adam's update of w with gradient g: [w', m', v']. */
  GanAdam(args) {
    const { backend, m, place, first, size } = setup(args);
    const { beta1, beta2, step, eps } = args.attrs as { beta1: number; beta2: number; step: number; eps: number };
    const out = [0, 1, 2].map(() => backend.makeOutput(first.shape, 'float32'));
    m.adam(place.w, place.m, place.v, place.g, ...out.map((t) => at(backend, t)) as [number, number, number], size,
      beta1, 1 - beta1, beta2, 1 - beta2, step, eps);
    return out as unknown as TensorInfo;
  },
  /** The moving average avg·decay + g·(1 - decay). */
  GanEma(args) {
    const { backend, m, place, first, size } = setup(args);
    const { decay } = args.attrs as { decay: number };
    const out = backend.makeOutput(first.shape, 'float32');
    m.ema(place.avg, place.g, at(backend, out), size, decay, 1 - decay);
    return out;
  },
};
