// One image file to res×res RGB bytes: decode, crop, resize. Plain JPEGs (the usual face dataset) are
// decoded by our WebAssembly build of libjpeg-turbo (native/jpeg.c), which decodes only the crop's block
// rows and columns: sharp gives the same pixels from the same library but spends ~1 ms of libvips setup on
// each image, whatever its size, which is most of the time for a small face. Everything else (other formats, EXIF
// rotation, ICC profiles, CMYK, 16 bits) goes through sharp. Both end in the same resampler (resize.ts).
import * as fs from 'node:fs';
import type { CropMode } from './cache.js';
import { releaseResizer, resizeCrop } from './resize.js';

/** What native/jpeg.c exports. */
interface JpegWasm {
  memory: WebAssembly.Memory;
  inputBuffer(size: number): number;
  header(size: number): number;
  decode(left: number, top: number, width: number, height: number): number;
}

interface Box { left: number; top: number; width: number; height: number }

/**
 * Larger images are skipped: with this many pixels at most, a decoding thread holds at most a few hundred MB
 * (the crop's pixels in the decoder and in the resampler, 4 bytes a pixel each).
 */
export const MAX_PIXELS = 50e6;
/** Larger files are not read into memory here: sharp reads them from the file, header first. */
export const READ_LIMIT = 16 * 2 ** 20;

let jpegWasm: WebAssembly.Module | undefined;

/** One libjpeg-turbo decompressor and its buffers, kept from image to image. */
class JpegDecoder {
  private readonly jpeg: JpegWasm;

  constructor() {
    jpegWasm ??= new WebAssembly.Module(fs.readFileSync(new URL('../../../native/jpeg.wasm', import.meta.url)));
    // libjpeg's fatal errors become an exception out of the instance, which is then thrown away.
    const env = { fail: (code: number) => { throw new Error(`JPEG error ${code}`); } };
    const system = (name: string) => () => { throw new Error(`${name}: no system calls here`); };
    const wasi = Object.fromEntries(['fd_close', 'fd_seek', 'fd_write', 'proc_exit'].map((f) => [f, system(f)]));
    this.jpeg = new WebAssembly.Instance(jpegWasm, { env, wasi_snapshot_preview1: wasi }).exports as unknown as JpegWasm;
  }

  /**
   * The crop's pixels as RGBA rows (a view into the decoder's memory, valid until the next call) with the
   * crop's place in them, or undefined if libjpeg says no; an error thrown out of libjpeg leaves the decoder
   * unusable.
   */
  decode(file: Uint8Array, crop: CropMode): { rgba: Uint8Array; width: number; box: Box } | undefined {
    const j = this.jpeg;
    // The data below the crop is not read, so a file cut off there would pass for whole: one that does not
    // end with its end-of-image marker goes to sharp, which knows truncation from other endings.
    if (file[file.length - 2] !== 0xff || file[file.length - 1] !== 0xd9) return undefined;
    const input = j.inputBuffer(file.length);
    if (!input) return undefined;
    new Uint8Array(j.memory.buffer, input, file.length).set(file);
    const info = j.header(file.length);
    if (!info) return undefined;
    const [width, height] = new Int32Array(j.memory.buffer, info, 2);
    if (width * height > MAX_PIXELS) return undefined; // sharp says why
    const box = cropBox(width, height, crop);
    // null also for a warning (corrupt data, a truncated file): then sharp has the last word
    const rgba = j.decode(box.left, box.top, box.width, box.height);
    if (!rgba) return undefined;
    const [left, decodedWidth] = new Int32Array(j.memory.buffer, info + 8, 2);
    return { rgba: new Uint8Array(j.memory.buffer, rgba, decodedWidth * 4 * box.height), width: decodedWidth, box: { ...box, left: box.left - left, top: 0 } };
  }
}

let jpegDecoder: JpegDecoder | undefined;

/**
 * A plain JPEG (isPlainJpeg) to RGB uint8 [res, res, 3] by the WebAssembly decoder, or undefined when
 * libjpeg finds it damaged (then sharp says why).
 */
export function decodePlainJpeg(input: Uint8Array, res: number, crop: CropMode): Uint8Array | undefined {
  const decoder = (jpegDecoder ??= unlessFailed(() => new JpegDecoder())); // a missing or broken jpeg.wasm: not a bad file
  let image;
  try {
    image = decoder.decode(input, crop);
  } catch {
    jpegDecoder = undefined; // libjpeg gave up half-way: a fresh instance for the next file
  }
  return image && resizeCrop(image.rgba, image.width, image.box, res);
}

