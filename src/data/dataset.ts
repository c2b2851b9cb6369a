// Where training images come from (a cache, a raw folder, or the built-in faces) and how they are batched.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GanError } from '../errors.js';
import { acquireLock } from '../lock.js';
import { Rng } from '../rng.js';
import { CacheWriter, isCacheDir, openCache, readManifest } from './cache.js';
import { renderFaces } from './faces.js';
import { preprocess, type PreprocessOptions } from './preprocess.js';
import type { ImageSource } from './source.js';

export interface Dataset extends ImageSource {
  name: string;
  dir: string; // the cache it was loaded from
  /** Identifies the images, so a run refuses to resume on other data. */
  fingerprint: string;
}

export const BUILTIN_FACES = 2048;

function sourceOf(dir: string): string | undefined {
  try {
    return readManifest(dir)?.source;
  } catch {
    return undefined; // made again below
  }
}

/** The built-in faces, rendered once into data/builtin-<res> and loaded from there afterwards. */
async function builtinFaces(res: number, memory?: number, count = BUILTIN_FACES): Promise<Dataset> {
  const dir = path.join('data', `builtin-${res}`);
  const fingerprint = `builtin-faces-v2-${count}-${res}`;
  if (sourceOf(dir) !== fingerprint) {
    const lock = acquireLock(dir, 'gan train');
    try {
      const out = new CacheWriter(dir, res);
      out.add(0, renderFaces(count, res));
      out.end(0);
      await out.commit({ res, crop: 'center', source: fingerprint, sources: [] });
    } finally {
      lock.release();
    }
  }
  return { ...openCache(dir, memory), name: 'builtin', dir: path.resolve(dir), fingerprint };
}

export interface DataOptions extends Omit<PreprocessOptions, 'res'> {
  /** Bytes of images held in memory (default DATA_MEMORY); the rest is read from the cache's files. */
  memory?: number;
}

/**
 * `data` may be a cache folder (has manifest.json), a folder of images (preprocessed into data/ first,
 * reusing the cache), or undefined for the built-in faces.
 */
export async function openDataset(data: string | undefined, res: number, o: DataOptions): Promise<Dataset> {
  if (data === undefined) return await builtinFaces(res, o.memory);
  if (!fs.existsSync(data)) throw new GanError(`data folder not found: ${data}`);
  const dir = isCacheDir(data) ? data : (await preprocess(data, { ...o, res })).dir;
  const set = openCache(dir, o.memory);
  try {
    if (set.res !== res) throw new GanError(`cache ${dir} holds ${set.res}px images, not ${res}px: preprocess with \`res\` ${res}`);
    if (set.count === 0) throw new GanError(`cache ${dir} holds no images`);
  } catch (e) {
    set.close();
    throw e;
  }
  return { ...set, name: path.basename(path.resolve(dir)), dir: path.resolve(dir), fingerprint: set.manifest.fingerprint };
}

/**
 * Which images each step trains on: every epoch is a fresh permutation drawn from (seed, epoch), and the
 * last partial batch is dropped. A pure function of the step, so a resumed run sees the same batches.
 */
export class BatchOrder {
  readonly stepsPerEpoch: number;
  private epoch = -1;
  private perm: Uint32Array = new Uint32Array(0);

  constructor(readonly count: number, readonly batch: number, readonly seed: number) {
    this.stepsPerEpoch = Math.floor(count / batch);
    if (this.stepsPerEpoch < 1) throw new GanError(`the data has ${count} images, fewer than one batch of ${batch}: use a smaller \`batch\``);
  }

  epochOf(step: number): number {
    return Math.floor(step / this.stepsPerEpoch);
  }

  indices(step: number): Uint32Array {
    const epoch = this.epochOf(step);
    if (epoch !== this.epoch) {
      this.perm = new Rng(this.seed, 'epoch', epoch).permutation(this.count);
      this.epoch = epoch;
    }
    const start = (step % this.stepsPerEpoch) * this.batch;
    return this.perm.subarray(start, start + this.batch);
  }
}

/** The images at `indices` as floats in [-1, 1], [n, res, res, 3] row-major. */
export function toFloatBatch(set: ImageSource, indices: ArrayLike<number>): Float32Array {
  const bytes = set.read(indices);
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i] / 127.5 - 1;
  return out;
}
