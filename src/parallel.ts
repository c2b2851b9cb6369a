// Training on every core. The wasm backend runs one thread under Node, so `gan train --threads N` runs N
// replicas of the GAN, one per thread (the main thread is replica 0): each trains on its slice of every
// batch, and the gradients are averaged through shared memory before every update, so all replicas stay
// identical (PyTorch's DistributedDataParallel; BatchNorm sees each thread's slice, as DDP without SyncBN).
import * as os from 'node:os';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import type { TrainConfig } from './config.js';
import { GanError } from './errors.js';

/** Averages equal-length arrays over all threads; every thread gets the same result. Synchronous. */
export type AllReduce = (values: Float32Array) => Float32Array;

/** The random draws of one step, flat, image by image: real images in [-1, 1], two latent batches, and the
 * augmentation draws (empty without augmentation). */
export interface StepInputs {
  real: Float32Array;
  zD: Float32Array;
  zG: Float32Array;
  aug: Float32Array;
}

/** Slice `i` of `n` of each array. */
export function sliceInputs(x: StepInputs, i: number, n: number): StepInputs {
  const part = (a: Float32Array) => a.slice((a.length / n) * i, (a.length / n) * (i + 1));
  return { real: part(x.real), zD: part(x.zD), zG: part(x.zG), aug: part(x.aug) };
}

export function flatten(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

export function unflatten(flat: Float32Array, like: tf.Variable[]): tf.Tensor[] {
  let offset = 0;
  return like.map((v) => tf.tensor(flat.subarray(offset, (offset += v.size)), v.shape));
}

/**
 * The element-wise mean of `arrays` over [from, to), into `out`: summed in double precision in a fixed order,
 * so every thread computes the same bits.
 */
function meanInto(out: Float32Array, arrays: Float32Array[], from: number, to: number): void {
  const n = arrays.length;
  for (let i = from; i < to; i++) {
    let sum = 0;
    for (let k = 0; k < n; k++) sum += arrays[k][i];
    out[i] = sum / n;
  }
}

export function meanOf(arrays: Float32Array[]): Float32Array {
  const out = new Float32Array(arrays[0].length);
  meanInto(out, arrays, 0, out.length);
  return out;
}

/** Memory all threads see: a slot of floats per thread, one for the mean, and a barrier's counters. */
export interface Shared {
  data: SharedArrayBuffer; // threads + 1 slots
  control: SharedArrayBuffer; // Int32: [arrived, generation, failed]
  threads: number;
  slot: number; // floats per thread
}

const [ARRIVED, GENERATION, FAILED] = [0, 1, 2];

export function sharedMemory(threads: number, slot: number): Shared {
  return { data: new SharedArrayBuffer((threads + 1) * slot * 4), control: new SharedArrayBuffer(12), threads, slot };
}

/** Marks the training as failed, which wakes every thread waiting at the barrier with an error. */
export function fail(s: Shared): void {
  const ctl = new Int32Array(s.control);
  Atomics.store(ctl, FAILED, 1);
  Atomics.notify(ctl, GENERATION);
}

function barrier(s: Shared, timeoutMs = 10 * 60_000): void {
  const ctl = new Int32Array(s.control);
  const generation = Atomics.load(ctl, GENERATION);
  if (Atomics.add(ctl, ARRIVED, 1) === s.threads - 1) {
    Atomics.store(ctl, ARRIVED, 0);
    Atomics.add(ctl, GENERATION, 1);
    Atomics.notify(ctl, GENERATION);
    return;
  }
  const deadline = Date.now() + timeoutMs;
  while (Atomics.load(ctl, GENERATION) === generation) {
    if (Atomics.load(ctl, FAILED)) throw new Error('another training thread failed');
    if (Date.now() > deadline) throw new Error('training threads stopped answering');
    Atomics.wait(ctl, GENERATION, generation, 1000);
  }
}

/**
 * Each thread writes its values to its slot; then each averages its share of the elements into the mean's
 * slot (a reduce-scatter: the threads split the work), and every thread reads the whole mean.
 */
export function allReducer(s: Shared, rank: number): AllReduce {
  const slots = Array.from({ length: s.threads + 1 }, (_, i) => new Float32Array(s.data, i * s.slot * 4, s.slot));
  const inputs = slots.slice(0, s.threads);
  const mean = slots[s.threads];
  return (values) => {
    slots[rank].set(values);
    barrier(s);
    const share = Math.ceil(values.length / s.threads);
    meanInto(mean, inputs, rank * share, Math.min(values.length, (rank + 1) * share));
    barrier(s); // every share is in; no thread writes its slot again before all have passed here
    return mean.slice(0, values.length);
  };
}

/** What a worker thread needs to build the same replica as the main thread. */
export interface WorkerInit {
  backend: string;
  config: TrainConfig;
  checkpoint?: string; // resume from it; else a fresh GAN from config.seed
  rank: number;
  shared: Shared;
}

export interface Threads {
  count: number;
  allReduce: AllReduce;
  /** Hands each worker its slice of this step's inputs and returns slice 0, the main thread's. */
  share(inputs: StepInputs): StepInputs;
  close(): Promise<void>;
}

/** Threads to use by default: every core, on the backends that run one thread each (wasm, cpu). */
export function defaultThreads(backend: string): number {
  return backend === 'wasm' || backend === 'cpu' ? os.availableParallelism() : 1;
}

export function checkThreads(threads: number, batch: number, backend: string): void {
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) throw new GanError(`--threads must be from 1 to 256 (got ${threads})`);
  if (threads === 1) return;
  if (batch % threads !== 0) throw new GanError(`--batch ${batch} does not split evenly over ${threads} threads`);
  if (backend !== 'wasm' && backend !== 'cpu') {
    throw new GanError(`--threads applies to the wasm and cpu backends; the ${backend} backend already uses every core`);
  }
}

/** Starts threads-1 worker replicas (none for 1 thread) and waits until each has built its GAN. */
export async function startThreads(threads: number, init: Omit<WorkerInit, 'rank' | 'shared'>, slot: number): Promise<Threads | undefined> {
  checkThreads(threads, init.config.batch, init.backend);
  if (threads === 1) return undefined;
  const shared = sharedMemory(threads, slot);
  const workers = Array.from({ length: threads - 1 }, (_, i) =>
    new Worker(new URL('./worker.js', import.meta.url), { workerData: { ...init, rank: i + 1, shared } satisfies WorkerInit }));
  let failure: Error | undefined;
  await Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
    w.once('message', () => resolve());
    w.on('error', (e) => {
      failure = e;
      fail(shared);
      reject(e);
    });
  })));
  const allReduce = allReducer(shared, 0);
  return {
    count: threads,
    allReduce: (values) => {
      if (failure) throw failure;
      return allReduce(values);
    },
    share(inputs) {
      workers.forEach((w, i) => {
        const part = sliceInputs(inputs, i + 1, threads);
        w.postMessage(part, [part.real, part.zD, part.zG, part.aug].map((a) => a.buffer as ArrayBuffer));
      });
      return sliceInputs(inputs, 0, threads);
    },
    async close() {
      fail(shared); // wakes any worker still waiting
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
