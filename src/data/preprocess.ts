// `gan preprocess`: decode, crop and resize every image under a folder once (decode.ts), into the cache.
// Incremental: files whose size and mtime match the manifest keep their cached pixels (or skip reason).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import 'sharp'; // loaded on the main thread before the decoding threads use it, as sharp requires on Linux
import { GanError } from '../errors.js';
import { say, type Logger } from '../log.js';
import { progress } from '../progress.js';
import { loadCache, readManifest, writeCache, type CropMode, type Manifest, type SourceEntry } from './cache.js';

export const RESOLUTIONS = [16, 32, 64, 128] as const;
export const CROPS: readonly CropMode[] = ['center', 'celeba'];

export interface PreprocessOptions {
  res: number;
  crop: CropMode;
  /** Cache folder; default data/<folder name>-<res>. */
  out?: string;
  /** Decoding threads (default: one per core). */
  threads?: number;
  logger?: Logger;
  quiet?: boolean;
}

export interface PreprocessResult {
  dir: string;
  manifest: Manifest;
  cached: number;
  skipped: number;
  processed: number; // decoded in this run (new or changed files)
  cacheHit: boolean;
  seconds: number;
}

export function checkRes(res: number): void {
  if (!(RESOLUTIONS as readonly number[]).includes(res)) {
    throw new GanError(`--res must be one of ${RESOLUTIONS.join(', ')} (got ${res})`);
  }
}

export function checkCrop(crop: string): asserts crop is CropMode {
  if (!CROPS.includes(crop as CropMode)) throw new GanError(`--crop must be one of ${CROPS.join(', ')} (got ${crop})`);
}

export function defaultCacheDir(folder: string, res: number): string {
  return path.join('data', `${path.basename(path.resolve(folder))}-${res}`);
}

const CHUNK = 32; // files per message to a decoding thread

/** Decodes `files` on worker threads (decode_worker.ts), each kept two chunks ahead; reports each file once. */
async function decodeAll(files: string[], opts: PreprocessOptions, each: (i: number, got: Uint8Array | string) => void): Promise<void> {
  const threads = Math.max(1, Math.min(opts.threads ?? os.availableParallelism(), Math.ceil(files.length / CHUNK)));
  const workers = Array.from({ length: threads }, () =>
    new Worker(new URL('./decode_worker.js', import.meta.url), { workerData: { res: opts.res, crop: opts.crop } }));
  let next = 0;
  const drive = (w: Worker) => new Promise<void>((resolve, reject) => {
    let pending = 0;
    const send = () => {
      for (; pending < 2 && next < files.length; next += CHUNK, pending++) w.postMessage({ start: next, files: files.slice(next, next + CHUNK) });
      if (pending === 0) resolve();
    };
    w.on('message', ({ start, pixels, skipped }: { start: number; pixels: Uint8Array; skipped: (string | null)[] }) => {
      const size = pixels.length / skipped.length;
      skipped.forEach((reason, k) => each(start + k, reason ?? pixels.subarray(k * size, (k + 1) * size)));
      pending--;
      send();
    });
    w.on('error', reject);
    send();
  });
  try {
    await Promise.all(workers.map(drive));
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

function listFiles(root: string): string[] {
  return (fs.readdirSync(root, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((d) => d.isFile() && !d.name.startsWith('.'))
    .map((d) => path.relative(root, path.join(d.parentPath, d.name)))
    .sort();
}

export async function preprocess(folder: string, opts: PreprocessOptions): Promise<PreprocessResult> {
  const t0 = performance.now();
  checkRes(opts.res);
  checkCrop(opts.crop);
  const root = path.resolve(folder);
  if (!fs.existsSync(root)) throw new GanError(`folder not found: ${folder}`);
  if (!fs.statSync(root).isDirectory()) throw new GanError(`not a folder: ${folder}`);
  const dir = opts.out ?? defaultCacheDir(folder, opts.res);

  const files = listFiles(root);
  if (files.length === 0) throw new GanError(`no files in ${folder}`);
  const stats = files.map((f) => fs.statSync(path.join(root, f)));

  const old = readManifest(dir);
  const reusable = old && old.res === opts.res && old.crop === opts.crop ? old : undefined;
  if (old && !reusable && !opts.quiet) say(`cache ${dir} was made with res ${old.res} crop ${old.crop}: rebuilding it`);
  const previous = new Map((reusable?.sources ?? []).map((s) => [s.path, s]));
  const sources: SourceEntry[] = files.map((p, i) => ({ path: p, size: stats[i].size, mtimeMs: stats[i].mtimeMs }));
  const todo = sources.filter((s) => {
    const was = previous.get(s.path);
    return !(was && was.size === s.size && was.mtimeMs === s.mtimeMs);
  });
  const unchanged = reusable !== undefined && todo.length === 0 && reusable.sources.length === sources.length;
  if (unchanged) {
    const skipped = reusable.sources.filter((s) => s.skipped).length;
    return { dir, manifest: reusable, cached: reusable.count, skipped, processed: 0, cacheHit: true, seconds: (performance.now() - t0) / 1000 };
  }

  const imageBytes = opts.res * opts.res * 3;
  const fresh = new Map<string, Uint8Array | string>(); // path -> pixels or skip reason
  const bar = opts.quiet ? undefined : progress('preprocess', todo.length);
  let done = 0;
  await decodeAll(todo.map((s) => path.join(root, s.path)), opts, (i, got) => {
    fresh.set(todo[i].path, got);
    bar?.update(++done);
  });
  bar?.stop();

  // Assemble in sorted path order: new pixels from this run, the rest from the old cache.
  const oldPixels = reusable && reusable.count > 0 ? loadCache(dir).pixels : undefined;
  let count = 0;
  for (const s of sources) {
    const got = fresh.get(s.path);
    const was = previous.get(s.path);
    if (got !== undefined ? typeof got !== 'string' : was?.index !== undefined) count++;
  }
  const pixels = new Uint8Array(count * imageBytes);
  let index = 0;
  for (const s of sources) {
    const got = fresh.get(s.path);
    if (typeof got === 'string') {
      s.skipped = got;
      continue;
    }
    if (got === undefined) {
      const was = previous.get(s.path)!;
      if (was.skipped !== undefined) {
        s.skipped = was.skipped;
        continue;
      }
      pixels.set(oldPixels!.subarray(was.index! * imageBytes, (was.index! + 1) * imageBytes), index * imageBytes);
    } else {
      pixels.set(got, index * imageBytes);
    }
    s.index = index++;
  }
  if (count === 0) {
    const first = sources[0];
    throw new GanError(`no readable images in ${folder}: all ${sources.length} files skipped (${first.path}: ${first.skipped})`);
  }
  const manifest = writeCache(dir, { res: opts.res, crop: opts.crop, source: root, count, sources }, pixels);
  const skipped = sources.length - count;
  opts.logger?.info({ event: 'preprocess', dir, count, skipped, processed: todo.length }, 'preprocess done');
  return { dir, manifest, cached: count, skipped, processed: todo.length, cacheHit: false, seconds: (performance.now() - t0) / 1000 };
}
