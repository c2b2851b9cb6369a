// The image cache: uint8 shards of shape [n, res, res, 3] plus manifest.json, under data/<name>-<res>/.
// The manifest is written atomically once the shards it names are in place (at the end, and now and then
// while a long preprocess writes them), so a kill at any moment leaves a manifest and its shards intact: a
// later run never trusts half-written data, and keeps what was written.
import { createHash, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { constants as bufferConstants } from 'node:buffer';
import { BackgroundFile, writeFileAtomic } from '../atomic.js';
import { GanError } from '../errors.js';
import { blockImages, readAt, type Block, type ImageSource } from './source.js';

export const CACHE_FORMAT = 2;
export const SHARD_IMAGES = 4096; // source files per shard

/** Bytes of images a process holds in memory by default; shards beyond it are read from their files. */
export const DATA_MEMORY = Math.floor(os.totalmem() / 4);

export type CropMode = 'center' | 'celeba';

/** One source file as last seen: where its pixels sit in the cache, or why it was skipped. */
export interface SourceEntry {
  path: string; // relative to the source folder
  size: number;
  mtimeMs: number;
  index?: number; // position in the cache
  skipped?: string; // reason
  /** The reason may pass (no permission, a disk error, a decoder that did not load): tried again next run. */
  retry?: true;
}

export interface Shard {
  file: string; // a name in the cache folder
  count: number;
  sha256: string; // of its bytes
}

export interface Manifest {
  format: number;
  res: number;
  crop: CropMode;
  source: string; // absolute path of the folder it was made from
  count: number;
  /** Of the cached pixels (from the shards' hashes): the same images give the same one, wherever they were copied. */
  fingerprint: string;
  shards: Shard[];
  sources: SourceEntry[];
  updated: string;
}

export function isCacheDir(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'manifest.json'));
}

/** A cache that cannot be used as it is; gan preprocess makes it again. */
export class CacheError extends GanError {
  constructor(dir: string, readonly why: string) {
    super(`cache ${dir}: ${why}: run gan preprocess again`);
  }
}

const SHARD_NAME = /^shard-[\w-]+\.u8$/; // a plain name: no way out of the cache folder
const isCount = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;

/**
 * The cache's manifest, checked before anything it says is used: shard names are plain file names inside the
 * folder, counts add up. Undefined when there is none; a GanError when it cannot be used.
 */
export function readManifest(dir: string): Manifest | undefined {
  const file = path.join(dir, 'manifest.json');
  if (!fs.existsSync(file)) return undefined;
  const bad = (why: string) => new CacheError(dir, `manifest.json ${why}`);
  let m: Manifest;
  try {
    m = JSON.parse(fs.readFileSync(file, 'utf8')) as Manifest;
  } catch (e) {
    throw bad(`is unreadable (${(e as Error).message})`);
  }
  if (typeof m !== 'object' || m === null) throw bad('is not an object');
  if (m.format !== CACHE_FORMAT) throw new CacheError(dir, 'made by another version of gan');
  if (!Number.isInteger(m.res) || m.res < 1 || m.res > 1024) throw bad(`has an impossible res (${m.res})`);
  if (!isCount(m.count) || typeof m.fingerprint !== 'string' || !Array.isArray(m.shards) || !Array.isArray(m.sources)) throw bad('is incomplete');
  for (const s of m.shards) {
    if (typeof s?.file !== 'string' || !SHARD_NAME.test(s.file)) throw bad(`names a shard that is not a file of its folder (${JSON.stringify(s?.file)})`);
    if (!isCount(s.count)) throw bad(`gives ${s.file} an impossible count (${s.count})`);
  }
  const inShards = m.shards.reduce((n, s) => n + s.count, 0);
  if (inShards !== m.count) throw bad(`counts ${m.count} images but its shards hold ${inShards}`);
  for (const s of m.sources) {
    if (typeof s?.path !== 'string' || (s.index !== undefined && !(isCount(s.index) && s.index < m.count))) throw bad('has a source entry out of range');
  }
  return m;
}

/**
 * A cache's images, shard by shard: each held in memory while the shards so far fit in `memory` bytes, the
 * rest read from their files as they are asked for. Sizes are checked against the manifest before anything
 * is allocated. The files stay open until close(), so a cache rewritten meanwhile does not pull them away.
 */
export function openCache(dir: string, memory = DATA_MEMORY): ImageSource & { manifest: Manifest } {
  const manifest = readManifest(dir);
  if (!manifest) throw new GanError(`${dir} is not an image cache (no manifest.json): run gan preprocess`);
  const imageBytes = manifest.res * manifest.res * 3;
  const blocks: Block[] = [];
  let left = memory;
  try {
    for (const shard of manifest.shards) {
      const file = path.join(dir, shard.file);
      let fd: number;
      try {
        fd = fs.openSync(file, 'r');
      } catch {
        throw new CacheError(dir, `${shard.file} is missing`);
      }
      blocks.push({ count: shard.count, fd, file });
      const bytes = shard.count * imageBytes;
      if (fs.fstatSync(fd).size !== bytes) throw new CacheError(dir, `${shard.file} has the wrong size`);
      if (bytes > left || bytes > bufferConstants.MAX_LENGTH) continue;
      const pixels = new Uint8Array(bytes);
      readAt(fd, pixels, 0, file);
      fs.closeSync(fd);
      blocks[blocks.length - 1] = { count: shard.count, bytes: pixels };
      left -= bytes;
    }
  } catch (e) {
    for (const b of blocks) if ('fd' in b) fs.closeSync(b.fd);
    throw e;
  }
  return { ...blockImages(manifest.res, blocks), manifest };
}

