// Gradients of Sum and Mean as a broadcast of dy (one Tile, fast on wasm) instead of dy × ones(x.shape),
// which builds and multiplies a full-size tensor; those of LeakyReLU and ReLU as one kernel where the backend
// has ours (src/fused.ts). Same math on every backend.
import * as tf from '@tensorflow/tfjs';
import { fused } from '../fused.js';

function keptShape(x: tf.Tensor, axis: number | number[]) {
  const axes = tf.util.parseAxisParam(axis, x.shape);
  return { axes, kept: x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) };
}

export const GRADIENTS: tf.GradConfig[] = [
  {
    kernelName: 'Mean',
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => {
      const { axes, kept } = keptShape(x, (attrs as unknown as tf.MeanAttrs).axis);
      const n = axes.reduce((p, a) => p * x.shape[a], 1);
      return { x: () => tf.broadcastTo(tf.div(tf.reshape(dy as tf.Tensor, kept), n), x.shape) };
    },
  },
  {
    kernelName: 'Sum',
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => ({
      x: () => tf.broadcastTo(tf.reshape(dy as tf.Tensor, keptShape(x, (attrs as unknown as tf.SumAttrs).axis).kept), x.shape),
    }),
  },
  {
    kernelName: 'LeakyRelu',
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => {
      const { alpha } = attrs as unknown as tf.LeakyReluAttrs;
      return { x: () => fused('GanLeakyReluGrad', { dy: dy as tf.Tensor, x }, { alpha }, () => tf.where(tf.greater(x, 0), dy as tf.Tensor, tf.mul(dy as tf.Tensor, alpha))) };
    },
  },
  {
    kernelName: 'Relu',
    inputsToSave: ['x'],
    gradFunc: (dy, [x]) => ({
      x: () => fused('GanLeakyReluGrad', { dy: dy as tf.Tensor, x }, { alpha: 0 }, () => tf.mul(dy as tf.Tensor, tf.cast(tf.step(x), 'float32'))),
    }),
  },
];
