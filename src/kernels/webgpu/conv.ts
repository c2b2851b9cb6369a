// The two convolution gradients of training on webgpu, as tiled matrix products in WGSL. tfjs-backend-webgpu
// 4.22 runs both as one GPU thread per output value that loops over everything it sums, reading every
// operand from memory each time:
//  - Conv2DBackpropFilter (every filter gradient): one thread per filter weight, looping over batch × height
//    × width. D's first layer at res 64 (4×4×3×64 weights) is 3,072 threads of 65,536 steps each, where a
//    GPU wants ~100,000 threads in flight. Here: im2col(x)ᵀ · dy, with the long reduction split over
//    workgroups (split-K) and the parts summed in a fixed order, so the result is the same every run.
//  - Conv2DBackpropInput (every transposed convolution of G, and the gradient D passes back to G): one
//    thread per input value. tfjs's matrix-product version (WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE = false) is
//    tiled but multiplies the zeros of the stride-dilated input too: 3 products in 4 are 0·w at stride 2.
//    Here: one dense product per output phase (the pixels at (y mod s, x mod s)), which reads only the
//    filter taps that phase really uses.
// Both share one product: a 16-deep shared-memory tile, several outputs a thread, each output summed by one
// thread in a fixed order.
import * as tf from '@tensorflow/tfjs';
// Types only: the package registers its backend when first loaded, and must not be loaded before
// navigator.gpu is there (src/backend.ts), nor at all by commands on other backends.
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';

type TensorInfo = tf.TensorInfo;
type Uniform = { type: 'int32'; data: number[] };
interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}

/** The fields of tfjs-backend-webgpu's WebGPUProgram that it reads (webgpu_program.ts): it writes the header
 * (bindings `result` and one array per variable name, `uniforms`, the builtins) and calls our `main`. */
interface Program {
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[]; y?: number[]; z?: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  uniforms?: string;
  size?: boolean;
  getUserCode(): string;
}

const run = (backend: WebGPUBackend, program: Program, inputs: TensorInfo[], uniforms: Uniform[]) =>
  (backend as unknown as { runWebGPUProgram(p: Program, i: TensorInfo[], dtype: string, u: Uniform[]): TensorInfo })
    .runWebGPUProgram(program, inputs, 'float32', uniforms);

/** Output tile tm × tn of a workgroup; each thread computes rm × rn of it. Narrow outputs (3 colour
 * channels, 1 logit) get narrow tiles, so most threads are not computing padding. */
interface Tile {
  tm: number;
  tn: number;
  rm: number;
  rn: number;
}
const TILES: Tile[] = [
  { tm: 128, tn: 4, rm: 1, rn: 4 },
  { tm: 128, tn: 16, rm: 2, rn: 4 },
  { tm: 64, tn: 64, rm: 4, rn: 4 },
];
const TK = 16; // depth of a tile: 16 × (tm + tn) floats of workgroup memory, under WebGPU's 16 KiB minimum

function tileFor(n: number): Tile {
  return TILES.find((t) => n <= t.tn) ?? TILES[TILES.length - 1];
}

/**
 * A product C[m, n] = Σ_k A[m, k]·B[k, n] over k in [kBegin, kEnd), for the output tile of this workgroup.
 * `defs` declares readA(m, k), readB(k, n), writeC(m, n, value) and the per-workgroup `kRange()`, which
 * returns (kBegin, kEnd); `fast` says which index of A and of B is contiguous in memory, so that neighbouring
 * threads load neighbouring values.
 */