/** Of the pixels: depends on nothing but the images, in order (and where shards split them). */
function fingerprintOf(res: number, shards: Shard[]): string {
  return createHash('sha256').update(JSON.stringify([res, shards.map((s) => [s.count, s.sha256])])).digest('hex').slice(0, 16);
}

export type ManifestFields = Omit<Manifest, 'format' | 'fingerprint' | 'shards' | 'count' | 'updated'>;

/** Images gathered before a write is queued: few system calls, and a few MB held at most. */
const FLUSH_BYTES = 4 * 2 ** 20;

interface OpenShard {
  name: string;
  file: BackgroundFile;
  hash: Hash;
  count: number;
  queued: Uint8Array[];
  queuedBytes: number;
}

/**
 * Writes a cache: each slot's shard as its images come, in the background (or a shard of the cache it
 * replaces, kept as it is), then the manifest, which names them. Shard names carry a generation stamp so new
 * shards never overwrite the ones the old manifest uses.
 */
export class CacheWriter {
  private readonly generation = Date.now().toString(36);
  private readonly imageBytes: number;
  private readonly open = new Map<number, OpenShard>(); // by slot
  private readonly shards: (Shard | undefined)[] = []; // by slot
  private readonly written: boolean[] = []; // by slot
  private readonly mine: string[] = []; // files this writer made
  private readonly writes: Promise<void>[] = [];
  private state: 'writing' | 'committed' | 'abandoned' = 'writing';
  /** Bytes of images added and not yet written. */
  backlog = 0;

  /** `onWrite` is called as each write is done and as each shard is in place. */
  constructor(readonly dir: string, res: number, private readonly onWrite = () => {}) {
    this.imageBytes = res * res * 3;
  }

  /** Whole images ([n, res, res, 3]) for slot i's shard, after those added before; they must not change until it is written. */
  add(i: number, images: Uint8Array): void {
    if (this.state !== 'writing') return;
    let shard = this.open.get(i);
    if (!shard) {
      const name = `shard-${this.generation}-${String(i).padStart(5, '0')}.u8`;
      shard = { name, file: new BackgroundFile(path.join(this.dir, name)), hash: createHash('sha256'), count: 0, queued: [], queuedBytes: 0 };
      this.open.set(i, shard);
      this.mine.push(name);
    }
    shard.hash.update(images);
    shard.count += images.length / this.imageBytes;
    this.backlog += images.length;
    shard.queued.push(images);
    shard.queuedBytes += images.length;
    if (shard.queuedBytes >= FLUSH_BYTES) this.flush(shard);
  }

  private flush(shard: OpenShard): void {
    const bytes = shard.queuedBytes;
    shard.file.write(shard.queued).then(() => {
      this.backlog -= bytes;
      this.onWrite();
    });
    [shard.queued, shard.queuedBytes] = [[], 0];
  }

  /** Slot i has all its images: its shard goes into place once written (no images: no shard). */
  end(i: number): void {
    if (this.state !== 'writing') return;
    const shard = this.open.get(i);
    this.open.delete(i);
    if (!shard) return void (this.written[i] = true);
    this.flush(shard);
    this.shards[i] = { file: shard.name, count: shard.count, sha256: shard.hash.digest('hex') };
    const write = shard.file.close().then(() => {
      this.written[i] = true;
      this.onWrite();
    });
    write.catch(() => {}); // a failure surfaces in commit(); until then it must not end the process
    this.writes.push(write);
  }

  /** Slot i: a shard already in the folder, as it is (it holds exactly the images the slot would). */
  keep(i: number, shard: Shard): void {
    this.shards[i] = shard;
    this.written[i] = true;
  }

  /** How many slots from the first are in place. */
  writtenSlots(): number {
    let k = 0;
    while (this.written[k]) k++;
    return k;
  }

  private manifest(m: ManifestFields, shards: Shard[]): Manifest {
    const count = shards.reduce((n, s) => n + s.count, 0);
    return { format: CACHE_FORMAT, ...m, count, fingerprint: fingerprintOf(m.res, shards), shards, updated: new Date().toISOString() };
  }

  /**
   * While writing: a manifest naming the shards of the first `slots` slots (in place) and then `kept` (the
   * cache being replaced, still there), so that a kill loses none of the shards written so far.
   */
  saveProgress(m: ManifestFields, slots: number, kept: Shard[]): void {
    if (this.state !== 'writing') return;
    const shards = [...this.shards.slice(0, slots).filter((s) => s !== undefined), ...kept];
    writeFileAtomic(path.join(this.dir, 'manifest.json'), JSON.stringify(this.manifest(m, shards), null, 1));
  }

  /** Once every slot has ended and its shard is written: the manifest (atomically), skipped.txt, and the shards no manifest names removed. */
  async commit(m: ManifestFields): Promise<Manifest> {
    if (this.open.size) throw new Error(`slots ${[...this.open.keys()]} were not ended`);
    await Promise.all(this.writes);
    const shards = this.shards.filter((s) => s !== undefined);
    const manifest = this.manifest(m, shards);
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

  /**
   * Before commit: writes no more shards and removes those it wrote, unless a progress manifest names them
   * (the manifest on disk and its shards stay).
   */
  async abandon(): Promise<void> {
    if (this.state !== 'writing') return;
    this.state = 'abandoned';
    await Promise.all([...this.open.values()].map((s) => s.file.discard()));
    await Promise.allSettled(this.writes);
    let named = new Set<string>();
    try {
      named = new Set(readManifest(this.dir)?.shards.map((s) => s.file));
    } catch {
      // a manifest that cannot be used names nothing
    }
    for (const f of this.mine) if (!named.has(f)) fs.rmSync(path.join(this.dir, f), { force: true });
  }
}
