// The three convolutions of training on wasm (forward, input gradient, filter gradient), as matrix products on
// our own SIMD tiles (assembly/conv.ts) instead of XNNPACK: with relaxed SIMD's fused multiply-add they run
// about twice as fast (tfjs-backend-wasm 4.22 has no filter gradient at all and a scalar-loop input
// gradient, which is also every conv2dTranspose), and the 4×4 stride-2 ones, by Winograd's F(2×2, 2×2),
// another 1.7-1.85x. The module works in the backend's memory, on the tensors' own bytes: nothing is
// copied in or out.
import * as tf from '@tensorflow/tfjs';
import { at, compile, instantiate, withScratch, type BackendWasm, type KernelArgs, type TensorInfo } from './wasm.js';

interface ConvModule {
  geometry(n: number, h: number, w: number, ci: number, ho: number, wo: number, co: number, kh: number, kw: number,
    sh: number, sw: number, dh: number, dw: number, pt: number, pl: number): void;
  // pixels: output pixels a block; taps: filter taps a block (the module rounds both to what it needs)
  conv2dScratch(pixels: number, taps: number): number;
  conv2d(x: number, w: number, y: number, scratch: number, pixels: number, taps: number): void;
  filterGradScratch(pixels: number, taps: number): number;
  conv2dFilterGrad(x: number, dy: number, dw: number, scratch: number, pixels: number, taps: number): void;
  inputGradScratch(pixels: number): number;
  conv2dInputGrad(dy: number, w: number, dx: number, scratch: number, pixels: number): void;
  // Winograd F(2×2, 2×2) for the 4×4 stride-2 geometries it fits (winograd()); tiles: 2×2 output tiles a block
  winograd(): boolean;
  useWinograd(on: boolean): void;
  winogradScratch(tiles: number): number;
  winogradConv2d(x: number, w: number, y: number, scratch: number, tiles: number): void;
  winogradInputGradScratch(tiles: number): number;
  winogradInputGrad(dy: number, w: number, dx: number, scratch: number, tiles: number): void;
  winogradFilterGradScratch(tiles: number): number;
  winogradFilterGrad(x: number, dy: number, dw: number, scratch: number, tiles: number): void;
}

const engine = (backend: BackendWasm) => instantiate<ConvModule>(backend, compile('conv'));

/**
 * One convolution of `kernel`: its output, made here; the module set to the geometry of `info`; `bytes(module)`
 * of scratch memory for the time of `body`, which gets the tensors' places in memory.
 */
function convolve(args: KernelArgs, kernel: string, info: tf.backend_util.Conv2DInfo, outShape: number[],
  bytes: (m: ConvModule) => number, body: (m: ConvModule, at: (t: TensorInfo) => number, out: number, scratch: number) => void): TensorInfo {
  const { dataFormat } = args.attrs as { dataFormat?: string };
  if (dataFormat === 'NCHW' || dataFormat === 'channelsFirst') throw new Error(`${kernel}: only NHWC is supported on wasm`);
  const backend = args.backend as BackendWasm;
  const out = backend.makeOutput(outShape, 'float32');
  const m = engine(backend);
  m.geometry(info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth, info.outChannels,
    info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth,
    info.padInfo.top, info.padInfo.left);
  try {
    withScratch(backend, bytes(m), (scratch) => body(m, (t) => at(backend, t), at(backend, out), scratch));
    return out;
  } catch (e) {
    backend.disposeData(out.dataId);
    throw e;
  }
}

// Blocks: so many output pixels at a time, and so many filter taps (taps·Ci of the product's inner
// dimension), so that a block of patches stays in the second-level cache and a panel of the filter in the first.
const tapsFor = (ci: number, floats: number) => Math.max(1, Math.floor(floats / Math.max(1, ci)));

type Shape4 = [number, number, number, number];

// Winograd's blocks: so many 2×2 tiles of the output at a time (twice as many for the filter gradient).
const TILES = 128;

/** Turns the Winograd kernels off (false) or on for this thread's backend: the bench compares the two. */
export function useWinograd(backend: BackendWasm, on: boolean): void {
  engine(backend).useWinograd(on);
}

export function conv2d(args: KernelArgs): TensorInfo {
  const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
  const { strides, pad, dilations, dimRoundingMode } = args.attrs as unknown as tf.Conv2DAttrs;
  const info = tf.backend_util.computeConv2DInfo(x.shape as Shape4, filter.shape as Shape4, strides, dilations, pad, dimRoundingMode);
  const [pixels, taps] = [64, tapsFor(info.inChannels, 512)];
  return convolve(args, 'Conv2D', info, info.outShape,
    (m) => m.winograd() ? m.winogradScratch(TILES) : m.conv2dScratch(pixels, taps),
    (m, at, y, scratch) => m.winograd() ? m.winogradConv2d(at(x), at(filter), y, scratch, TILES) : m.conv2d(at(x), at(filter), y, scratch, pixels, taps));
}

export function conv2DBackpropInput(args: KernelArgs): TensorInfo {
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const { inputShape, strides, pad, dimRoundingMode } = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
  const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape as Shape4, strides, 1, pad, dimRoundingMode);
  const K8 = Math.ceil((info.filterHeight * info.filterWidth * info.inChannels) / 8) * 8;
  const pixels = Math.min(256, Math.max(4, Math.floor(65536 / K8)));
  return convolve(args, 'Conv2DBackpropInput', info, inputShape,
    (m) => m.winograd() ? m.winogradInputGradScratch(TILES) : m.inputGradScratch(pixels),
    (m, at, dx, scratch) => m.winograd() ? m.winogradInputGrad(at(dy), at(filter), dx, scratch, TILES) : m.conv2dInputGrad(at(dy), at(filter), dx, scratch, pixels));
}

export function conv2DBackpropFilter(args: KernelArgs): TensorInfo {
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dimRoundingMode, filterShape } = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  const info = tf.backend_util.computeConv2DInfo(x.shape as Shape4, filterShape, strides, 1, pad, dimRoundingMode);
  const [pixels, taps] = [256, tapsFor(info.inChannels, 256)];
  return convolve(args, 'Conv2DBackpropFilter', info, filterShape,
    (m) => m.winograd() ? m.winogradFilterGradScratch(2 * TILES) : m.filterGradScratch(pixels, taps),
    (m, at, dw, scratch) => m.winograd() ? m.winogradFilterGrad(at(x), at(dy), dw, scratch, 2 * TILES) : m.conv2dFilterGrad(at(x), at(dy), dw, scratch, pixels, taps));
}
