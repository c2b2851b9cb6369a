// `npm run -s build && node dist/bench/kernels.js`: the webgpu kernels of a training step at the real layer
// shapes (default res 64, batch 64, width 64), ours beside tfjs-backend-webgpu's own, in one process. One JSON
// line per measure. On a software adapter (SwiftShader) these are CPU figures: the lines say `software: true`.
//   node dist/bench/kernels.js [--res 64] [--batch 64] [--width 64] [--only conv|other]
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend.js';
import { STOCK } from '../src/kernels/webgpu/index.js';
import { stages } from '../src/model.js';

const { values: args } = parseArgs({
  options: { res: { type: 'string', default: '64' }, batch: { type: 'string', default: '64' }, width: { type: 'string', default: '64' },
    only: { type: 'string' } },
});
const [RES, B, WIDTH] = [Number(args.res), Number(args.batch), Number(args.width)];
const print = (o: Record<string, unknown>) => console.log(JSON.stringify(o));

interface Conv {
  layer: string;
  x: [number, number, number, number];
  co: number;
  stride: number;
  pad: 'same' | 'valid';
}

/** D's convolutions; G's transposed ones are the same geometries (x: G's output side) but for its first. */
function geometries(): Conv[] {
  const n = stages(RES);
  const out: Conv[] = [];
  for (let i = 0, ch = 3, size = RES; i < n; i++, size /= 2) {
    const co = WIDTH * 2 ** i;
    out.push({ layer: `d_down${i} / g_up${n - i}`, x: [B, size, size, ch], co, stride: 2, pad: 'same' });
    ch = co;
  }
  const top = WIDTH * 2 ** (n - 1);
  out.push({ layer: `d_down${n}`, x: [B, 4, 4, top], co: 1, stride: 1, pad: 'valid' });
  out.push({ layer: 'g_up0', x: [B, 4, 4, top], co: 100, stride: 1, pad: 'valid' });
  return out;
}

const backend = () => tf.backend();

/** One call's GPU time (timestamp queries: the shader's compilation, done on the CPU before, is not in it),
 * and its wall time with the read-back. */
async function time(f: () => tf.TensorInfo): Promise<{ gpu_ms: number; wall_ms: number }> {
  let out: tf.TensorInfo | undefined;
  const t0 = performance.now();
  const { kernelMs } = await tf.time(() => void (out = f()));
  const t = tf.engine().makeTensorFromTensorInfo(out!);
  await t.data();
  t.dispose();
  return { gpu_ms: +Number(kernelMs).toFixed(1), wall_ms: +(performance.now() - t0).toFixed(1) };
}

/** The tensors of one layer's kernels, already on the GPU. */
async function tensors(g: Conv, batch: number) {
  const onGpu = (shape: number[], seed: number) => tf.tidy(() => tf.randomNormal(shape, 0, 1, 'float32', seed).add(0));
  const x = onGpu([batch, ...g.x.slice(1)], 1);
  const filter = onGpu([4, 4, g.x[3], g.co], 2);
  const dy = tf.tidy(() => onGpu(tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, g.stride, g.pad).shape, 3));
  await dy.data();
  return { x, filter, dy };
}

async function conv(g: Conv, software: boolean) {
  const w = [4, 4, g.x[3], g.co];
  const full = await tensors(g, g.x[0]);
  const attrs = { strides: [g.stride, g.stride], pad: g.pad, dataFormat: 'NHWC', dimRoundingMode: undefined, dilations: [1, 1] };
  type T = typeof full;
  const call = (name: string, fn: tf.KernelFunc | undefined, inputs: (t: T) => tf.NamedTensorInfoMap, extra: (t: T) => object) => (t: T) => () =>
    (fn ?? tf.getKernel(name, 'webgpu')!.kernelFunc)({ inputs: inputs(t), backend: backend(), attrs: { ...attrs, ...extra(t) } as unknown as tf.NamedAttrMap }) as tf.TensorInfo;
  const filterGrad = (fn?: tf.KernelFunc) => call('Conv2DBackpropFilter', fn, (t) => ({ x: t.x, dy: t.dy }), () => ({ filterShape: w }));
  const inputGrad = (fn?: tf.KernelFunc) => call('Conv2DBackpropInput', fn, (t) => ({ dy: t.dy, filter: t.filter }), (t) => ({ inputShape: t.x.shape }));
  const naive = (on: boolean) => () => tf.env().set('WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE', on);
  const runs: [string, string, (t: T) => () => tf.TensorInfo, (() => void)?][] = [
    ['Conv2D', 'stock', call('Conv2D', undefined, (t) => ({ x: t.x, filter: t.filter }), () => ({}))],
    ['Conv2DBackpropFilter', 'stock', filterGrad(STOCK.get('Conv2DBackpropFilter'))],
    ['Conv2DBackpropFilter', 'ours', filterGrad()],
    ['Conv2DBackpropInput', 'stock naive', inputGrad(STOCK.get('Conv2DBackpropInput')), naive(true)],
    ['Conv2DBackpropInput', 'stock matmul', inputGrad(STOCK.get('Conv2DBackpropInput')), naive(false)],
    ['Conv2DBackpropInput', 'ours', inputGrad()],
  ];
  for (const [kernel, variant, f, setUp] of runs) {
    setUp?.();
    print({ measure: 'kernel', kernel, variant, layer: g.layer, x: g.x, filter: w, stride: g.stride, pad: g.pad, ...await time(f(full)), software });
  }
  naive(true)();
  tf.dispose(Object.values(full));
}

/** BatchNorm (training mode) forward and backward, LeakyReLU's gradient, softplus: kernel times from tf.profile. */
async function others(software: boolean) {
  const n = stages(RES);
  const shapes: number[][] = [];
  for (let i = 1, size = RES / 4; i < n; i++, size /= 2) shapes.push([B, size, size, WIDTH * 2 ** i]); // D's BatchNorm inputs
  const cases: [string, number[], (x: tf.Tensor) => tf.Tensor][] = [
    ...shapes.map((s): [string, number[], (x: tf.Tensor) => tf.Tensor] => ['BatchNorm forward+backward', s, (x) => {
      const layer = tf.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5 });
      return tf.grad((v: tf.Tensor) => (layer.apply(v, { training: true }) as tf.Tensor).square().sum())(x);
    }]),
    ...shapes.map((s): [string, number[], (x: tf.Tensor) => tf.Tensor] => ['LeakyReLU forward+backward', s,
      (x) => tf.grad((v: tf.Tensor) => tf.leakyRelu(v, 0.2).sum())(x)]),
    ['softplus forward+backward', [B, 1], (x) => tf.grad((v: tf.Tensor) => tf.softplus(v).mean())(x)],
  ];
  for (const [what, shape, f] of cases) {
    const x = tf.tidy(() => tf.randomNormal(shape, 0, 1, 'float32', 4).add(0));
    await tf.tidy(() => f(x)).data(); // compiles
    const p = await tf.profile(async () => {
      const r = tf.tidy(() => f(x));
      await r.data();
      r.dispose();
    });
    const byKernel: Record<string, number> = {};
    for (const k of p.kernels) byKernel[k.name] = +((byKernel[k.name] ?? 0) + Number(await k.kernelTimeMs)).toFixed(2);
    print({ measure: 'ops', what, shape, kernel_ms: byKernel, software });
    x.dispose();
  }
}

const choice = await initBackend('webgpu');
const software = choice.software === true;
print({ measure: 'setup', adapter: choice.on, software, res: RES, batch: B, width: WIDTH });
if (args.only !== 'other') for (const g of geometries()) await conv(g, software);
if (args.only !== 'conv') await others(software);
