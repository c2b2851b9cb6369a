// Training on every core. The wasm backend runs one thread under Node, so `threads` N runs N replicas of the
// GAN, one per thread (the main thread is replica 0): each trains on its slice of every batch, and whatever
// must be whole-batch (BatchNorm's sums, the gradients, the step's figures) is added up through shared
// memory, so all replicas apply the same update and N threads train the model one thread trains.
import * as os from 'node:os';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
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

/**
 * Memory all threads see: a slot of floats per thread and one for the sums (for the gradients), two sets of
 * small slots used in turn (for per-channel sums and the step's figures), the first failure's error, and a
 * barrier's counters.
 */
export interface Shared {
  data: SharedArrayBuffer; // threads + 1 slots of `slot` floats
  small: SharedArrayBuffer; // 2 sets of `threads` slots of SMALL floats
  error: SharedArrayBuffer; // Int32 [bytes, exit code (0: not a GanError)], then the message and the stack in UTF-8
  control: SharedArrayBuffer; // Int32: [arrived, generation, failed, claimed]
  threads: number;
  slot: number; // floats per thread
}

const [ARRIVED, GENERATION, FAILED, CLAIMED] = [0, 1, 2, 3];
const SMALL = 4096; // floats: BatchNorm's two sums a channel for up to 2048 channels
const MESSAGE = 8192; // bytes of an error's message and stack (a longer stack is cut)

export function sharedMemory(threads: number, slot: number): Shared {
  return { data: new SharedArrayBuffer((threads + 1) * slot * 4), small: new SharedArrayBuffer(2 * threads * SMALL * 4),
    error: new SharedArrayBuffer(8 + MESSAGE), control: new SharedArrayBuffer(16), threads, slot };
}

/** What a thread gets at a barrier when the training stopped without an error of its own (the main thread closed it). */
export class TrainingStopped extends Error {
  constructor() {
    super('the training threads were stopped');
  }
}

/**
 * Marks the training as failed, which wakes every thread waiting at the barrier with `error`: the first
 * failure's, written before the flag is raised (a thread blocked at a barrier cannot get it any other way).
 * No error: the training was stopped.
 */
export function fail(s: Shared, error?: unknown): void {
  const ctl = new Int32Array(s.control);
  if (Atomics.compareExchange(ctl, CLAIMED, 0, 1) === 0 && error !== undefined) {
    const head = new Int32Array(s.error, 0, 2);
    const text = error instanceof Error ? `${error.message}\0${error.stack ?? ''}` : String(error);
    const bytes = new TextEncoder().encodeInto(text, new Uint8Array(s.error, 8)).written;
    [head[0], head[1]] = [bytes, error instanceof GanError ? error.exitCode : 0];
  }
  Atomics.store(ctl, FAILED, 1);
  Atomics.notify(ctl, GENERATION);
}

/** The error of the training's first failure, as the thread that failed threw it (a GanError stays one, the stack is its). */
export function failure(s: Shared): Error {
  const [bytes, exitCode] = new Int32Array(s.error, 0, 2);
  if (!bytes) return new TrainingStopped();
  const [message, stack] = new TextDecoder().decode(new Uint8Array(s.error, 8, bytes).slice()).split('\0');
  const e = exitCode ? new GanError(message, exitCode) : new Error(message);
  if (stack) e.stack = stack;
  return e;
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
    if (Atomics.load(ctl, FAILED)) throw failure(s);
    if (Date.now() > deadline) throw new Error('training threads stopped answering');
    Atomics.wait(ctl, GENERATION, generation, 1000);
  }
}

/** into[i] = Σ inputs[·][i] for i in [from, to), in double precision and in the inputs' order: the same bits on every thread. */
function addUp(into: Float32Array, inputs: Float32Array[], from: number, to: number): void {
  for (let i = from; i < to; i++) {
    let sum = 0;
    for (const input of inputs) sum += input[i];
    into[i] = sum;
  }
}

/** A tensor's values: a view of the wasm backend's memory (no copy), else a copy. */
function valuesOf(t: tf.Tensor): Float32Array {
  const backend = tf.backend() as Partial<BackendWasm>;
  return (backend.typedArrayFromHeap ? backend.typedArrayFromHeap(t) : t.dataSync()) as Float32Array;
}

