// Kernels we register on the wasm backend: what tfjs-backend-wasm 4.22 lacks or runs slowly for training.
// They sit below the model: the layers stay plain tfjs, and other backends use their own kernels.
import * as tf from '@tensorflow/tfjs';
import { conv2DBackpropFilter } from './conv2d_backprop_filter.js';
import { conv2DBackpropInput } from './conv2d_backprop_input.js';

const KERNELS: tf.KernelConfig[] = [
  { kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: conv2DBackpropFilter as tf.KernelFunc },
  { kernelName: 'Conv2DBackpropInput', backendName: 'wasm', kernelFunc: conv2DBackpropInput as tf.KernelFunc },
];

export function registerWasmKernels(): void {
  for (const k of KERNELS) {
    if (tf.getKernel(k.kernelName, k.backendName)?.kernelFunc === k.kernelFunc) continue; // already ours
    if (tf.getKernel(k.kernelName, k.backendName)) tf.unregisterKernel(k.kernelName, k.backendName);
    tf.registerKernel(k);
  }
}
