// `gan preprocess`: decode, crop and resize every image under a folder once (decode.ts), into the cache.
// Incremental: files whose size and mtime match the manifest keep their cached pixels (or skip reason), and
// shards that would hold the same images as before are kept as they are.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import 'sharp'; // loaded on the main thread before the decoding threads use it, as sharp requires on Linux
import { checkRes } from '../config.js';
import { GanError } from '../errors.js';
import { acquireLock } from '../lock.js';
import { say, type Logger } from '../log.js';
import { progress } from '../progress.js';
import { decodeChunks, releaseDecoders, skipOf, type Chunk, type Counter, type Skip } from './decode.js';
import {
  CacheError, CacheWriter, openCache, readManifest, SHARD_IMAGES, type CropMode, type Manifest, type SourceEntry,
} from './cache.js';
import type { ImageSource } from './source.js';

export const CROPS: readonly CropMode[] = ['center', 'celeba'];

export interface PreprocessOptions {
  res: number;
  crop: CropMode;
  /** Cache folder; default defaultCacheDir(). */
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

/** The folder a cache's manifest says it was made from, whatever its format. */
function madeFrom(dir: string): string | undefined {
  try {
    return (JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { source?: string }).source;
  } catch {
    return undefined;
  }
}

/**
 * data/<folder name>-<res>; if that holds the images of another folder of the same name,
 * data/<folder name>-<hash of the folder's path>-<res>.
 */
export function defaultCacheDir(folder: string, res: number): string {
  const root = path.resolve(folder);
  const name = path.basename(root);
  const plain = path.join('data', `${name}-${res}`);
  const own = path.join('data', `${name}-${createHash('sha256').update(root).digest('hex').slice(0, 8)}-${res}`);
  if (fs.existsSync(own)) return own;
  const other = madeFrom(plain);
  return other === undefined || other === root ? plain : own;
}

const CHUNK = 32; // files per message from a decoding thread
/** A manifest naming the shards written so far is saved at most this often (and after the first shard). */
const PROGRESS_MS = 10_000;
/** Bytes of images the cache's writer may hold before they are on their way to the disk (see write()). */
const BACKLOG = 32 * 2 ** 20;

/**
 * The decoding threads: this one and threads - 1 workers (decode_worker.ts), started early so that they
 * load their code while the folder is listed; this thread starts decoding at once. They decode at most
 * 2·threads chunks beyond the first file the cache's writing waits for (see allow()).
 */
class Decoders {
  private readonly workers: Worker[];
  private readonly finished = new Set<Worker>();
  private readonly counter: Counter = new Int32Array(new SharedArrayBuffer(8));
  private readonly ahead: number;
  private waiting: { chunk: number; go: (yes: boolean) => void }[] = []; // this thread, waiting to take a chunk
  private closing = false;
  private work?: { chunks: number; here: Promise<void> };
  /** Rejects when a thread fails, or ends before its work is done. */
  private readonly failure: Promise<never>;

