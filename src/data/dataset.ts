// Where training images come from (a cache, a raw folder, or the built-in faces) and how they are batched.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GanError } from '../errors.js';
import { Rng } from '../rng.js';
import { CacheWriter, isCacheDir, loadCache, readManifest, type ImageSet } from './cache.js';
import { renderFaces } from './faces.js';
import { preprocess, type PreprocessOptions } from './preprocess.js';

export interface Dataset extends ImageSet {
  name: string;
  dir: string; // the cache it was loaded from
  /** Identifies the images, so a run refuses to resume on other data. */
  fingerprint: string;
}

export const BUILTIN_FACES = 2048;

/** The built-in faces, rendered once into data/builtin-<res> and loaded from there afterwards. */
async function builtinFaces(res: number, count = BUILTIN_FACES): Promise<Dataset> {
  const dir = path.join('data', `builtin-${res}`);
  const fingerprint = `builtin-faces-v2-${count}-${res}`;
  if (readManifest(dir)?.source !== fingerprint) {
    const out = new CacheWriter(dir);
    out.shard(0, [renderFaces(count, res)], count);
    await out.commit({ res, crop: 'center', source: fingerprint, count, sources: [] });
  }
  return { ...loadCache(dir), name: 'builtin', dir: path.resolve(dir), fingerprint };
}

/**
 * `data` may be a cache folder (has manifest.json), a folder of images (preprocessed into data/ first,
 * reusing the cache), or undefined for the built-in faces.
 */
export async function openDataset(data: string | undefined, res: number, prep: Omit<PreprocessOptions, 'res'>): Promise<Dataset> {
  if (data === undefined) return await builtinFaces(res);
  if (!fs.existsSync(data)) throw new GanError(`data folder not found: ${data}`);
  const dir = isCacheDir(data) ? data : (await preprocess(data, { ...prep, res })).dir;
  const set = loadCache(dir);
  if (set.res !== res) throw new GanError(`cache ${dir} holds ${set.res}px images, not ${res}px: preprocess with \`res\` ${res}`);
  if (set.count === 0) throw new GanError(`cache ${dir} holds no images`);
  const m = set.manifest;
  const fingerprint = createHash('sha256')
    .update(JSON.stringify([m.res, m.crop, m.count, m.sources.map((s) => [s.path, s.size, s.mtimeMs, s.index])]))
    .digest('hex')
    .slice(0, 16);
  return { ...set, name: path.basename(path.resolve(dir)), dir: path.resolve(dir), fingerprint };
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
export function toFloatBatch(set: ImageSet, indices: ArrayLike<number>): Float32Array {
  const size = set.res * set.res * 3;
  const out = new Float32Array(indices.length * size);
  for (let b = 0; b < indices.length; b++) {
    const src = set.pixels.subarray(indices[b] * size, (indices[b] + 1) * size);
    for (let i = 0; i < size; i++) out[b * size + i] = src[i] / 127.5 - 1;
  }
  return out;
}
