// Kernels we register on the webgpu backend (tfjs-backend-webgpu 4.22) in place of its own, each tested
// against the cpu backend (test/webgpu.test.ts). Like the wasm kernels they sit below the model.
import * as tf from '@tensorflow/tfjs';

const KERNELS: [string, tf.KernelFunc][] = [];

let registered = false;

export function registerWebGpuKernels(): void {
  if (registered) return;
  registered = true;
  for (const [kernelName, kernelFunc] of KERNELS) {
    if (tf.getKernel(kernelName, 'webgpu')) tf.unregisterKernel(kernelName, 'webgpu');
    tf.registerKernel({ kernelName, backendName: 'webgpu', kernelFunc });
  }
}
