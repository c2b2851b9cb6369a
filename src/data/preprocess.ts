// `gan preprocess`: decode, crop and resize every image under a folder once (decode.ts), into the cache.
// Incremental: files whose size and mtime match the manifest keep their cached pixels (or skip reason).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import 'sharp'; // loaded on the main thread before the decoding threads use it, as sharp requires on Linux
import { checkRes } from '../config.js';
import { GanError } from '../errors.js';
import { say, type Logger } from '../log.js';
import { progress } from '../progress.js';
import { decodeChunks, releaseDecoders, type Chunk } from './decode.js';
import { CacheWriter, loadCache, readManifest, SHARD_IMAGES, type CropMode, type Manifest, type SourceEntry } from './cache.js';

export const CROPS: readonly CropMode[] = ['center', 'celeba'];

export interface PreprocessOptions {
  res: number;
  crop: CropMode;
  /** Cache folder; default data/<folder name>-<res>. */
  out?: string;
  /** Decoding threads, this one included (default: one per core). */
  threads?: number;
  /** Source files per shard (default SHARD_IMAGES). */
  shardFiles?: number;
  logger?: Logger;
  quiet?: boolean;
  /** Stops decoding early: the files decoded so far are cached (a rerun goes on from there), then it throws. */
  signal?: AbortSignal;
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

export function checkCrop(crop: string): asserts crop is CropMode {
  if (!CROPS.includes(crop as CropMode)) throw new GanError(`\`crop\` must be one of ${CROPS.join(', ')} (got ${crop})`);
}

export function defaultCacheDir(folder: string, res: number): string {
  return path.join('data', `${path.basename(path.resolve(folder))}-${res}`);
}

const CHUNK = 32; // files per message from a decoding thread

/**
 * The decoding threads: this one and threads - 1 workers (decode_worker.ts), started early so that they
 * load their code while the folder is listed; this thread starts decoding at once.
 */
class Decoders {
  private readonly workers: Worker[];
  private readonly finished = new Set<Worker>();
  private closing = false;
  private work?: { counter: Int32Array; chunks: number; here: Promise<void> };
  /** Rejects when a thread fails, or ends before its work is done. */
  private readonly failure: Promise<never>;

  constructor(threads: number, private readonly opts: PreprocessOptions) {
    this.workers = Array.from({ length: threads - 1 }, () =>
      new Worker(new URL('./decode_worker.js', import.meta.url), { workerData: { res: opts.res, crop: opts.crop } }));
    this.failure = new Promise<never>((_, reject) => {
      for (const w of this.workers) {
        w.on('error', reject);
        w.on('exit', (code) => {
          if (!this.closing && !this.finished.has(w)) reject(new Error(`a decoding thread stopped (exit code ${code})`));
        });
      }
    });
    this.failure.catch(() => {}); // decode() reports it
  }

  /** Decodes `files`, reporting each file once, as it comes back, with the size and time it was read at. */
  async decode(files: string[], each: (i: number, got: Uint8Array | string, size: number, mtimeMs: number) => void): Promise<void> {
    const counter = new SharedArrayBuffer(4);
    const receive = (c: Chunk) => {
      if (this.closing) return;
      const size = c.pixels.length / c.skipped.length;
      c.skipped.forEach((reason, k) =>
        each(c.start + k, reason ?? c.pixels.subarray(k * size, (k + 1) * size), c.stats[2 * k], c.stats[2 * k + 1]));
    };
    const there = this.workers.map((w) => new Promise<void>((resolve) => {
      w.on('message', (m: 'done' | Chunk) => {
        if (m !== 'done') return receive(m);
        this.finished.add(w);
        resolve();
      });
      w.postMessage({ files, counter, chunk: CHUNK });
    }));
    const here = decodeChunks(files, counter, CHUNK, this.opts.res, this.opts.crop, receive);
    this.work = { counter: new Int32Array(counter), chunks: Math.ceil(files.length / CHUNK), here };
    await Promise.race([this.failure, Promise.all([here, ...there])]);
  }

