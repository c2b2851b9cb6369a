// Fixture images made by the tests themselves, in a temp dir: good ones of every colour model we accept,
// and every kind of bad file preprocess must skip.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { openCache, type Manifest } from '../src/data/cache.js';

export const RED = { r: 200, g: 30, b: 40 };

const made: string[] = [];
process.on('exit', () => made.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

/** A new temp dir, removed when the test process exits. */
export function tempDir(prefix = 'gan-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

const solid = (width: number, height: number, channels: 3 | 4 = 3, c = RED) =>
  sharp({ create: { width, height, channels, background: channels === 4 ? { ...c, alpha: 1 } : c } });

export const BLUE = { r: 20, g: 40, b: 210 };

/** RGB bytes of a width×height image whose left half is RED and right half BLUE. */
function halves(width: number, height: number): Buffer {
  const b = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    const c = i % width < width / 2 ? RED : BLUE;
    b.set([c.r, c.g, c.b], i * 3);
  }
  return b;
}

/** Writes good and bad images into `dir`; returns the expected outcome per relative path. */
export async function writeFixtures(dir: string): Promise<{ good: string[]; bad: string[] }> {
  const good: Record<string, Promise<unknown>> = {
    'rgb.jpg': solid(80, 60).jpeg({ quality: 95 }).toFile(path.join(dir, 'rgb.jpg')),
    'rgba.png': solid(50, 70, 4).png().toFile(path.join(dir, 'rgba.png')),
    'gray.png': solid(40, 40).grayscale().png().toFile(path.join(dir, 'gray.png')),
    'cmyk.jpg': solid(64, 64).toColourspace('cmyk').jpeg({ quality: 95 }).toFile(path.join(dir, 'cmyk.jpg')),
    '16bit.png': solid(64, 64).toColourspace('rgb16').png().toFile(path.join(dir, '16bit.png')),
    'palette.png': solid(64, 64).png({ palette: true }).toFile(path.join(dir, 'palette.png')),
    'a.webp': solid(64, 64).webp({ lossless: true }).toFile(path.join(dir, 'a.webp')),
    'a.gif': solid(64, 64).gif().toFile(path.join(dir, 'a.gif')),
    'a.tiff': solid(64, 64).tiff().toFile(path.join(dir, 'a.tiff')),
    // stored 80x40, left half red and right half blue; EXIF orientation 6 shows it turned a quarter clockwise,
    // 40x80 with red on top
    'rotated.jpg': sharp(halves(80, 40), { raw: { width: 80, height: 40, channels: 3 } }).jpeg({ quality: 95 })
      .withMetadata({ orientation: 6 }).toFile(path.join(dir, 'rotated.jpg')),
    'nested/deeper/b.png': (fs.mkdirSync(path.join(dir, 'nested/deeper'), { recursive: true }),
      solid(30, 30).png().toFile(path.join(dir, 'nested/deeper/b.png'))),
  };
  await Promise.all(Object.values(good));
  const jpeg = fs.readFileSync(path.join(dir, 'rgb.jpg'));
  fs.writeFileSync(path.join(dir, 'truncated.jpg'), jpeg.subarray(0, jpeg.length >> 1));
  fs.writeFileSync(path.join(dir, 'empty.jpg'), '');
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'not an image\n');
  fs.writeFileSync(path.join(dir, 'fake.png'), Buffer.from('89504e470d0a1a0a0000', 'hex'));
  return { good: Object.keys(good), bad: ['truncated.jpg', 'empty.jpg', 'notes.txt', 'fake.png'] };
}

/** A whole cache read at once, with its manifest (for small test caches). */
export function loadCache(dir: string, memory?: number): { count: number; pixels: Uint8Array; manifest: Manifest } {
  const cache = openCache(dir, memory);
  try {
    return { count: cache.count, pixels: cache.read(Array.from({ length: cache.count }, (_, i) => i)), manifest: cache.manifest };
  } finally {
    cache.close();
  }
}
