// Kernels we register on the webgpu backend (tfjs-backend-webgpu 4.22) in place of its own, each tested
// against the cpu backend (test/webgpu.test.ts). Like the wasm kernels they sit below the model.
import * as tf from '@tensorflow/tfjs';
import { conv2DBackpropFilter, conv2DBackpropInput } from './conv.js';

const KERNELS: [string, tf.KernelFunc][] = [
  ['Conv2DBackpropFilter', conv2DBackpropFilter as tf.KernelFunc],
  ['Conv2DBackpropInput', conv2DBackpropInput as tf.KernelFunc],
];

const MATMUL_PACKED = 3; // MatMulProgramType.MatMulPackedProgram in tfjs-backend-webgpu's webgpu_util.ts

/** tfjs's own kernels that ours replaced, by name: bench/kernels.ts times both. */
export const STOCK = new Map<string, tf.KernelFunc>();

export function registerWebGpuKernels(): void {
  if (STOCK.size) return;
  // tfjs's split-K matrix product (for few, long dot products: D's logit layer, as a product, above batch 128)
  // adds its parts with atomics, in whatever order threads arrive: the same step would differ run to run.
  // Its tiled product always: sums in a fixed order.
  tf.env().set('WEBGPU_MATMUL_PROGRAM_TYPE', MATMUL_PACKED);
  for (const [kernelName, kernelFunc] of KERNELS) {
    const stock = tf.getKernel(kernelName, 'webgpu');
    if (stock) {
      STOCK.set(kernelName, stock.kernelFunc);
      tf.unregisterKernel(kernelName, 'webgpu');
    }
    tf.registerKernel({ kernelName, backendName: 'webgpu', kernelFunc });
  }
}
