// Conv2DBackpropFilter for wasm, which tfjs-backend-wasm 4.22 lacks (tfjs issue #8474): the filter gradient
// is itself a convolution, with batch and channels swapped and the stride turned into a dilation:
//   dW[kh,kw,ci,co] = Σ_{n,oh,ow} x[n, oh·s+kh-pt, ow·s+kw-pl, ci] · dy[n,oh,ow,co]
//                   = conv2d(xᵀ [Ci,H',W',N], dyᵀ [Ho,Wo,N,Co], stride 1, dilation s, valid) [ci,kh,kw,co]
// so it runs on XNNPACK's fast convolution (~25 GFLOP/s on one thread, against ~1 for im2col or matMul).
import * as tf from '@tensorflow/tfjs';
import { Scratch, type BackendWasm, type KernelArgs, type TensorInfo } from './wasm.js';

export function conv2DBackpropFilter(args: KernelArgs): TensorInfo {
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  if (dataFormat === 'NCHW') throw new Error('Conv2DBackpropFilter: only NHWC is supported on wasm');
  const s = new Scratch(args.backend as BackendWasm);
  const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode);
  const [kh, kw, ci, co] = filterShape;
  const [n, h, w] = x.shape;
  const [sh, sw] = [info.strideHeight, info.strideWidth];
  const { top, left } = info.padInfo;
  // The rows and columns of x the kernel reaches: zero padding becomes the convolution's own (the spatial
  // axes of xᵀ are x's), and rows or columns the kernel never reaches are cropped.
  const bottom = (info.outHeight - 1) * sh + kh - top - h;
  const right = (info.outWidth - 1) * sw + kw - left - w;
  let xs = x;
  if (bottom < 0 || right < 0) xs = s.run('Slice', { x }, { begin: [0, 0, 0, 0], size: [n, h + Math.min(bottom, 0), w + Math.min(right, 0), ci] });
  const pads: [number, number][] = [[0, 0], [top, Math.max(bottom, 0)], [left, Math.max(right, 0)], [0, 0]];
  const grad = s.conv2d(s.transpose(xs, [3, 1, 2, 0]), s.transpose(dy, [1, 2, 0, 3]), pads, [sh, sw]); // [ci,kh,kw,co]
  return s.done(ci === 1 ? s.reshape(grad, [kh, kw, 1, co]) : s.transpose(grad, [1, 2, 0, 3]));
}
