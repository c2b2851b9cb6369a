// Kernels we register on the webgpu backend (tfjs-backend-webgpu 4.22) in place of its own, each tested
// against the cpu backend (test/webgpu.test.ts). Like the wasm kernels they sit below the model.
import * as tf from '@tensorflow/tfjs';
import { conv2DBackpropFilter, conv2DBackpropInput } from './conv.js';

const KERNELS: [string, tf.KernelFunc][] = [
  ['Conv2DBackpropFilter', conv2DBackpropFilter as tf.KernelFunc],
  ['Conv2DBackpropInput', conv2DBackpropInput as tf.KernelFunc],
];

/** tfjs's own kernels that ours replaced, by name: bench/kernels.ts times both. */
export const STOCK = new Map<string, tf.KernelFunc>();

export function registerWebGpuKernels(): void {
  if (STOCK.size) return;
  for (const [kernelName, kernelFunc] of KERNELS) {
    const stock = tf.getKernel(kernelName, 'webgpu');
    if (stock) {
      STOCK.set(kernelName, stock.kernelFunc);
      tf.unregisterKernel(kernelName, 'webgpu');
    }
    tf.registerKernel({ kernelName, backendName: 'webgpu', kernelFunc });
  }
}
