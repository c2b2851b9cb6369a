// The image cache: uint8 shards of shape [n, res, res, 3] plus manifest.json, under data/<name>-<res>/.
// The manifest is written last and atomically, and names the shards it uses, so a kill at any moment
// leaves the previous manifest and its shards intact: a later run never trusts half-written data.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../atomic.js';
import { GanError } from '../errors.js';

export const CACHE_FORMAT = 1;
export const SHARD_IMAGES = 4096;

export type CropMode = 'center' | 'celeba';

/** One source file as last seen: where its pixels sit in the cache, or why it was skipped. */
export interface SourceEntry {
  path: string; // relative to the source folder
  size: number;
  mtimeMs: number;
  index?: number; // position in the cache
  skipped?: string; // reason
}

export interface Manifest {
  format: number;
  res: number;
  crop: CropMode;
  source: string; // absolute path of the folder it was made from
  count: number;
  shards: { file: string; count: number }[];
  sources: SourceEntry[];
  updated: string;
}

export interface ImageSet {
  res: number;
  count: number;
  /** All images, [count, res, res, 3] uint8 RGB. */
  pixels: Uint8Array;
}

export function isCacheDir(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'manifest.json'));
}

export function readManifest(dir: string): Manifest | undefined {
  const file = path.join(dir, 'manifest.json');
  if (!fs.existsSync(file)) return undefined;
  try {
    const m = JSON.parse(fs.readFileSync(file, 'utf8')) as Manifest;
    return m.format === CACHE_FORMAT ? m : undefined;
  } catch {
    return undefined; // unreadable: treated as no cache, rebuilt
  }
}

/** Loads every image of a cache into one buffer (200k images at 64×64 is 2.5 GB). */
export function loadCache(dir: string): ImageSet & { manifest: Manifest } {
  const manifest = readManifest(dir);
  if (!manifest) throw new GanError(`${dir} is not an image cache (no readable manifest.json): run gan preprocess`);
  const imageBytes = manifest.res * manifest.res * 3;
  const pixels = new Uint8Array(manifest.count * imageBytes);
  let offset = 0;
  for (const shard of manifest.shards) {
    const file = path.join(dir, shard.file);
    const want = shard.count * imageBytes;
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch {
      throw new GanError(`cache ${dir} is missing ${shard.file}: run gan preprocess again`);
    }
    try {
      if (fs.fstatSync(fd).size !== want) throw new GanError(`cache ${dir}: ${shard.file} has the wrong size: run gan preprocess again`);
      fs.readSync(fd, pixels, offset, want, 0);
    } finally {
      fs.closeSync(fd);
    }
    offset += want;
  }
  return { res: manifest.res, count: manifest.count, pixels, manifest };
}

/**
 * Writes `pixels` as new shards, then the manifest (atomically), then removes shards no manifest names.
 * Shard names carry a generation stamp so new shards never overwrite the ones the old manifest uses.
 */
export function writeCache(dir: string, m: Omit<Manifest, 'shards' | 'format' | 'updated'>, pixels: Uint8Array): Manifest {
  fs.mkdirSync(dir, { recursive: true });
  const imageBytes = m.res * m.res * 3;
  const generation = Date.now().toString(36);
  const shards: Manifest['shards'] = [];
  for (let start = 0, i = 0; start < m.count; start += SHARD_IMAGES, i++) {
    const count = Math.min(SHARD_IMAGES, m.count - start);
    const file = `shard-${generation}-${String(i).padStart(5, '0')}.u8`;
    writeFileAtomic(path.join(dir, file), pixels.subarray(start * imageBytes, (start + count) * imageBytes));
    shards.push({ file, count });
  }
  const manifest: Manifest = { format: CACHE_FORMAT, ...m, shards, updated: new Date().toISOString() };
  writeFileAtomic(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 1));
  const skipped = m.sources.filter((s) => s.skipped).map((s) => `${s.path}\t${s.skipped}`);
  writeFileAtomic(path.join(dir, 'skipped.txt'), skipped.length ? skipped.join('\n') + '\n' : '');
  const keep = new Set(shards.map((s) => s.file));
  for (const f of fs.readdirSync(dir)) {
    if (f.startsWith('shard-') && !keep.has(f)) fs.rmSync(path.join(dir, f), { force: true });
  }
  return manifest;
}