/**
 * Sums across threads for thread `rank`. Small arrays: each thread writes its slot of this call's set, and
 * after one barrier every thread adds up all slots itself (the sets alternate, so no thread writes a slot
 * another may still read: it would first have to pass the next call's barrier). Tensors (the gradients), and
 * arrays too long for the small slots: each thread writes its values to its slot (a tensor's straight from the
 * backend's memory), then adds up its share of the elements into the sums' slot (a reduce-scatter), and after a
 * second barrier reads the sums.
 */
export function summer(s: Shared, rank: number): SumAcross {
  const slots = Array.from({ length: s.threads + 1 }, (_, i) => new Float32Array(s.data, i * s.slot * 4, s.slot));
  const [inputs, sums] = [slots.slice(0, s.threads), slots[s.threads]];
  const sets = [0, 1].map((set) => Array.from({ length: s.threads }, (_, i) => new Float32Array(s.small, (set * s.threads + i) * SMALL * 4, SMALL)));
  let turn = 0;
  /** The sums of n values that `write` puts in this thread's slot: a view of shared memory, valid until the next call. */
  const reduce = (n: number, write: (slot: Float32Array) => void) => {
    if (n > s.slot) throw new Error(`${n} values to add across threads, room for ${s.slot}`);
    write(slots[rank]);
    barrier(s);
    addUp(sums, inputs, ...sliceOf(rank, s.threads, n));
    barrier(s); // every share is in; no thread writes its slot again before all have passed here
    return sums.subarray(0, n);
  };
  const across = ((values: Float32Array) => {
    if (values.length > SMALL) return reduce(values.length, (slot) => slot.set(values)).slice();
    const set = sets[turn];
    turn ^= 1;
    set[rank].set(values);
    barrier(s);
    const out = new Float32Array(values.length);
    addUp(out, set, 0, values.length);
    return out;
  }) as SumAcross;
  across.tensors = (ts) => {
    const all = reduce(ts.reduce((n, t) => n + t.size, 0), (slot) => {
      let offset = 0;
      for (const t of ts) {
        slot.set(valuesOf(t), offset);
        offset += t.size;
      }
    });
    let offset = 0;
    return ts.map((t) => tf.tensor(all.subarray(offset, (offset += t.size)), t.shape));
  };
  return across;
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

/**
 * Starts threads-1 worker replicas (none for 1 thread) and waits until each has built its GAN. A worker that
 * fails, at start or in a step, records its error for the other threads and ends (src/worker.ts); at start
 * its error is thrown here, in a step by the main thread's next sum, and all workers are ended either way.
 */
export async function startThreads(threads: number, init: Omit<WorkerInit, 'rank' | 'shared'>, slot: number): Promise<Threads | undefined> {
  checkThreads(threads, init.config.batch, init.backend);
  if (threads === 1) return undefined;
  const shared = sharedMemory(threads, slot);
  const workers = Array.from({ length: threads - 1 }, (_, i) =>
    new Worker(new URL('./worker.js', import.meta.url), { workerData: { ...init, rank: i + 1, shared } satisfies WorkerInit }));
  // an error outside the worker's own handling (it records the rest): recorded here, for the barrier to throw
  for (const w of workers) w.on('error', (e) => fail(shared, e));
  const close = async () => {
    fail(shared); // wakes any worker still waiting
    await Promise.all(workers.map((w) => w.terminate()));
  };
  try {
    await Promise.all(workers.map((w, i) => new Promise<void>((resolve, reject) => {
      w.once('message', () => resolve());
      w.once('exit', (code) => {
        const e = failure(shared);
        reject(e instanceof TrainingStopped ? new Error(`training thread ${i + 1} ended before it was ready (exit code ${code})`) : e);
      });
    })));
  } catch (e) {
    await close();
    throw e;
  }
  const across = summer(shared, 0);
  return {
    count: threads,
    across,
    share(inputs) {
      workers.forEach((w, i) => {
        const part = sliceInputs(inputs, ...sliceOf(i + 1, threads, inputs.size));
        const arrays = [part.real, part.zD, part.zG, ...(part.aug ? Object.values(part.aug) : [])];
        w.postMessage(part, arrays.map((a) => a.buffer as ArrayBuffer));
      });
      return sliceInputs(inputs, ...sliceOf(0, threads, inputs.size));
    },
    close,
  };
}
