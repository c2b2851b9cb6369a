// Kernels that only move data, made cheaper on wasm.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm, Kernel, TensorInfo } from './wasm.js';

/**
 * Tile of a [1,…,1,rest] tensor along the leading axes (a per-channel vector broadcast to NHWC, as in the
 * BatchNorm gradient): the block repeated by doubling memory copies. Other tiles go to the original.
 */
export const tile = (original: Kernel): Kernel => (args) => {
  const x = args.inputs.x as TensorInfo;
  const { reps } = args.attrs as unknown as tf.TileAttrs;
  let lead = 0;
  while (lead < x.shape.length && x.shape[lead] === 1) lead++;
  if (x.dtype === 'string' || reps.slice(lead).some((r) => r !== 1)) return original(args);
  const backend = args.backend as BackendWasm;
  const out = backend.makeOutput(x.shape.map((d, i) => d * reps[i]), x.dtype);
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  if (dst.length === 0) return out;
  dst.set(src, 0);
  for (let n = src.length; n < dst.length; n *= 2) dst.copyWithin(n, 0, Math.min(n, dst.length - n));
  return out;
};

/**
 * Identity, and Cast to the same dtype, share the input's data instead of copying it (tensors are
 * immutable; wasm's Reshape does the same). The engine clones every tensor it saves for the backward pass.
 */
export const shareData = (original: Kernel): Kernel => (args) => {
  const x = args.inputs.x as TensorInfo;
  const dtype = (args.attrs as { dtype?: string } | undefined)?.dtype ?? x.dtype;
  if (x.dtype === 'string' || dtype !== x.dtype) return original(args);
  (args.backend as BackendWasm).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
};
