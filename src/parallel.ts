// Training on every core. The wasm backend runs one thread under Node, so `threads` N runs N replicas of the
// GAN, one per thread (the main thread is replica 0): each trains on its slice of every batch, and whatever
// must be whole-batch (BatchNorm's sums, the gradients, the step's figures) is added up through shared
// memory, so all replicas apply the same update and N threads train the model one thread trains.
import * as os from 'node:os';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import type { TrainConfig } from './config.js';
import { GanError } from './errors.js';
import type { Gan } from './gan.js';
import type { SumAcross } from './layers.js';
import { trainStep, type Batch } from './step.js';

/** The random draws of one step, flat, image by image, or a thread's slice of them. */
export interface StepInputs {
  real: Float32Array; // [n, res, res, 3] in [-1, 1]
  zD: Float32Array; // [n, latent]
  zG: Float32Array;
  aug?: { real: Float32Array; fake: Float32Array; gen: Float32Array }; // [n, AUG_PARAMS] each
  size: number; // images in the whole batch
}

/** [D loss, G loss, D(x), D(G(z))] */
export type StepStats = [number, number, number, number];

/** Images [from, to) of a step's inputs. */
export function sliceInputs(x: StepInputs, from: number, to: number): StepInputs {
  const part = (a: Float32Array) => a.slice((a.length / x.size) * from, (a.length / x.size) * to);
  const aug = x.aug && { real: part(x.aug.real), fake: part(x.aug.fake), gen: part(x.aug.gen) };
  return { real: part(x.real), zD: part(x.zD), zG: part(x.zG), ...(aug && { aug }), size: x.size };
}

/** Thread i's images of a batch of n split over `threads` (their counts differ by one at most). */
export function sliceOf(i: number, threads: number, n: number): [number, number] {
  return [Math.floor((i * n) / threads), Math.floor(((i + 1) * n) / threads)];
}

/** One training step on `inputs` (this thread's slice of them, with threads); returns the step's figures. */
export async function trainOn(gan: Gan, inputs: StepInputs, across?: SumAcross): Promise<StepStats> {
  const { res, latent } = gan.config;
  const n = inputs.zD.length / latent;
  const batch: Batch = {
    real: tf.tensor4d(inputs.real, [n, res, res, 3]),
    zD: tf.tensor2d(inputs.zD, [n, latent]),
    zG: tf.tensor2d(inputs.zG, [n, latent]),
    ...(inputs.aug && { aug: inputs.aug }),
    size: inputs.size,
  };
  let stats: tf.Tensor1D;
  try {
    stats = trainStep(gan, batch, across);
  } finally {
    tf.dispose([batch.real, batch.zD, batch.zG]);
  }
  const mine = (await stats.data()) as Float32Array; // GPU backends cannot read synchronously
  stats.dispose();
  return Array.from(across ? across(mine) : mine) as StepStats;
}

/** Memory all threads see: a slot of floats per thread, one for the sums, and a barrier's counters. */
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
 * Each thread writes its values to its slot; then each adds up its share of the elements into the sums' slot
 * (a reduce-scatter: the threads split the work), in double precision and in a fixed order, so every thread
 * reads the same bits. The result is a view of shared memory, valid until the next call.
 */
export function summer(s: Shared, rank: number): SumAcross {
  const slots = Array.from({ length: s.threads + 1 }, (_, i) => new Float32Array(s.data, i * s.slot * 4, s.slot));
  const inputs = slots.slice(0, s.threads);
  const sums = slots[s.threads];
  return (values) => {
    if (values.length > s.slot) throw new Error(`${values.length} values to add across threads, room for ${s.slot}`);
    slots[rank].set(values);
    barrier(s);
    const [from, to] = sliceOf(rank, s.threads, values.length);
    for (let i = from; i < to; i++) {
      let sum = 0;
      for (const input of inputs) sum += input[i];
      sums[i] = sum;
    }
    barrier(s); // every share is in; no thread writes its slot again before all have passed here
    return sums.subarray(0, values.length);
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
  across: SumAcross;
  /** Hands each worker its slice of this step's inputs and returns slice 0, the main thread's. */
  share(inputs: StepInputs): StepInputs;
  close(): Promise<void>;
}

const oneThreadEach = (backend: string) => backend === 'wasm' || backend === 'cpu';

/** Threads to use by default: every core that has an image to train on, on the backends that run one thread each. */
export function defaultThreads(backend: string, batch: number): number {
  return oneThreadEach(backend) ? Math.min(os.availableParallelism(), batch) : 1;
}

export function checkThreads(threads: number, batch: number, backend: string): void {
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) throw new GanError(`\`threads\` must be from 1 to 256 (got ${threads})`);
  if (threads === 1) return;
  if (!oneThreadEach(backend)) throw new GanError(`\`threads\` applies to the wasm and cpu backends; the ${backend} backend trains one replica`);
  if (threads > batch) throw new GanError(`\`threads\` ${threads} is more than the \`batch\` of ${batch} images: each thread needs one`);
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
  const across = summer(shared, 0);
  return {
    count: threads,
    across: (values) => {
      if (failure) throw failure;
      return across(values);
    },
    share(inputs) {
      workers.forEach((w, i) => {
        const part = sliceInputs(inputs, ...sliceOf(i + 1, threads, inputs.size));
        const arrays = [part.real, part.zD, part.zG, ...(part.aug ? Object.values(part.aug) : [])];
        w.postMessage(part, arrays.map((a) => a.buffer as ArrayBuffer));
      });
      return sliceInputs(inputs, ...sliceOf(0, threads, inputs.size));
    },
    async close() {
      fail(shared); // wakes any worker still waiting
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
