// Lanczos-3 resampling of a square crop to res×res RGB: the last step of preprocessing for every image,
// whichever decoder read it. The filter taps are computed here, in 16-bit fixed point for the two passes,
// which run in WebAssembly SIMD on integers (assembly/resize.ts, ~21 µs for a CelebA face). Sampling is
// centre-aligned, as PIL and libvips' reduce do it (libvips shifts enlargements by up to half a pixel, which
// is why sharp does not resize).
import * as fs from 'node:fs';

interface Kernel {
  memory: WebAssembly.Memory;
  heapBase(): number;
  resize(src: number, rowBytes: number, side: number, res: number, first: number, K: number,
    w1: number, s1: number, w2: number, s2: number, p: number, v: number, t: number, out: number): void;
}

let kernel: Kernel | undefined;
function load(): Kernel {
  const wasm = fs.readFileSync(new URL('../../resize.wasm', import.meta.url)); // dist/resize.wasm
  const env = { abort: () => { throw new Error('resize.wasm aborted'); } };
  return (kernel = new WebAssembly.Instance(new WebAssembly.Module(wasm), { env }).exports as unknown as Kernel);
}

const lanczos3 = (x: number) => {
  if (x === 0) return 1;
  if (Math.abs(x) >= 3) return 0;
  const px = Math.PI * x;
  return (3 * Math.sin(px) * Math.sin(px / 3)) / (px * px);
};

/** The K taps of each output sample: inputs first[j] .. first[j]+K-1 with weights summing to 1. */
export interface Taps {
  first: Int32Array;
  weights: Float32Array; // [outSize][K]
  K: number;
}

/** f(inSize, outSize), computed once for each pair of sizes. */
function perSizes<T>(f: (inSize: number, outSize: number) => T): (inSize: number, outSize: number) => T {
  const cache = new Map<string, T>();
  return (inSize, outSize) => {
    const key = `${inSize}>${outSize}`;
    let value = cache.get(key);
    if (value === undefined) cache.set(key, (value = f(inSize, outSize)));
    return value;
  };
}

/**
 * Output j sits at input (j + 0.5)·scale - 0.5; when shrinking, the filter is stretched by the scale (so it
 * averages every input it covers). Windows are clipped at the edges and renormalised, then shifted to start
 * at most at inSize - K with zero weights, so every output reads exactly K inputs.
 */
export const lanczosTaps = perSizes((inSize: number, outSize: number): Taps => {
  const scale = inSize / outSize;
  const stretch = Math.max(scale, 1);
  const support = 3 * stretch;
  const windows = Array.from({ length: outSize }, (_, j) => {
    const centre = (j + 0.5) * scale;
    const lo = Math.max(0, Math.floor(centre - support + 0.5));
    const hi = Math.min(inSize, Math.floor(centre + support + 0.5));
    const w = Array.from({ length: hi - lo }, (_, k) => lanczos3((lo + k - centre + 0.5) / stretch));
    const sum = w.reduce((a, b) => a + b, 0);
    return { lo, w: w.map((v) => v / sum) };
  });
  const K = Math.max(...windows.map((win) => win.w.length));
  const taps: Taps = { first: new Int32Array(outSize), weights: new Float32Array(outSize * K), K };
  windows.forEach(({ lo, w }, j) => {
    const first = Math.min(lo, inSize - K);
    taps.first[j] = first;
    taps.weights.set(w, j * K + lo - first);
  });
  return taps;
});

/** The kernel's pass 1 writes samples × 2^VBITS, rounded, as 16-bit integers. */
const VBITS = 6;

/**
 * Each output's taps × 2^q as 16-bit integers that still sum to 2^q exactly (so a flat image stays flat, and
 * the same size gives the crop back): rounded to nearest, then those that rounding moved furthest nudged
 * back one unit until the sum is right; followed by zeros up to K rounded up to even (the kernel takes taps
 * two at a time). Undefined if a weight does not fit 16 bits.
 */
function quantise(taps: Taps, q: number): Int16Array | undefined {
  const { weights, K } = taps;
  const stride = K + (K & 1);
  const n = weights.length / K;
  const out = new Int16Array(n * stride);
  const scale = 2 ** q;
  for (let j = 0; j < n; j++) {
    const exact = Array.from(weights.subarray(j * K, (j + 1) * K), (w) => w * scale);
    const W = exact.map(Math.round);
    for (let rest = scale - W.reduce((a, b) => a + b, 0); rest !== 0; rest -= Math.sign(rest)) {
      let k = 0; // the weight rounded furthest against the correction
      for (let m = 1; m < K; m++) if (Math.sign(rest) * (exact[m] - W[m]) > Math.sign(rest) * (exact[k] - W[k])) k = m;
      W[k] += Math.sign(rest);
    }
    if (W.some((v) => v > 32767 || v < -32768)) return undefined;
    out.set(W, j * stride);
  }
  return out;
}

/** The taps as the kernel reads them: 16-bit weights for each pass and the shifts that take them away. */
export interface FixedTaps {
  first: Int32Array;
  K: number;
  w1: Int16Array; // × 2^q1: pass 1 turns 8-bit samples into Q6 ones
  s1: number;
  w2: Int16Array; // × 2^q2: pass 2 turns Q6 samples into bytes
  s2: number;
  q1: number;
  q2: number;
}