/** Lets go of the decoders' memory (kept from image to image while decoding), when this thread is done. */
export function releaseDecoders(): void {
  jpegDecoder = undefined;
  readBuffer = Buffer.alloc(0);
  releaseResizer();
}

// sharp is loaded on first use: a folder of plain JPEGs never needs it, and loading it costs each decoding
// thread ~50 ms. Its cache is off: each file is read once, and the cache would keep files open and pixels.
let sharpModule: Promise<typeof import('sharp').default> | undefined;
const loadSharp = () => (sharpModule ??= import('sharp').then((m) => {
  m.default.cache(false);
  return m.default;
}, (e: Error) => {
  sharpModule = undefined; // tried again for the next file
  throw new DecoderFailure(`sharp did not load: ${e.message}`);
}));

/** A decoder that could not be loaded: says nothing about the file, which is tried again next run. */
export class DecoderFailure extends Error {}

function unlessFailed<T>(load: () => T): T {
  try {
    return load();
  } catch (e) {
    throw new DecoderFailure(`the JPEG decoder did not load: ${(e as Error).message}`);
  }
}

/**
 * The square to keep, in display orientation: the largest centred square, or CelebA's standard DCGAN crop
 * (the centred 108×108 box of a 178×218 image, scaled with the image's width).
 */
export function cropBox(width: number, height: number, crop: CropMode): Box {
  const side = Math.min(width, height, crop === 'center' ? Infinity : Math.round((108 * width) / 178));
  return { left: Math.floor((width - side) / 2), top: Math.floor((height - side) / 2), width: side, height: side };
}

/**
 * A JPEG whose pixels need nothing beyond decoding: 8-bit, grey or YCbCr, baseline or progressive, and
 * no EXIF (it may rotate the image), ICC profile (other colour space) or Adobe marker (CMYK). Reads the
 * markers up to the start of the image data.
 */
export function isPlainJpeg(b: Uint8Array): boolean {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return false;
  const tag = (at: number, text: string) => Buffer.from(b.buffer, b.byteOffset + at, text.length).toString('latin1') === text;
  let frame = false;
  for (let i = 2; i + 4 <= b.length;) {
    if (b[i] !== 0xff) return false;
    const marker = b[i + 1];
    if (marker === 0xff) { // fill byte
      i++;
      continue;
    }
    if (marker === 0xda) return frame; // start of scan: every header is behind us
    const length = (b[i + 2] << 8) | b[i + 3];
    if (marker === 0xe1 && tag(i + 4, 'Exif')) return false;
    if (marker === 0xe2 && tag(i + 4, 'ICC_PROFILE')) return false;
    if (marker === 0xee) return false; // Adobe: CMYK or YCCK
    if (marker === 0xc0 || marker === 0xc1 || marker === 0xc2) { // baseline, extended, progressive
      if (b[i + 4] !== 8 || (b[i + 9] !== 1 && b[i + 9] !== 3)) return false;
      frame = true;
    } else if (marker >= 0xc3 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return false; // lossless, hierarchical or arithmetic-coded
    }
    i += 2 + length;
  }
  return false;
}

/**
 * A file's bytes (valid until the next call), or none if it is over READ_LIMIT, with its size and
 * modification time when it was opened.
 */
export interface Source {
  bytes?: Uint8Array;
  size: number;
  mtimeMs: number;
}

let readBuffer = Buffer.alloc(0);

/**
 * Reads a file of at most READ_LIMIT bytes whole into a buffer kept from call to call: on a decoding thread,
 * which has nothing else to do meanwhile. Its size and time come from the same open file, so the manifest
 * records what was decoded.
 */
