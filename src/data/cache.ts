// The image cache: uint8 shards of shape [n, res, res, 3] plus manifest.json, under data/<name>-<res>/.
// The manifest is written last and atomically, and names the shards it uses, so a kill at any moment
// leaves the previous manifest and its shards intact: a later run never trusts half-written data.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic, writeFileAtomicInBackground } from '../atomic.js';
import { GanError } from '../errors.js';

export const CACHE_FORMAT = 1;
export const SHARD_IMAGES = 4096; // at most, per shard

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
 * Writes a cache: shards in the background as they are handed over, then the manifest, which names them.
 * Shard names carry a generation stamp so new shards never overwrite the ones the old manifest uses.
 */
export class CacheWriter {
  private readonly generation = Date.now().toString(36);
  private readonly shards: Manifest['shards'] = [];
  private readonly writes: Promise<void>[] = [];
  private state: 'writing' | 'committed' | 'abandoned' = 'writing';

  constructor(readonly dir: string) {}

  /** Shard i: `count` images of [res, res, 3] bytes, in `parts` one after the other (no images: no shard). */
  shard(i: number, parts: Uint8Array[], count: number): void {
    if (count === 0 || this.state !== 'writing') return;
    const file = `shard-${this.generation}-${String(i).padStart(5, '0')}.u8`;
    this.shards[i] = { file, count };
    const write = writeFileAtomicInBackground(path.join(this.dir, file), parts);
    write.catch(() => {}); // a failure surfaces in commit(); until then it must not end the process
    this.writes.push(write);
  }

  /** Once every shard is written: the manifest (atomically), skipped.txt, and the shards no manifest names removed. */
  async commit(m: Omit<Manifest, 'shards' | 'format' | 'updated'>): Promise<Manifest> {
    await Promise.all(this.writes);
    const shards = this.shards.filter((s) => s !== undefined);
    const manifest: Manifest = { format: CACHE_FORMAT, ...m, shards, updated: new Date().toISOString() };
    writeFileAtomic(path.join(this.dir, 'manifest.json'), JSON.stringify(manifest, null, 1));
    this.state = 'committed'; // from here on the cache is whole: what follows only tidies up
    const skipped = m.sources.filter((s) => s.skipped).map((s) => `${s.path}\t${s.skipped}`);
    writeFileAtomic(path.join(this.dir, 'skipped.txt'), skipped.length ? skipped.join('\n') + '\n' : '');
    // Shards of earlier generations, and temporary files of writes a kill cut short.
    const keep = new Set(shards.map((s) => s.file));
    for (const f of fs.readdirSync(this.dir)) {
      if ((f.startsWith('shard-') && !keep.has(f)) || f.startsWith('.shard-')) fs.rmSync(path.join(this.dir, f), { force: true });
    }
    return manifest;
  }

  /** Before commit: writes no more shards and removes those written (the old manifest and its shards stay). */
  async abandon(): Promise<void> {
    if (this.state !== 'writing') return;
    this.state = 'abandoned';
    await Promise.allSettled(this.writes);
    for (const s of this.shards) if (s) fs.rmSync(path.join(this.dir, s.file), { force: true });
  }
}