/**
 * lanczosTaps in 16-bit fixed point, with as many fractional bits as 32-bit sums allow: pass 1 sums
 * 255 × Σ|w|·2^q1 (q1 ≤ 20), pass 2 sums Q6 samples (Lanczos-3's overshoot keeps them within about
 * -70..330, ×64 inside 16 bits) × Σ|w|·2^q2.
 */
export const fixedTaps = perSizes((inSize: number, outSize: number): FixedTaps => {
  const key = `${inSize}>${outSize}`; // for errors
  const taps = lanczosTaps(inSize, outSize);
  const { weights, K } = taps;
  let absSum = 0, vMax = 0, vMin = 0;
  for (let j = 0; j < outSize; j++) {
    const w = Array.from(weights.subarray(j * K, (j + 1) * K));
    absSum = Math.max(absSum, w.reduce((a, b) => a + Math.abs(b), 0));
    vMax = Math.max(vMax, 255 * w.reduce((a, b) => a + Math.max(b, 0), 0) * 2 ** VBITS);
    vMin = Math.min(vMin, 255 * w.reduce((a, b) => a + Math.min(b, 0), 0) * 2 ** VBITS);
  }
  if (vMax > 32000 || vMin < -32000) throw new Error(`resize ${key}: the filter overshoots 16 bits`);
  const fit = (qMax: number, sumFits: (q: number) => boolean) => {
    for (let q = qMax; q > 0; q--) {
      const w = sumFits(q) ? quantise(taps, q) : undefined;
      if (w) return { q, w };
    }
    throw new Error(`resize ${key}: no fixed-point weights fit`);
  };
  const p1 = fit(20, (q) => 255 * absSum * 2 ** q < 2 ** 30);
  const p2 = fit(16, (q) => Math.max(vMax, -vMin) * absSum * 2 ** q + 2 ** (q + VBITS) < 2 ** 31);
  return { first: taps.first, K, w1: p1.w, s1: p1.q - VBITS, w2: p2.w, s2: p2.q + VBITS, q1: p1.q, q2: p2.q };
});

/** Where resize() finds its taps and scratch in the kernel's memory, for one crop size and res. */
interface Layout {
  key: string;
  taps: FixedTaps;
  firstAt: number;
  w1At: number;
  w2At: number;
  pAt: number;
  vAt: number;
  tAt: number;
  outAt: number;
  srcAt: number; // the crop's rows, copied in for each image, last since their length varies
}

let layout: Layout | undefined;

/** The layout for side→res, with the taps written in (once, while images keep that size). */
function layoutFor(k: Kernel, side: number, res: number): Layout {
  const key = `${side}>${res}`;
  if (layout?.key === key) return layout;
  const taps = fixedTaps(side, res);
  const align = (n: number) => (n + 15) & ~15;
  const firstAt = align(k.heapBase());
  const w1At = align(firstAt + res * 4);
  const w2At = align(w1At + taps.w1.byteLength);
  const pAt = align(w2At + taps.w2.byteLength);
  const vAt = align(pAt + 3 * (side + 1) * align(side)); // planes of side + 1 rows (the last read by a zero weight)
  const tAt = align(vAt + 3 * 4 * (align(side) + 16) * 2); // 4 rows of pass 1's output
  const outAt = align(tAt + 3 * ((side + 7) & ~7) * 16); // the same, paired for pass 2
  const srcAt = align(outAt + res * res * 3);
  grow(k, srcAt);
  new Int32Array(k.memory.buffer, firstAt, res).set(taps.first);
  new Int16Array(k.memory.buffer, w1At, taps.w1.length).set(taps.w1);
  new Int16Array(k.memory.buffer, w2At, taps.w2.length).set(taps.w2);
  return (layout = { key, taps, firstAt, w1At, w2At, pAt, vAt, tAt, outAt, srcAt });
}

/** Lets go of the kernel and its memory (it is loaded again when needed). */
export function releaseResizer(): void {
  kernel = undefined;
  layout = undefined;
}

function grow(k: Kernel, end: number): void {
  const have = k.memory.buffer.byteLength;
  if (end > have) k.memory.grow(Math.ceil((end - have) / 65536));
}

/**
 * A square crop (box.width on a side) of an RGBA image `imageWidth` pixels wide (alpha is ignored),
 * resampled to res×res RGB bytes.
 */
export function resizeCrop(rgba: Uint8Array, imageWidth: number, box: { left: number; top: number; width: number }, res: number): Uint8Array {
  const k = kernel ?? load();
  const side = box.width;
  const at = layoutFor(k, side, res);
  const rowBytes = imageWidth * 4;
  const rows = rgba.subarray(box.top * rowBytes, (box.top + side) * rowBytes);
  grow(k, at.srcAt + rows.length + 16); // + 16: the last row is read 4 pixels at a time
  const heap = new Uint8Array(k.memory.buffer);
  heap.set(rows, at.srcAt);
  const { K, s1, s2 } = at.taps;
  k.resize(at.srcAt + box.left * 4, rowBytes, side, res, at.firstAt, K, at.w1At, s1, at.w2At, s2, at.pAt, at.vAt, at.tAt, at.outAt);
  return heap.slice(at.outAt, at.outAt + res * res * 3);
}