  constructor(threads: number, private readonly opts: PreprocessOptions) {
    this.ahead = 2 * threads;
    Atomics.store(this.counter, 1, this.ahead);
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
  async decode(files: string[], each: (i: number, got: Uint8Array | Skip, size: number, mtimeMs: number) => void): Promise<void> {
    const receive = (c: Chunk) => {
      if (this.closing) return;
      const size = c.pixels.length / c.skipped.length;
      c.skipped.forEach((skip, k) =>
        each(c.start + k, skip ?? c.pixels.subarray(k * size, (k + 1) * size), c.stats[2 * k], c.stats[2 * k + 1]));
    };
    const there = this.workers.map((w) => new Promise<void>((resolve) => {
      w.on('message', (m: 'done' | Chunk) => {
        if (m !== 'done') return receive(m);
        this.finished.add(w);
        resolve();
      });
      w.postMessage({ files, counter: this.counter, chunk: CHUNK });
    }));
    const mayTake = (chunk: number) => {
      const allowed = Atomics.load(this.counter, 1);
      return allowed < 0 ? false : chunk < allowed || new Promise<boolean>((go) => this.waiting.push({ chunk, go }));
    };
    const here = decodeChunks(files, this.counter, CHUNK, this.opts.res, this.opts.crop, receive, mayTake);
    this.work = { chunks: Math.ceil(files.length / CHUNK), here };
    await Promise.race([this.failure, Promise.all([here, ...there])]);
  }

  /** The files before `written` are with the cache's writer: the threads may go on to 2·threads chunks beyond. */
  allow(written: number): void {
    const chunks = Math.floor(written / CHUNK) + this.ahead;
    const allowed = Atomics.load(this.counter, 1);
    if (allowed < 0 || chunks <= allowed) return;
    this.setAllowed(chunks);
  }

  private setAllowed(chunks: number): void {
    Atomics.store(this.counter, 1, chunks);
    Atomics.notify(this.counter, 1);
    const still: typeof this.waiting = [];
    for (const w of this.waiting) {
      if (chunks >= 0 && w.chunk >= chunks) still.push(w);
      else w.go(chunks >= 0);
    }
    this.waiting = still;
  }

  /** Ends the workers and, after its current chunk, this thread's decoding; reports nothing more. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.work) Atomics.store(this.counter, 0, this.work.chunks); // no chunk is left to take
    this.setAllowed(-1);
    await Promise.all([this.work?.here.catch(() => {}), ...this.workers.map((w) => w.terminate())]);
    releaseDecoders();
  }
}

/**
 * The cache's manifest, if it can be used and every shard it names is there with its size: a power cut
 * while shards were written (they are not flushed to disk one by one) may have left one short, and then the
 * cache is rebuilt.
 */
function intactCache(dir: string, quiet?: boolean): Manifest | undefined {
  let m: Manifest | undefined;
  try {
    m = readManifest(dir);
  } catch (e) {
    if (!(e instanceof CacheError)) throw e;
    if (!quiet) say(`cache ${dir}: ${e.why}: rebuilding it`);
    return undefined;
  }
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

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A name that is not UTF-8, printable: ASCII as it is, other bytes as \xNN. */
const escaped = (name: Buffer) =>
  Array.from(name, (b) => (b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');

/**
 * Every file under root (not hidden, nor in hidden folders), as sorted paths relative to it. A file whose
 * name is not UTF-8 (a manifest could not name it) and a folder that cannot be read come with a skip.
 */
function listFiles(root: string): { path: string; skip?: Skip }[] {
  const out: { path: string; skip?: Skip }[] = [];
  const walk = (rel: string) => {
    let entries: fs.Dirent<Buffer>[];
    try {
      entries = fs.readdirSync(path.join(root, rel), { withFileTypes: true, encoding: 'buffer' });
    } catch (e) {
      if (!rel) throw new GanError(`cannot read ${root}: ${(e as Error).message}`);
      return void out.push({ path: rel + path.sep, skip: skipOf(e) });
    }
    for (const d of entries) {
      if (d.name[0] === 0x2e) continue; // '.'
      if (!d.isFile() && !d.isDirectory()) continue;
      let name: string;
      try {
        name = utf8.decode(d.name);
      } catch {
        out.push({ path: path.join(rel, escaped(d.name)) + (d.isDirectory() ? path.sep : ''), skip: { reason: 'its name is not UTF-8: rename it' } });
        continue;
      }
      if (d.isDirectory()) walk(path.join(rel, name));
      else out.push({ path: path.join(rel, name) });
    }
  };
  walk('');
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** A source's outcome: its pixels (true once the writer has them), its index in the old cache, or a skip. */
type Got = Uint8Array | true | number | Skip | undefined;
const isImage = (g: Got) => g === true || typeof g === 'number' || g instanceof Uint8Array;
const isSkip = (g: Got): g is Skip => typeof g === 'object' && !(g instanceof Uint8Array);

export async function preprocess(folder: string, opts: PreprocessOptions): Promise<PreprocessResult> {
  checkRes(opts.res);
  checkCrop(opts.crop);
  const root = path.resolve(folder);
  if (!fs.existsSync(root)) throw new GanError(`folder not found: ${folder}`);
  if (!fs.statSync(root).isDirectory()) throw new GanError(`not a folder: ${folder}`);
  const dir = opts.out ?? defaultCacheDir(folder, opts.res);
  const lock = acquireLock(dir, 'gan preprocess');
  try {
    return await preprocessLocked(folder, root, dir, opts);
  } finally {
    lock.release();
    try {
      fs.rmdirSync(dir); // only if nothing was cached
    } catch {
      // it holds a cache
    }
  }
}

async function preprocessLocked(folder: string, root: string, dir: string, opts: PreprocessOptions): Promise<PreprocessResult> {
  const t0 = performance.now();
  const old = intactCache(dir, opts.quiet);
  const threads = Math.max(1, opts.threads ?? os.availableParallelism());
  let decoders = old ? undefined : new Decoders(threads, opts); // a new cache: every file is work
  let oldImages: ImageSource | undefined;
  try {
    const listed = listFiles(root);
    if (listed.length === 0) throw new GanError(`no files in ${folder}`);
    const sources = listed.map((l): SourceEntry => ({ path: l.path, size: 0, mtimeMs: 0 }));
    const got: Got[] = listed.map((l) => l.skip);

    const reusable = old && old.res === opts.res && old.crop === opts.crop ? old : undefined;
    if (old && !reusable && !opts.quiet) say(`cache ${dir} was made with res ${old.res} crop ${old.crop}: rebuilding it`);
    if (reusable) { // to compare with the manifest (for a new cache, the threads note them as they read)
      const previous = new Map(reusable.sources.map((s) => [s.path, s]));
      sources.forEach((s, i) => {
        if (got[i]) return;
        try {
          const st = fs.statSync(path.join(root, s.path));
          [s.size, s.mtimeMs] = [st.size, st.mtimeMs];
        } catch (e) {
          return void (got[i] = skipOf(e)); // gone since it was listed, or cannot be looked at
        }
        const was = previous.get(s.path);
        if (was && !was.retry && was.size === s.size && was.mtimeMs === s.mtimeMs) got[i] = was.skipped !== undefined ? { reason: was.skipped } : was.index;
      });
    }
    const todo = got.flatMap((g, i) => (g === undefined ? [i] : []));
    const entry = (i: number, index?: number): SourceEntry => {
      const g = got[i];
      if (!isSkip(g)) return { ...sources[i], index };
      return g.retry ? { ...sources[i], skipped: g.reason, retry: true } : { ...sources[i], skipped: g.reason };
    };
    if (reusable && todo.length === 0) {
      let n = 0;
      const same = JSON.stringify(sources.map((_, i) => entry(i, isImage(got[i]) ? n++ : undefined))) === JSON.stringify(reusable.sources);
      const skipped = reusable.sources.filter((s) => s.skipped).length;
      if (same) return { dir, manifest: reusable, cached: reusable.count, skipped, processed: 0, cacheHit: true, seconds: (performance.now() - t0) / 1000 };
    }

    // Slot k holds the readable images among sources k·perShard .. (k+1)·perShard: the old cache's shard if
    // it holds exactly those, else a new shard, written in source order as the images come in while the
    // threads decode the rest (old images are read from the old shards' files as the writing reaches them).
    oldImages = reusable && reusable.count > 0 ? openCache(dir, 0) : undefined;
    const oldStarts = new Map<number, number>(); // first image of an old shard → its position in the list
    reusable?.shards.reduce((start, s, j) => (oldStarts.set(start, j), start + s.count), 0);
    const perShard = opts.shardFiles ?? SHARD_IMAGES;
    const slotEnd = (k: number) => Math.min(sources.length, (k + 1) * perShard);
    const undecided = new Set(todo.map((i) => Math.floor(i / perShard))); // slots that wait for decoding
    /** The old shard that holds exactly slot k's images, if every source of the slot is unchanged. */
    const unchangedShard = (k: number) => {
      if (undecided.has(k)) return undefined;
      const olds = got.slice(k * perShard, slotEnd(k)).filter((g) => typeof g === 'number');
      const j = oldStarts.get(olds[0]);
      const same = j !== undefined && reusable!.shards[j].count === olds.length && olds.every((g, m) => g === olds[0] + m);
      return same ? reusable!.shards[j] : undefined;
    };
    let lastProgress = -Infinity;
    let progressSlots = 0;
    const saveProgress = () => {
      const slots = out.writtenSlots();
      if (slots === progressSlots || performance.now() - lastProgress < PROGRESS_MS) return;
      [lastProgress, progressSlots] = [performance.now(), slots];
      // The written slots' sources, then the old cache's images and skips (its shards are named after the
      // new ones); files decoded since, but not yet in a written shard, are decoded again by the next run.
      const entries: SourceEntry[] = [];
      let n = 0;
      const end = Math.min(sources.length, slots * perShard);
      for (let i = 0; i < end; i++) entries.push(entry(i, isImage(got[i]) ? n++ : undefined));
      for (let i = end; i < sources.length; i++) {
        const g = got[i];
        if (typeof g === 'number' || isSkip(g)) entries.push(entry(i, typeof g === 'number' ? n + g : undefined));
      }
      out.saveProgress({ res: opts.res, crop: opts.crop, source: root, sources: entries }, slots, reusable?.shards ?? []);
    };
    const out = new CacheWriter(dir, opts.res, () => {
      saveProgress();
      write();
    });
    // Sources before `next` are with the writer, which holds at most BACKLOG bytes it has not written yet;
    // decoded images wait for it here, and the threads decode only so far ahead of it (Decoders.allow).
    // Once `stopping`, the files not decoded are left out.
    const isTodo = new Uint8Array(sources.length);
    for (const i of todo) isTodo[i] = 1;
    let next = 0;
    let todoBefore = 0; // files decoded before `next`
    let stopping = false;
    let allWritten = () => {};
    const written = new Promise<void>((resolve) => (allWritten = resolve));
    const write = () => {
      for (; next < sources.length && out.backlog < BACKLOG; next++) {
        const k = Math.floor(next / perShard);
        const kept = next === k * perShard ? unchangedShard(k) : undefined;
        if (kept) {
          out.keep(k, kept);
          next = slotEnd(k) - 1;
          continue;
        }
        const g = got[next];
        if (g === undefined && !stopping) break;
        if (typeof g === 'number') out.add(k, oldImages!.read([g]));
        else if (g instanceof Uint8Array) {
          out.add(k, g);
          got[next] = true; // the writer has the pixels now
        }
        todoBefore += isTodo[next];
        if (next + 1 === slotEnd(k)) out.end(k);
      }
      if (next === sources.length) allWritten();
      decoders?.allow(todoBefore);
    };
    let count = 0;
    let manifest: Manifest;
    try {
      const bar = opts.quiet ? undefined : progress('preprocess', todo.length);
      let done = 0;
      decoders ??= new Decoders(threads, opts);
      write();
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
            if (i === next) write();
          })]);
        }
      } finally {
        opts.signal?.removeEventListener('abort', onAbort);
        bar?.stop();
      }
      const stopped = opts.signal?.aborted === true;
      if (stopped) { // keep what is done: the unfinished slots with the images they have, only those files listed
        await decoders.close();
        stopping = true;
        write();
      }
      await written;
      const entries = sources.flatMap((_, i) => (got[i] === undefined ? [] : [entry(i, isImage(got[i]) ? count++ : undefined)]));
      const fields = { res: opts.res, crop: opts.crop, source: root, sources: entries };
      if (stopped) {
        await out.commit(fields);
        throw new GanError(`stopped: ${done} of ${todo.length} files decoded, kept in ${dir}; the same command goes on from there`, 130);
      }
      if (count === 0) {
        const first = entries[0];
        throw new GanError(`no readable images in ${folder}: all ${sources.length} files skipped (${first.path}: ${first.skipped})`);
      }
      manifest = await out.commit(fields);
    } catch (e) {
      await decoders?.close(); // first, so no shard is started while the written ones are removed
      await out.abandon();
      throw e;
    }
    const skipped = sources.length - count;
    opts.logger?.info({ event: 'preprocess', dir, count, skipped, processed: todo.length }, 'preprocess done');
    return { dir, manifest, cached: count, skipped, processed: todo.length, cacheHit: false, seconds: (performance.now() - t0) / 1000 };
  } finally {
    oldImages?.close();
    await decoders?.close();
  }
}
