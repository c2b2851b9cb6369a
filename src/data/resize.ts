// Lanczos-3 resampling of a square crop to res×res RGB: the last step of preprocessing for every image,
// whichever decoder read it. The filter taps are computed here; the two passes run in WebAssembly SIMD
// (assembly/resize.ts, ~30 µs for a CelebA face). Sampling is centre-aligned, as PIL and libvips'
// reduce do it (libvips shifts enlargements by up to half a pixel, which is why sharp does not resize).
import * as fs from 'node:fs';

interface Kernel {
  memory: WebAssembly.Memory;
  heapBase(): number;
  resize(src: number, rowBytes: number, side: number, res: number,
    first: number, weights: number, K: number, t: number, h: number, out: number): void;
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

const tapCache = new Map<string, Taps>();

/**
 * Output j sits at input (j + 0.5)·scale - 0.5; when shrinking, the filter is stretched by the scale (so it
 * averages every input it covers). Windows are clipped at the edges and renormalised, then shifted to start
 * at most at inSize - K with zero weights, so every output reads exactly K inputs.
 */
export function lanczosTaps(inSize: number, outSize: number): Taps {
  const key = `${inSize}>${outSize}`;
  const cached = tapCache.get(key);
  if (cached) return cached;
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
  tapCache.set(key, taps);
  return taps;
}

/** Where resize() finds its taps and scratch in the kernel's memory, for one crop size and res. */
interface Layout {
  key: string;
  firstAt: number;
  weightsAt: number;
  K: number;
  tAt: number;
  hAt: number;
  outAt: number;
  srcAt: number; // the crop's rows, copied in for each image, last since their length varies
}

let layout: Layout | undefined;

/** The layout for side→res, with the taps written in (once, while images keep that size). */
function layoutFor(k: Kernel, side: number, res: number): Layout {
  const key = `${side}>${res}`;
  if (layout?.key === key) return layout;
  const { first, weights, K } = lanczosTaps(side, res);
  const align = (n: number) => (n + 15) & ~15;
  const rows = (side + 3) & ~3; // T and H hold whole blocks of 4
  const firstAt = align(k.heapBase());
  const weightsAt = align(firstAt + res * 4);
  const tAt = align(weightsAt + res * K * 4);
  const hAt = tAt + 3 * rows * 16;
  const outAt = hAt + 3 * rows * res * 4;
  const srcAt = align(outAt + res * res * 3);
  grow(k, srcAt);
  new Int32Array(k.memory.buffer, firstAt, res).set(first);
  new Float32Array(k.memory.buffer, weightsAt, res * K).set(weights);
  return (layout = { key, firstAt, weightsAt, K, tAt, hAt, outAt, srcAt });
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
  k.resize(at.srcAt + box.left * 4, rowBytes, side, res, at.firstAt, at.weightsAt, at.K, at.tAt, at.hAt, at.outAt);
  return heap.slice(at.outAt, at.outAt + res * res * 3);
}
