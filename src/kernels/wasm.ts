// Building blocks for our wasm kernels: call the wasm backend's own kernels (matMul, reshape, ...)
// directly, and free every intermediate. Calling kernels rather than tf ops keeps the tape and the profiler
// out of it: tf.profile shows our kernel once, with its real time.
import * as fs from 'node:fs';
import * as v8 from 'node:v8';
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

const compiled = new Map<string, WebAssembly.Module>();

/**
 * Compiles dist/<name>.wasm (one of ours), once per thread. conv.wasm needs relaxed SIMD: on by default from
 * Node 22, behind a V8 flag in Node 20, which is turned on here.
 */
export function compile(name: string): WebAssembly.Module {
  let m = compiled.get(name);
  if (m) return m;
  const bytes = fs.readFileSync(new URL(`../../${name}.wasm`, import.meta.url));
  if (!WebAssembly.validate(bytes)) v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  if (!WebAssembly.validate(bytes)) throw new Error('this Node.js has no WebAssembly relaxed SIMD (Node 20 or newer has it)');
  compiled.set(name, (m = new WebAssembly.Module(bytes)));
  return m;
}

const instances = new WeakMap<BackendWasm, Map<WebAssembly.Module, unknown>>();

/** The instance of `module` that works in `backend`'s memory (our modules import it and have no data of their own). */
export function instantiate<T>(backend: BackendWasm, module: WebAssembly.Module): T {
  let mine = instances.get(backend);
  if (!mine) instances.set(backend, (mine = new Map()));
  let m = mine.get(module);
  if (!m) {
    const memory = (backend.wasm as unknown as { asm: { memory: WebAssembly.Memory } }).asm.memory;
    mine.set(module, (m = new WebAssembly.Instance(module, { env: { memory } }).exports));
  }
  return m as T;
}

/** Where a tensor's bytes start in the backend's memory. */
export function at(backend: BackendWasm, t: TensorInfo): number {
  return backend.dataIdMap.get(t.dataId)!.memoryOffset;
}

/** Runs `body` with `bytes` of scratch memory from the backend's heap. */
export function withScratch<T>(backend: BackendWasm, bytes: number, body: (scratch: number) => T): T {
  const scratch = backend.wasm._malloc(bytes);
  if (!scratch && bytes) throw new Error(`out of WebAssembly memory for ${bytes} bytes of scratch`);
  try {
    return body(scratch);
  } finally {
    backend.wasm._free(scratch);
  }
}

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
