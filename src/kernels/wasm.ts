// Building blocks for our wasm kernels: call the wasm backend's own kernels (matMul, reshape, ...)
// directly, and free every intermediate. Calling kernels rather than tf ops keeps the tape and the profiler
// out of it: tf.profile shows our kernel once, with its real time.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export type { BackendWasm };
export type TensorInfo = tf.TensorInfo;
export interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}
export type Kernel = (args: KernelArgs) => TensorInfo;

/**
 * Registers `kernel` on wasm; `wrap` gets the kernel registered so far (to fall back on) and returns ours.
 * The original config is kept, so its setupFunc still runs when the backend starts.
 */
export function replaceWasmKernel(name: string, wrap: (original: Kernel) => Kernel): void {
  const original = tf.getKernel(name, 'wasm');
  if (original) tf.unregisterKernel(name, 'wasm');
  tf.registerKernel({ ...original, kernelName: name, backendName: 'wasm', kernelFunc: wrap(original?.kernelFunc as Kernel) as tf.KernelFunc });
}

/** Runs wasm kernels and remembers their outputs, so `done` can free all but the result. */
export class Scratch {
  private made: TensorInfo[] = [];

  constructor(readonly backend: BackendWasm) {}

  run(kernel: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {}): TensorInfo {
    const out = tf.getKernel(kernel, 'wasm')!.kernelFunc({ inputs, attrs, backend: this.backend }) as TensorInfo;
    this.made.push(out);
    return out;
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  /** Frees every intermediate except `result` (a Reshape shares data, so freeing it only drops a reference). */
  done(result: TensorInfo): TensorInfo {
    for (const t of this.made) if (t !== result) this.backend.disposeData(t.dataId);
    return result;
  }
}
