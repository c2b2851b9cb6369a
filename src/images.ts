// Turning generator output into files people can open: PNG faces, grids, animated GIF/WebP.
import * as tf from '@tensorflow/tfjs';
import sharp, { type Sharp } from 'sharp';

export interface RawImage {
  data: Uint8Array; // RGB, row-major
  width: number;
  height: number;
}

/** [n, h, w, 3] in [-1, 1] -> uint8 RGB, rounded and clipped. */
export async function toPixels(images: tf.Tensor4D): Promise<Uint8Array> {
  const u8 = tf.tidy(() => images.add(1).mul(127.5).round().clipByValue(0, 255).cast('int32'));
  const data = await u8.data();
  u8.dispose();
  return Uint8Array.from(data);
}

/** Lays n res×res images out in rows of `cols`, with a 2-pixel dark border, as torchvision's make_grid. */
export function grid(pixels: Uint8Array, n: number, res: number, cols = Math.ceil(Math.sqrt(n)), pad = 2): RawImage {
  const rows = Math.ceil(n / cols);
  const width = cols * (res + pad) + pad;
  const height = rows * (res + pad) + pad;
  const data = new Uint8Array(width * height * 3).fill(24);
  for (let i = 0; i < n; i++) {
    const x0 = pad + (i % cols) * (res + pad);
    const y0 = pad + Math.floor(i / cols) * (res + pad);
    for (let y = 0; y < res; y++) {
      const src = (i * res * res + y * res) * 3;
      data.set(pixels.subarray(src, src + res * 3), ((y0 + y) * width + x0) * 3);
    }
  }
  return { data, width, height };
}

function image(img: RawImage, scale = 1): Sharp {
  const s = sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });
  // A smooth filter to enlarge small faces for viewing.
  return scale === 1 ? s : s.resize(Math.round(img.width * scale), Math.round(img.height * scale), { kernel: 'lanczos3' });
}

/** XMP packet with a one-line description: where a picture came from, readable by any metadata tool. */
function xmp(description: string): string {
  const esc = description.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
  return '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">' +
    `<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:description>${esc}</dc:description>` +
    '</rdf:Description></rdf:RDF></x:xmpmeta>';
}

export const STILL_FORMATS = ['.png', '.jpg', '.jpeg', '.webp'];

/** PNG (or JPEG, WebP, by extension) bytes; deterministic for the same pixels and description. */
export async function encodeImage(img: RawImage, ext = '.png', scale = 1, description?: string): Promise<Buffer> {
  let s = image(img, scale);
  if (description) s = s.withXmp(xmp(description));
  if (ext === '.jpg' || ext === '.jpeg') return s.jpeg({ quality: 95 }).toBuffer();
  if (ext === '.webp') return s.webp({ lossless: true }).toBuffer();
  return s.png({ compressionLevel: 9 }).toBuffer();
}

/** An animated GIF or WebP of equal-size frames, looping forever. */
export async function encodeAnimation(frames: RawImage[], ext: string, scale: number, delayMs: number, description?: string): Promise<Buffer> {
  const scaled = scale === 1 ? frames : await Promise.all(frames.map(async (f) => ({
    data: await image(f, scale).raw().toBuffer(), width: Math.round(f.width * scale), height: Math.round(f.height * scale),
  })));
  const { width, height } = scaled[0];
  let s = sharp(Buffer.concat(scaled.map((f) => f.data)), { raw: { width, height: height * scaled.length, channels: 3, pageHeight: height } });
  if (description) s = s.withXmp(xmp(description));
  const animation = { loop: 0, delay: frames.map(() => delayMs) };
  return ext === '.gif' ? s.gif({ ...animation, effort: 10 }).toBuffer() : s.webp({ ...animation, lossless: true }).toBuffer();
}
