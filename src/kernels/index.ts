// Kernels we register per backend, each tested against the cpu backend. They sit below the model: the layers
// stay plain tfjs, and other backends keep their own kernels. Here those of wasm: what tfjs-backend-wasm 4.22
// lacks or runs slowly in training; webgpu's are in ./webgpu/.
import * as tf from '@tensorflow/tfjs';
import { conv2d, conv2DBackpropFilter, conv2DBackpropInput } from './conv.js';
import { shareData, tile } from './copies.js';
import { GRADIENTS } from './gradients.js';
import { addBias, leakyRelu, OPS, tanh } from './ops.js';
import { leadingReduce } from './reduce.js';
import { compile, replaceWasmKernel, type Kernel } from './wasm.js';

export { registerWebGpuKernels } from './webgpu/index.js';

const KERNELS: [string, (original: Kernel) => Kernel][] = [
  ['Conv2D', () => conv2d], // XNNPACK there: half the speed without fused multiply-add
  ['Conv2DBackpropFilter', () => conv2DBackpropFilter], // missing in tfjs-backend-wasm 4.22
  ['Conv2DBackpropInput', () => conv2DBackpropInput], // a scalar loop there
  ['Sum', leadingReduce(false)],
  ['Mean', leadingReduce(true)],
  ['Tile', tile],
  ['Identity', shareData],
  ['Cast', shareData],
  ['LeakyRelu', leakyRelu], // a scalar loop there
  ['Tanh', tanh], // slower still
  ['Add', addBias], // its general broadcast, for a bias
];

let registered = false;

export function registerWasmKernels(): void {
  if (registered) return;
  compile('conv'); // fails here, where the backend is chosen, on an engine without relaxed SIMD
  registered = true;
  for (const [name, wrap] of KERNELS) replaceWasmKernel(name, wrap);
  for (const [name, kernel] of Object.entries(OPS)) tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc: kernel as tf.KernelFunc });
  for (const g of GRADIENTS) tf.registerGradient(g);
}
