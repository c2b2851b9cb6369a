// Turning generator output into files people can open: PNG faces, grids, animated GIF/WebP.
import * as tf from '@tensorflow/tfjs';
import sharp, { type Sharp } from 'sharp';
import { writeFileAtomic } from './atomic.js';

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

/** PNG bytes; deterministic for the same pixels. */
export async function encodePng(img: RawImage, scale = 1): Promise<Buffer> {
  return image(img, scale).png({ compressionLevel: 9 }).toBuffer();
}

export async function writePng(file: string, img: RawImage, scale = 1): Promise<void> {
  writeFileAtomic(file, await encodePng(img, scale));
}