export function readSource(file: string): Source {
  const fd = fs.openSync(file, 'r');
  try {
    const { size, mtimeMs } = fs.fstatSync(fd);
    if (size > READ_LIMIT) return { size, mtimeMs };
    if (readBuffer.length < size) readBuffer = Buffer.allocUnsafe(Math.min(READ_LIMIT, Math.max(size, 2 * readBuffer.length)));
    let got = 0;
    while (got < size) {
      const n = fs.readSync(fd, readBuffer, got, size - got, got);
      if (n === 0) break; // shorter than when it was opened
      got += n;
    }
    return { bytes: readBuffer.subarray(0, got), size, mtimeMs };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * An image (a file's bytes, or a file's path: sharp reads the header, and no more unless it is an image) to
 * RGB uint8 [res, res, 3]; throws with a short reason when it is not a readable image.
 */
export async function decodeImage(input: Uint8Array | string, res: number, crop: CropMode): Promise<Uint8Array> {
  if (input.length === 0) throw new Error('empty file');
  const fast = typeof input !== 'string' && isPlainJpeg(input) ? decodePlainJpeg(input, res, crop) : undefined;
  if (fast) return fast;
  // failOn 'truncated' rejects a cut-off JPEG instead of padding it with grey.
  const image = (await loadSharp())(input, { failOn: 'truncated', pages: 1, limitInputPixels: MAX_PIXELS });
  const meta = await image.metadata().catch((e: Error) => {
    throw /exceeds pixel limit/.test(e.message) ? new Error(`over the ${MAX_PIXELS / 1e6}-megapixel limit: scale it down`) : e;
  });
  const { width, height } = meta.autoOrient;
  if (!width || !height) throw new Error('no image size');
  const box = cropBox(width, height, crop);
  const pixels = await image
    .autoOrient()
    .extract(box)
    .pipelineColourspace('srgb') // 16-bit and CMYK images become 8-bit sRGB, so colours come out right
    .ensureAlpha() // RGBA, as the resampler reads it (alpha itself is ignored)
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer();
  return resizeCrop(pixels, box.width, { left: 0, top: 0, width: box.width }, res);
}

/** Why a file is not in the cache; `retry` when the reason may pass (the file is tried again next run). */
export interface Skip {
  reason: string;
  retry?: true;
}

// Failures that say nothing about the file.
const TEMPORARY = new Set(['EACCES', 'EPERM', 'EIO', 'EMFILE', 'ENFILE', 'ENOMEM', 'EAGAIN', 'EBUSY', 'ETIMEDOUT', 'ESTALE', 'ENOENT']);

export function skipOf(e: unknown): Skip {
  const reason = String((e as Error)?.message ?? e).split('\n')[0];
  const code = (e as NodeJS.ErrnoException)?.code;
  return e instanceof DecoderFailure || (code !== undefined && TEMPORARY.has(code)) ? { reason, retry: true } : { reason };
}

/** One chunk of files, decoded: their pixels in order, the size and time each was read at, and skip reasons. */
export interface Chunk {
  start: number;
  pixels: Uint8Array<ArrayBuffer>;
  stats: Float64Array<ArrayBuffer>; // size, mtimeMs per file
  skipped: (Skip | null)[];
}

function statOf(file: string): [number, number] {
  try {
    const { size, mtimeMs } = fs.statSync(file);
    return [size, mtimeMs];
  } catch {
    return [0, 0];
  }
}

/**
 * Shared by the decoding threads: [0] the next chunk to take, [1] how many chunks may be taken so far (the
 * cache's writing lets them run only so far ahead of it), -1 once decoding is over.
 */
export type Counter = Int32Array<SharedArrayBuffer>;

/** A decoding thread's way to wait until chunk c may be taken: false once decoding is over. */
export type MayTake = (c: number) => boolean | Promise<boolean>;

/** MayTake for a worker, which has nothing else to do: it sleeps until the counter lets it on. */
export function waitFor(counter: Counter): MayTake {
  return (c) => {
    for (;;) {
      const allowed = Atomics.load(counter, 1);
      if (allowed < 0) return false;
      if (c < allowed) return true;
      Atomics.wait(counter, 1, allowed);
    }
  };
}

/**
 * Decodes chunks of `files`, taking the next chunk's number from the counter shared by every decoding thread
 * (so none waits for another), and hands each chunk to `send`, until none is left. It yields to the event
 * loop between chunks: the main thread decodes too, and has messages to read meanwhile.
 */
export async function decodeChunks(files: string[], counter: Counter, chunk: number, res: number, crop: CropMode,
  send: (c: Chunk) => void, mayTake: MayTake): Promise<void> {
  const size = res * res * 3;
  for (let n = Atomics.add(counter, 0, 1); n * chunk < files.length && await mayTake(n); n = Atomics.add(counter, 0, 1)) {
    const start = n * chunk;
    const part = files.slice(start, start + chunk);
    const c: Chunk = { start, pixels: new Uint8Array(part.length * size), stats: new Float64Array(part.length * 2), skipped: [] };
    for (const [k, file] of part.entries()) {
      let source: Source | undefined;
      try {
        source = readSource(file);
        c.pixels.set(await decodeImage(source.bytes ?? file, res, crop), k * size);
        c.skipped.push(null);
      } catch (e) {
        c.skipped.push(skipOf(e));
      }
      c.stats.set(source ? [source.size, source.mtimeMs] : statOf(file), 2 * k); // as read, or as listed
    }
    send(c);
    await new Promise(setImmediate);
  }
}