function gemm(t: Tile, defs: string, fast: { a: 'm' | 'k'; b: 'n' | 'k' }): string {
  const tx = t.tn / t.rn; // threads along n
  const ty = t.tm / t.rm; // threads along m
  const threads = tx * ty;
  const load = (name: string, rows: number, fastIndex: 'outer' | 'k', read: string) => {
    const count = Math.ceil((TK * rows) / threads);
    const [outer, inner] = fastIndex === 'outer' ? [`e % ${rows}`, `e / ${rows}`] : [`e / ${TK}`, `e % ${TK}`];
    return `for (var i = 0; i < ${count}; i++) {
        let e = t + i * ${threads};
        if (e < ${TK * rows}) {
          let o = ${outer};
          let kk = ${inner};
          var v = 0.0;
          if (k0 + kk < kEnd) { v = ${read}; }
          ${name}[kk][o] = v;
        }
      }`;
  };
  const fmas: string[] = [];
  for (let i = 0; i < t.rm; i++) for (let j = 0; j < t.rn; j++) fmas.push(`acc[${i * t.rn + j}] = fma(a[${i}], b[${j}], acc[${i * t.rn + j}]);`);
  return `
    var<workgroup> As: array<array<f32, ${t.tm}>, ${TK}>;
    var<workgroup> Bs: array<array<f32, ${t.tn}>, ${TK}>;
    var<workgroup> bounds: vec2<i32>;
    ${defs}
    fn main() {
      let t = i32(localIndex);
      let col = i32(localId.x);
      let row = i32(localId.y);
      let m0 = i32(workgroupId.y) * ${t.tm};
      let n0 = i32(workgroupId.x) * ${t.tn};
      let mine = kRange();
      if (t == 0) { bounds = mine; }
      let r = workgroupUniformLoad(&bounds); // the same in every thread, but WGSL cannot tell: barriers need it to know
      let kEnd = r.y;
      var acc: array<f32, ${t.rm * t.rn}>;
      for (var k0 = r.x; k0 < kEnd; k0 += ${TK}) {
        ${load('As', t.tm, fast.a === 'm' ? 'outer' : 'k', 'readA(m0 + o, k0 + kk)')}
        ${load('Bs', t.tn, fast.b === 'n' ? 'outer' : 'k', 'readB(k0 + kk, n0 + o)')}
        workgroupBarrier();
        for (var kk = 0; kk < ${TK}; kk++) {
          var a: array<f32, ${t.rm}>;
          var b: array<f32, ${t.rn}>;
          ${Array.from({ length: t.rm }, (_, i) => `a[${i}] = As[kk][row + ${i * ty}];`).join(' ')}
          ${Array.from({ length: t.rn }, (_, j) => `b[${j}] = Bs[kk][col + ${j * tx}];`).join(' ')}
          ${fmas.join('\n          ')}
        }
        workgroupBarrier();
      }
      ${Array.from({ length: t.rm * t.rn }, (_, q) => `writeC(m0 + row + ${Math.floor(q / t.rn) * ty}, n0 + col + ${(q % t.rn) * tx}, acc[${q}]);`).join('\n      ')}
    }`;
}

function gemmProgram(name: string, t: Tile, variableNames: string[], outputShape: number[], uniforms: [string, number][],
  grid: [number, number, number], defs: string, fast: { a: 'm' | 'k'; b: 'n' | 'k' }): [Program, Uniform[]] {
  const program: Program = {
    variableNames,
    outputShape,
    shaderKey: `gan_${name}_${t.tm}x${t.tn}`,
    dispatchLayout: { x: [0], y: [1], z: [2] }, // not the output's rank: tfjs writes no coordinate helpers for it
    dispatch: grid,
    workgroupSize: [t.tn / t.rn, t.tm / t.rm, 1],
    uniforms: uniforms.map(([u]) => `${u} : i32,`).join(' '),
    getUserCode: () => gemm(t, defs, fast),
  };
  return [program, uniforms.map(([, v]) => ({ type: 'int32', data: [v] }))];
}

const convInfo = (xShape: number[], filterShape: number[], attrs: tf.NamedAttrMap) => {
  const { strides, pad, dimRoundingMode } = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  return tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number], filterShape as [number, number, number, number],
    strides, 1, pad, dimRoundingMode, false, 'channelsLast');
};

/** Workgroups that keep a large GPU busy; a split-K part sums at least MIN_PART products. */
const TARGET_WORKGROUPS = 512;
const MIN_PART = 256;

