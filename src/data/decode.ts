// One image file to res×res RGB bytes: decode, crop, resize. Plain JPEGs (the usual face dataset) are
// decoded by libjpeg-turbo in WebAssembly (the build in @cwasm/jpeg-turbo): sharp gives the same pixels from
// the same library but spends ~1 ms of libvips setup on each image, whatever its size, which is most of the
// time for a small face. Everything else (other formats, EXIF rotation, ICC profiles, CMYK, 16 bits) goes
// through sharp. Both end in the same resampler (resize.ts).
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import type { CropMode } from './cache.js';
import { resizeCrop } from './resize.js';

/** The TurboJPEG functions @cwasm/jpeg-turbo's WebAssembly exports. */
interface TurboJpeg {
  memory: WebAssembly.Memory;
  malloc(bytes: number): number;
  free(at: number): void;
  tjInitDecompress(): number;
  tjDecompressHeader3(handle: number, jpeg: number, size: number, width: number, height: number, subsampling: number, colorspace: number): number;
  tjDecompress2(handle: number, jpeg: number, size: number, out: number, width: number, pitch: number, height: number, format: number, flags: number): number;
}

const TJPF_RGBA = 7;
const MAX_PIXELS = 40e6; // larger JPEGs go to sharp: this decoder's memory never shrinks

let turboJpeg: WebAssembly.Module | undefined;

/**
 * libjpeg-turbo in WebAssembly, called directly rather than through the package's decode(): one decompressor
 * and one pair of buffers, kept from image to image, save a fifth of the time on a small face.
 */
class JpegDecoder {
  private readonly tj: TurboJpeg;
  private readonly handle: number;
  private input = { at: 0, size: 0 };
  private output = { at: 0, size: 0 };
  private readonly header: number; // width, height, subsampling, colour space: 4 int32

  constructor() {
    turboJpeg ??= new WebAssembly.Module(fs.readFileSync(createRequire(import.meta.url).resolve('@cwasm/jpeg-turbo/jpeg-turbo.wasm')));
    // libjpeg's error exit longjmps: here, an exception out of the instance, which is then thrown away.
    const env = { setjmp: () => 0, longjmp: () => { throw new Error('JPEG error'); } };
    const wasi = Object.fromEntries(['environ_get', 'proc_exit', 'fd_close', 'fd_seek', 'fd_write'].map((f) => [f, () => { throw new Error(`${f}: no system calls here`); }]));
    this.tj = new WebAssembly.Instance(turboJpeg, { env, wasi_snapshot_preview1: { ...wasi, environ_sizes_get: () => 0 } }).exports as unknown as TurboJpeg;
    this.header = this.tj.malloc(16);
    this.handle = this.tj.tjInitDecompress();
    if (!this.header || !this.handle) throw new Error('JPEG decoder out of memory');
  }

  private buffer(b: { at: number; size: number }, size: number): number {
    if (b.size < size) {
      if (b.at) this.tj.free(b.at);
      b.at = this.tj.malloc(size);
      if (!b.at) throw new Error('JPEG decoder out of memory');
      b.size = size;
    }
    return b.at;
  }

  /**
   * RGBA pixels (a view into the decoder's memory, valid until the next call), or undefined if libjpeg says
   * no; an error thrown out of libjpeg leaves the decoder unusable.
   */
  decode(jpeg: Uint8Array): { width: number; height: number; rgba: Uint8Array } | undefined {
    const tj = this.tj;
    const input = this.buffer(this.input, jpeg.length);
    new Uint8Array(tj.memory.buffer, input, jpeg.length).set(jpeg);
    const h = this.header;
    if (tj.tjDecompressHeader3(this.handle, input, jpeg.length, h, h + 4, h + 8, h + 12) !== 0) return undefined;
    const [width, height] = new Int32Array(tj.memory.buffer, h, 2);
    if (width * height > MAX_PIXELS) return undefined; // sharp, with its own limits, and nothing kept here
    const out = this.buffer(this.output, width * height * 4);
    // status -1 also for a warning (a truncated file, corrupt data): then sharp has the last word
    if (tj.tjDecompress2(this.handle, input, jpeg.length, out, width, width * 4, height, TJPF_RGBA, 0) !== 0) return undefined;
    return { width, height, rgba: new Uint8Array(tj.memory.buffer, out, width * height * 4) };
  }
}

let jpegDecoder: JpegDecoder | undefined;

// sharp is loaded on first use: a folder of plain JPEGs never needs it, and loading it costs each decoding
// thread ~50 ms.
let sharpModule: Promise<typeof import('sharp')> | undefined;
const loadSharp = async () => (await (sharpModule ??= import('sharp'))).default;

/**
 * The square to keep, in display orientation: the largest centred square, or CelebA's standard DCGAN crop
 * (the centred 108×108 box of a 178×218 image, scaled with the image's width).
 */
export function cropBox(width: number, height: number, crop: CropMode): { left: number; top: number; width: number; height: number } {
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

/** One file to RGB uint8 [res, res, 3]; throws with a short reason when it is not a readable image. */
export async function decodeImage(file: string, res: number, crop: CropMode): Promise<Uint8Array> {
  const input = fs.readFileSync(file); // on a decoding thread, which has nothing else to do meanwhile
  if (input.length === 0) throw new Error('empty file');
  if (isPlainJpeg(input)) {
    let image;
    try {
      image = (jpegDecoder ??= new JpegDecoder()).decode(input);
    } catch {
      jpegDecoder = undefined;
    }
    if (image) return resizeCrop(image.rgba, image.width, cropBox(image.width, image.height, crop), res);
    // damaged: sharp says why below
  }
  // failOn 'truncated' rejects a cut-off JPEG instead of padding it with grey.
  const image = (await loadSharp())(input, { failOn: 'truncated', pages: 1 });
  const meta = await image.metadata();
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
