// Ops that a backend may run as one kernel of ours (src/kernels/ops.ts on wasm: one or two passes over memory
// where tfjs's ops make several, each with a tensor of its own); elsewhere, the tfjs ops that define them.
// Imports tfjs alone: a browser runs the definitions.
import * as tf from '@tensorflow/tfjs';

/** Runs `kernel` where the current backend has it registered, else `definition` (the same math in tfjs ops). */
export function fused<T extends tf.Tensor | tf.Tensor[]>(kernel: string, inputs: tf.NamedTensorMap, attrs: tf.NamedAttrMap,
  definition: () => T): T {
  return tf.getKernel(kernel, tf.getBackend()) ? tf.engine().runKernel(kernel, inputs, attrs) as T : definition();
}