/** dW[kh, kw, ci, co] = Σ_{b, oy, ox} x[b, oy·sh - pt + kh, ox·sw - pl + kw, ci] · dy[b, oy, ox, co]. */
export function conv2DBackpropFilter({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const c = convInfo(x.shape, (attrs as unknown as tf.Conv2DBackpropFilterAttrs).filterShape, attrs!);
  const M = c.filterHeight * c.filterWidth * c.inChannels;
  const N = c.outChannels;
  const K = c.batchSize * c.outHeight * c.outWidth;
  const t = tileFor(N);
  const tiles = Math.ceil(M / t.tm) * Math.ceil(N / t.tn);
  const parts = Math.max(1, Math.min(Math.ceil(TARGET_WORKGROUPS / tiles), Math.floor(K / MIN_PART)));
  const part = Math.ceil(K / parts / TK) * TK;
  const splits = Math.ceil(K / part);
  const [program, uniforms] = gemmProgram('filterGrad', t, ['x', 'dy'], splits === 1 ? c.filterShape : [splits, M * N], [
    ['H', c.inHeight], ['W', c.inWidth], ['CI', c.inChannels], ['OH', c.outHeight], ['OW', c.outWidth], ['KW', c.filterWidth],
    ['SH', c.strideHeight], ['SW', c.strideWidth], ['PT', c.padInfo.top], ['PL', c.padInfo.left],
    ['M', M], ['N', N], ['K', K], ['PART', part],
  ], [Math.ceil(N / t.tn), Math.ceil(M / t.tm), splits], `
    fn kRange() -> vec2<i32> {
      let begin = i32(workgroupId.z) * uniforms.PART;
      return vec2<i32>(begin, min(uniforms.K, begin + uniforms.PART));
    }
    fn readA(m : i32, k : i32) -> f32 {
      if (m >= uniforms.M) { return 0.0; }
      let kh = m / (uniforms.KW * uniforms.CI);
      let kw = (m / uniforms.CI) % uniforms.KW;
      let pixel = k % (uniforms.OH * uniforms.OW);
      let iy = (pixel / uniforms.OW) * uniforms.SH - uniforms.PT + kh;
      let ix = (pixel % uniforms.OW) * uniforms.SW - uniforms.PL + kw;
      if (iy < 0 || iy >= uniforms.H || ix < 0 || ix >= uniforms.W) { return 0.0; }
      let b = k / (uniforms.OH * uniforms.OW);
      return x[((b * uniforms.H + iy) * uniforms.W + ix) * uniforms.CI + m % uniforms.CI];
    }
    fn readB(k : i32, n : i32) -> f32 {
      if (n >= uniforms.N) { return 0.0; }
      return dy[k * uniforms.N + n];
    }
    fn writeC(m : i32, n : i32, value : f32) {
      if (m < uniforms.M && n < uniforms.N) {
        result[(i32(workgroupId.z) * uniforms.M + m) * uniforms.N + n] = value;
      }
    }`, { a: 'm', b: 'n' });
  const b = backend as WebGPUBackend;
  const out = run(b, program, [x, dy], uniforms);
  if (splits === 1) return out;
  const sum = run(b, sumProgram(c.filterShape), [out], [{ type: 'int32', data: [splits] }]);
  b.disposeData(out.dataId);
  return sum;
}

/** Sums the split-K parts [parts, size] into the output, in order. */
function sumProgram(outputShape: number[]): Program {
  return {
    variableNames: ['parts'],
    outputShape,
    shaderKey: 'gan_sumParts',
    dispatchLayout: { x: outputShape.map((_, i) => i) }, // flat: main gets the output index
    dispatch: [Math.ceil(tf.util.sizeFromShape(outputShape) / 64), 1, 1],
    workgroupSize: [64, 1, 1],
    size: true,
    uniforms: 'count : i32,',
    getUserCode: () => `
      fn main(index : i32) {
        if (index < uniforms.size) {
          var s = 0.0;
          for (var i = 0; i < uniforms.count; i++) {
            s += parts[i * uniforms.size + index];
          }
          setOutputAtIndex(index, s);
        }
      }`,
  };
}

/**
 * dx[b, iy, ix, ci] = Σ w[kh, kw, ci, co] · dy[b, oy, ox, co] over the taps with iy = oy·sh - pt + kh (and
 * likewise for x). Output pixels of one phase (iy + pt ≡ py mod sh, ix + pl ≡ px mod sw) use the taps
 * kh = py + j·sh, kw = px + l·sw and no others: one dense product per phase, the phase in workgroupId.z.
 */
export function conv2DBackpropInput({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const c = convInfo((attrs as unknown as tf.Conv2DBackpropInputAttrs).inputShape, filter.shape, attrs!);
  if (c.outHeight === 1 && c.outWidth === 1 && c.inHeight === c.filterHeight && c.inWidth === c.filterWidth &&
    c.padInfo.top === 0 && c.padInfo.left === 0) return dense(dy, filter, c, backend as WebGPUBackend);
  const [sh, sw] = [c.strideHeight, c.strideWidth];
  const t = tileFor(c.inChannels);
  const rows = c.batchSize * Math.ceil(c.inHeight / sh) * Math.ceil(c.inWidth / sw); // of the largest phase
  const [program, uniforms] = gemmProgram('inputGrad', t, ['dy', 'w'], c.inShape, [
    ['B', c.batchSize], ['H', c.inHeight], ['W', c.inWidth], ['CI', c.inChannels], ['OH', c.outHeight], ['OW', c.outWidth], ['CO', c.outChannels],
    ['KH', c.filterHeight], ['KW', c.filterWidth], ['SH', sh], ['SW', sw], ['PT', c.padInfo.top], ['PL', c.padInfo.left],
  ], [Math.ceil(c.inChannels / t.tn), Math.ceil(rows / t.tm), sh * sw], `
    // This workgroup's phase: its first pixel (iy0, ix0), pixel counts (hp, wp), taps (jh, jw) and the dy
    // row and column (oy0, ox0) that its first pixel's first tap reads.
    struct Phase { py : i32, px : i32, iy0 : i32, ix0 : i32, hp : i32, wp : i32, jh : i32, jw : i32, oy0 : i32, ox0 : i32 };
    fn phase() -> Phase {
      var p : Phase;
      p.py = i32(workgroupId.z) / uniforms.SW;
      p.px = i32(workgroupId.z) % uniforms.SW;
      p.iy0 = ((p.py - uniforms.PT) % uniforms.SH + uniforms.SH) % uniforms.SH;
      p.ix0 = ((p.px - uniforms.PL) % uniforms.SW + uniforms.SW) % uniforms.SW;
      p.hp = max(0, (uniforms.H - p.iy0 + uniforms.SH - 1) / uniforms.SH);
      p.wp = max(0, (uniforms.W - p.ix0 + uniforms.SW - 1) / uniforms.SW);
      p.jh = max(0, (uniforms.KH - p.py + uniforms.SH - 1) / uniforms.SH);
      p.jw = max(0, (uniforms.KW - p.px + uniforms.SW - 1) / uniforms.SW);
      p.oy0 = (p.iy0 + uniforms.PT - p.py) / uniforms.SH;
      p.ox0 = (p.ix0 + uniforms.PL - p.px) / uniforms.SW;
      return p;
    }
    var<private> ph : Phase;
    fn kRange() -> vec2<i32> {
      ph = phase();
      return vec2<i32>(0, ph.jh * ph.jw * uniforms.CO);
    }
    fn readA(m : i32, k : i32) -> f32 {
      let perImage = ph.hp * ph.wp;
      if (m >= uniforms.B * perImage) { return 0.0; }
      let pixel = m % perImage;
      let tap = k / uniforms.CO;
      let oy = ph.oy0 + pixel / ph.wp - tap / ph.jw;
      let ox = ph.ox0 + pixel % ph.wp - tap % ph.jw;
      if (oy < 0 || oy >= uniforms.OH || ox < 0 || ox >= uniforms.OW) { return 0.0; }
      return dy[(((m / perImage) * uniforms.OH + oy) * uniforms.OW + ox) * uniforms.CO + k % uniforms.CO];
    }
    fn readB(k : i32, n : i32) -> f32 {
      if (n >= uniforms.CI) { return 0.0; }
      let tap = k / uniforms.CO;
      let kh = ph.py + (tap / ph.jw) * uniforms.SH;
      let kw = ph.px + (tap % ph.jw) * uniforms.SW;
      return w[((kh * uniforms.KW + kw) * uniforms.CI + n) * uniforms.CO + k % uniforms.CO];
    }
    fn writeC(m : i32, n : i32, value : f32) {
      let perImage = ph.hp * ph.wp;
      if (m < uniforms.B * perImage && n < uniforms.CI) {
        let pixel = m % perImage;
        let iy = ph.iy0 + (pixel / ph.wp) * uniforms.SH;
        let ix = ph.ix0 + (pixel % ph.wp) * uniforms.SW;
        result[(((m / perImage) * uniforms.H + iy) * uniforms.W + ix) * uniforms.CI + n] = value;
      }
    }`, { a: 'k', b: 'k' });
  return run(backend as WebGPUBackend, program, [dy, filter], uniforms);
}

/**
 * A 1×1 dy and a filter as large as the input (G's first layer, z -> 4×4; D's logit, backwards): each output
 * pixel takes one tap, and the phase product would be 15 parts zeros in 16. It is the product dy[B, CO] ·
 * w[KH·KW·CI, CO]ᵀ.
 */
function dense(dy: TensorInfo, filter: TensorInfo, c: tf.backend_util.Conv2DInfo, backend: WebGPUBackend): TensorInfo {
  const [M, N, K] = [c.batchSize, c.filterHeight * c.filterWidth * c.inChannels, c.outChannels];
  const t = tileFor(N);
  const [program, uniforms] = gemmProgram('denseInputGrad', t, ['dy', 'w'], c.inShape, [['M', M], ['N', N], ['K', K]],
    [Math.ceil(N / t.tn), Math.ceil(M / t.tm), 1], `
    fn kRange() -> vec2<i32> {
      return vec2<i32>(0, uniforms.K);
    }
    fn readA(m : i32, k : i32) -> f32 {
      if (m >= uniforms.M) { return 0.0; }
      return dy[m * uniforms.K + k];
    }
    fn readB(k : i32, n : i32) -> f32 {
      if (n >= uniforms.N) { return 0.0; }
      return w[n * uniforms.K + k];
    }
    fn writeC(m : i32, n : i32, value : f32) {
      if (m < uniforms.M && n < uniforms.N) { result[m * uniforms.N + n] = value; }
    }`, { a: 'k', b: 'k' });
  return run(backend, program, [dy, filter], uniforms);
}
