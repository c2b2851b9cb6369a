// Sum and Mean over the leading axes (every BatchNorm statistic and bias gradient: axes 0,1,2 of NHWC).
// wasm transposes the reduced axes to the end first; a matrix-vector product on XNNPACK, [R,C]ᵀ·[R], is
// several times faster. Other reductions go to the original kernel.
import * as tf from '@tensorflow/tfjs';
import { Scratch, type BackendWasm, type Kernel, type TensorInfo } from './wasm.js';

/** Columns [1,R,1] of ones (or of 1/R), kept for the life of the process: one per batch shape. */
const columns = new Map<string, TensorInfo>();

function column(backend: BackendWasm, rows: number, value: number): TensorInfo {
  const key = `${rows}/${value}`;
  let c = columns.get(key);
  if (!c) {
    c = backend.makeOutput([1, rows, 1], 'float32');
    backend.typedArrayFromHeap(c).fill(value);
    columns.set(key, c);
  }
  return c;
}

export const leadingReduce = (mean: boolean) => (original: Kernel): Kernel => (args) => {
  const x = args.inputs.x as TensorInfo;
  const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
  const axes = tf.util.parseAxisParam(axis, x.shape).slice().sort((a, b) => a - b);
  const rows = tf.util.sizeFromShape(x.shape.slice(0, axes.length));
  if (x.dtype !== 'float32' || axes.length === 0 || axes.some((a, i) => a !== i) || rows < 2) return original(args);
  const s = new Scratch(args.backend as BackendWasm);
  const cols = tf.util.sizeFromShape(x.shape) / rows;
  const y = s.run('BatchMatMul', { a: s.reshape(x, [1, rows, cols]), b: column(s.backend, rows, mean ? 1 / rows : 1) },
    { transposeA: true, transposeB: false }); // [1, cols, 1]
  const rest = x.shape.slice(axes.length);
  return s.done(s.reshape(y, keepDims ? [...axes.map(() => 1), ...rest] : rest));
};
