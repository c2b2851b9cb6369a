// `gan preprocess`: decode, crop and resize every image under a folder once, with sharp, into the cache.
// Incremental: files whose size and mtime match the manifest keep their cached pixels (or skip reason).
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
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
  /** Images decoded at once; sharp runs each on a libuv thread, so this spreads work over the cores. */
  concurrency?: number;
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

/**
 * The square to keep, in display orientation: the largest centred square, or CelebA's standard DCGAN crop
 * (the centred 108×108 box of a 178×218 image, scaled with the image's width).
 */
export function cropBox(width: number, height: number, crop: CropMode): { left: number; top: number; width: number; height: number } {
  const side = Math.min(width, height, crop === 'center' ? Infinity : Math.round((108 * width) / 178));
  return { left: Math.floor((width - side) / 2), top: Math.floor((height - side) / 2), width: side, height: side };
}

/** One file to RGB uint8 [res, res, 3]; throws with a short reason when it is not a readable image. */
export async function decodeImage(file: string, res: number, crop: CropMode): Promise<Buffer> {
  const input = await fs.promises.readFile(file);
  if (input.length === 0) throw new Error('empty file');
  // failOn 'truncated' rejects a cut-off JPEG instead of padding it with grey.
  const image = sharp(input, { failOn: 'truncated', pages: 1 });
  const meta = await image.metadata();
  const { width, height } = meta.autoOrient;
  if (!width || !height) throw new Error('no image size');
  return image
    .autoOrient()
    .extract(cropBox(width, height, crop))
    .pipelineColourspace('srgb') // resize 16-bit and CMYK images as 8-bit sRGB, so colours come out right
    .resize(res, res, { kernel: 'lanczos3' })
    .removeAlpha()
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer();
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
  const stats = await Promise.all(files.map((f) => fs.promises.stat(path.join(root, f))));

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
  const fresh = new Map<string, Buffer | string>(); // path -> pixels or skip reason
  const bar = opts.quiet ? undefined : progress('preprocess', todo.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < todo.length) {
      const s = todo[next++];
      try {
        fresh.set(s.path, await decodeImage(path.join(root, s.path), opts.res, opts.crop));
      } catch (e) {
        fresh.set(s.path, (e as Error).message.split('\n')[0]);
      }
      bar?.update(++done);
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 8 }, worker));
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