  /** Ends the workers and, after its current chunk, this thread's decoding; reports nothing more. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.work) Atomics.store(this.work.counter, 0, this.work.chunks); // no chunk is left to take
    await Promise.all([this.work?.here.catch(() => {}), ...this.workers.map((w) => w.terminate())]);
    releaseDecoders();
  }
}

/**
 * The cache's manifest, if every shard it names is there with its size: a power cut while shards were
 * written (they are not flushed to disk one by one) may have left one short, and then the cache is rebuilt.
 */
function intactCache(dir: string, quiet?: boolean): Manifest | undefined {
  const m = readManifest(dir);
  if (!m) return undefined;
  const size = (file: string) => {
    try {
      return fs.statSync(path.join(dir, file)).size;
    } catch {
      return -1;
    }
  };
  const damaged = m.shards.find((s) => size(s.file) !== s.count * m.res * m.res * 3);
  if (!damaged) return m;
  if (!quiet) say(`cache ${dir}: ${damaged.file} is missing or short: rebuilding it`);
  return undefined;
}

/** Every file under root (not hidden), as sorted paths relative to it. */
function listFiles(root: string): string[] {
  return (fs.readdirSync(root, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((d) => d.isFile() && !d.name.startsWith('.'))
    .map((d) => (d.parentPath === root ? d.name : path.join(path.relative(root, d.parentPath), d.name)))
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
  const old = intactCache(dir, opts.quiet);
  const threads = Math.max(1, opts.threads ?? os.availableParallelism());
  let decoders = old ? undefined : new Decoders(threads, opts); // a new cache: every file is work
  try {
    const files = listFiles(root);
    if (files.length === 0) throw new GanError(`no files in ${folder}`);
    const sources: SourceEntry[] = files.map((p) => ({ path: p, size: 0, mtimeMs: 0 }));
    if (old) { // to compare with the manifest (for a new cache, the threads note them as they read)
      for (const s of sources) {
        const st = fs.statSync(path.join(root, s.path));
        [s.size, s.mtimeMs] = [st.size, st.mtimeMs];
      }
    }

    const reusable = old && old.res === opts.res && old.crop === opts.crop ? old : undefined;
    if (old && !reusable && !opts.quiet) say(`cache ${dir} was made with res ${old.res} crop ${old.crop}: rebuilding it`);
    const previous = new Map((reusable?.sources ?? []).map((s) => [s.path, s]));
    const unchangedFrom = (s: SourceEntry) => {
      const was = previous.get(s.path);
      return was && was.size === s.size && was.mtimeMs === s.mtimeMs ? was : undefined;
    };
    const todo = sources.flatMap((s, i) => (unchangedFrom(s) ? [] : [i]));
    if (reusable && todo.length === 0 && reusable.sources.length === sources.length) {
      const skipped = reusable.sources.filter((s) => s.skipped).length;
      return { dir, manifest: reusable, cached: reusable.count, skipped, processed: 0, cacheHit: true, seconds: (performance.now() - t0) / 1000 };
    }

    // Each source's pixels or skip reason: from the old cache now, from the decoding threads as they come.
    const imageBytes = opts.res * opts.res * 3;
    const oldPixels = reusable && reusable.count > 0 ? loadCache(dir).pixels : undefined;
    const got: (Uint8Array | string | undefined)[] = sources.map((s) => {
      const was = unchangedFrom(s);
      if (!was) return undefined;
      return was.skipped ?? oldPixels!.subarray(was.index! * imageBytes, (was.index! + 1) * imageBytes);
    });
    // Shard k holds the readable images among sources k·perShard .. (k+1)·perShard, written as soon as
    // the last of them is in, while the threads decode the rest.
    const out = new CacheWriter(dir);
    const perShard = opts.shardFiles ?? SHARD_IMAGES;
    const waiting = Array.from({ length: Math.ceil(sources.length / perShard) }, (_, k) =>
      got.slice(k * perShard, (k + 1) * perShard).filter((g) => g === undefined).length);
    const complete = (k: number) => {
      const images = got.slice(k * perShard, (k + 1) * perShard).filter((g) => g instanceof Uint8Array);
      out.shard(k, images, images.length);
    };
    let count = 0;
    let manifest: Manifest;
    try {
      waiting.forEach((n, k) => n === 0 && complete(k));
      const bar = opts.quiet ? undefined : progress('preprocess', todo.length);
      let done = 0;
      decoders ??= new Decoders(threads, opts);
      let onAbort = () => {};
      const stop = new Promise<void>((resolve) => (onAbort = resolve));
      opts.signal?.addEventListener('abort', onAbort);
      try {
        if (!opts.signal?.aborted) {
          await Promise.race([stop, decoders.decode(todo.map((i) => path.join(root, sources[i].path)), (t, result, size, mtimeMs) => {
            const i = todo[t];
            got[i] = result;
            [sources[i].size, sources[i].mtimeMs] = [size, mtimeMs];
            bar?.update(++done);
            const k = Math.floor(i / perShard);
            if (--waiting[k] === 0) complete(k);
          })]);
        }
      } finally {
        opts.signal?.removeEventListener('abort', onAbort);
        bar?.stop();
      }
      const stopped = opts.signal?.aborted === true;
      if (stopped) { // keep what is done: the unfinished shards with the images they have, only those files listed
        await decoders.close();
        waiting.forEach((n, k) => n > 0 && complete(k));
      }
      got.forEach((g, i) => {
        if (typeof g === 'string') sources[i].skipped = g;
        else if (g) sources[i].index = count++;
      });
      if (stopped) {
        await out.commit({ res: opts.res, crop: opts.crop, source: root, count, sources: sources.filter((_, i) => got[i] !== undefined) });
        throw new GanError(`stopped: ${done} of ${todo.length} files decoded, kept in ${dir}; the same command goes on from there`, 130);
      }
      if (count === 0) {
        const first = sources[0];
        throw new GanError(`no readable images in ${folder}: all ${sources.length} files skipped (${first.path}: ${first.skipped})`);
      }
      manifest = await out.commit({ res: opts.res, crop: opts.crop, source: root, count, sources });
    } catch (e) {
      await decoders?.close(); // first, so no shard is started while the written ones are removed
      await out.abandon();
      throw e;
    }
    const skipped = sources.length - count;
    opts.logger?.info({ event: 'preprocess', dir, count, skipped, processed: todo.length }, 'preprocess done');
    return { dir, manifest, cached: count, skipped, processed: todo.length, cacheHit: false, seconds: (performance.now() - t0) / 1000 };
  } finally {
    await decoders?.close();
  }
}
