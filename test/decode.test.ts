import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { decodeImage, decodePlainJpeg, isPlainJpeg } from '../src/data/decode.js';
import { fixedTaps, lanczosTaps, resizeCrop } from '../src/data/resize.js';
import { Rng } from '../src/rng.js';

function randomBytes(n: number, seed: number): Uint8Array {
  return Uint8Array.from(new Rng(seed, 'bytes').normals(n), (v) => Math.max(0, Math.min(255, Math.round(128 + 60 * v))));
}

/** resizeCrop's sums in float64, straight from the taps: what the fixed-point SIMD kernel must come within 1 of. */
function reference(src: Uint8Array, width: number, box: { left: number; top: number; width: number }, res: number): Uint8Array {
  const { first, weights, K } = lanczosTaps(box.width, res);
  const out = new Uint8Array(res * res * 3);
  for (let i = 0; i < res; i++) {
    for (let j = 0; j < res; j++) {
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let a = 0; a < K; a++) {
          for (let b = 0; b < K; b++) {
            const y = box.top + first[i] + a;
            const x = box.left + first[j] + b;
            sum += weights[i * K + a] * weights[j * K + b] * src[(y * width + x) * 4 + c];
          }
        }
        out[(i * res + j) * 3 + c] = Math.max(0, Math.min(255, Math.round(sum)));
      }
    }
  }
  return out;
}

test('Lanczos taps: weights sum to 1 (in fixed point, exactly), windows stay inside the input, and the same size is the identity', () => {
  for (const [n, m] of [[54, 64], [108, 64], [178, 16], [64, 64], [7, 16], [3, 16], [1, 4], [1000, 32]]) {
    const { first, weights, K } = lanczosTaps(n, m);
    const fixed = fixedTaps(n, m);
    const stride = K + (K & 1);
    for (let j = 0; j < m; j++) {
      const sum = weights.subarray(j * K, (j + 1) * K).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - 1) < 1e-5, `${n}->${m} output ${j}: weights sum to ${sum}`);
      assert.ok(first[j] >= 0 && first[j] + K <= n, `${n}->${m} output ${j} reads inside the input`);
      for (const [w, q] of [[fixed.w1, fixed.q1], [fixed.w2, fixed.q2]] as const) {
        assert.equal(w.subarray(j * stride, (j + 1) * stride).reduce((a, b) => a + b, 0), 2 ** q, `${n}->${m} output ${j}: 16-bit weights`);
      }
    }
  }
  const same = lanczosTaps(64, 64);
  for (let j = 0; j < 64; j++) {
    const w = Array.from(same.weights.subarray(j * same.K, (j + 1) * same.K));
    assert.equal(same.first[j] + w.findIndex((v) => Math.abs(v - 1) < 1e-6), j, 'output j is input j alone');
    assert.equal(w.filter((v) => Math.abs(v) > 1e-6).length, 1);
  }
});

test('the SIMD resampler computes the taps\' sums, for crops anywhere in the image, up and down', () => {
  const cases = [
    { width: 89, height: 109, box: { left: 17, top: 27, width: 54 }, res: 64 }, // CelebA-9k, celeba crop
    { width: 178, height: 218, box: { left: 35, top: 55, width: 108 }, res: 64 },
    { width: 120, height: 90, box: { left: 15, top: 0, width: 90 }, res: 16 },
    { width: 33, height: 40, box: { left: 0, top: 7, width: 33 }, res: 128 },
    { width: 5, height: 5, box: { left: 1, top: 2, width: 3 }, res: 16 },
    { width: 64, height: 64, box: { left: 0, top: 0, width: 64 }, res: 64 },
    { width: 61, height: 61, box: { left: 0, top: 0, width: 61 }, res: 32 }, // the last row's reads run past the image
    { width: 1000, height: 1000, box: { left: 0, top: 0, width: 1000 }, res: 32 }, // 188 taps
  ];
  cases.forEach((c, seed) => {
    const src = randomBytes(c.width * c.height * 4, seed);
    const got = resizeCrop(src, c.width, c.box, c.res);
    const want = reference(src, c.width, c.box, c.res);
    const worst = got.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i])), 0);
    assert.ok(worst <= 1, `${JSON.stringify(c)}: off by ${worst}`);
  });
  // the same size gives the crop back, byte for byte
  const src = randomBytes(40 * 30 * 4, 9);
  const crop = Buffer.alloc(20 * 20 * 3);
  for (let y = 0; y < 20; y++) for (let x = 0; x < 20; x++) crop.set(src.subarray(((y + 5) * 40 + x + 12) * 4, ((y + 5) * 40 + x + 12) * 4 + 3), (y * 20 + x) * 3);
  assert.deepEqual(resizeCrop(src, 40, { left: 12, top: 5, width: 20 }, 20), new Uint8Array(crop));
});

test('sampling is centre-aligned: an enlarged ramp stays where it was', () => {
  // a horizontal ramp, value 4x at column x, enlarged 54 -> 64: output j samples input (j + 0.5)·54/64 - 0.5
  const src = Uint8Array.from({ length: 54 * 54 * 4 }, (_, i) => 4 * (Math.floor(i / 4) % 54));
  const out = resizeCrop(src, 54, { left: 0, top: 0, width: 54 }, 64);
  for (let j = 4; j < 60; j++) {
    const want = 4 * ((j + 0.5) * (54 / 64) - 0.5);
    assert.ok(Math.abs(out[(32 * 64 + j) * 3] - want) <= 1, `column ${j}: ${out[(32 * 64 + j) * 3]}, want ${want.toFixed(1)}`);
  }
});

/** `jpeg` with an EXIF segment (orientation 1: nothing to turn) inserted after its start marker. */
function withExif(jpeg: Buffer): Buffer {
  const tiff = Buffer.from('4d4d002a00000008' + '0001' + '011200030000000100010000' + '00000000', 'hex');
  const length = Buffer.alloc(2);
  length.writeUInt16BE(2 + 6 + tiff.length);
  return Buffer.concat([jpeg.subarray(0, 2), Buffer.from([0xff, 0xe1]), length, Buffer.from('Exif\0\0', 'latin1'), tiff, jpeg.subarray(2)]);
}

test('plain JPEGs take the WebAssembly decoder and give exactly the pixels sharp gives', async () => {
  // It decodes only the crop's block rows and columns: sizes that put the crop's left edge on a 16-pixel
  // block (96x64 and 160x128, centre crop at x = 16) and off it, with and without chroma subsampling, and
  // tiny (2x3).
  let plain = Buffer.alloc(0);
  for (const [width, height] of [[89, 109], [178, 218], [150, 100], [96, 64], [160, 128], [2, 3], [61, 77]]) {
    const noise = (channels: 1 | 3) => sharp(Buffer.from(randomBytes(width * height * channels, width + channels)), { raw: { width, height, channels } });
    const files = {
      'plain.jpg': await noise(3).jpeg({ quality: 90 }).toBuffer(),
      '444.jpg': await noise(3).jpeg({ quality: 90, chromaSubsampling: '4:4:4' }).toBuffer(),
      'progressive.jpg': await noise(3).jpeg({ quality: 90, progressive: true }).toBuffer(),
      'gray.jpg': await noise(1).jpeg({ quality: 90 }).toBuffer(),
    };
    plain = files['plain.jpg']; // 61x77 at the end: the celeba crop ends at row 57
    for (const [name, bytes] of Object.entries(files)) {
      assert.equal(isPlainJpeg(bytes), true, name);
      // the same image data behind an EXIF segment goes through sharp instead
      const viaSharp = withExif(bytes);
      assert.equal(isPlainJpeg(viaSharp), false, `${name} with EXIF`);
      for (const crop of ['center', 'celeba'] as const) {
        for (const res of [16, 64]) {
          const fast = decodePlainJpeg(bytes, res, crop);
          assert.ok(fast, `${width}x${height} ${name}: decoded in WebAssembly`);
          assert.deepEqual(await decodeImage(bytes, res, crop), fast);
          const slow = await decodeImage(viaSharp, res, crop);
          assert.deepEqual(fast, slow, `${width}x${height} ${name} ${crop} ${res}`);
        }
      }
    }
  }
  // Rows below the crop are never decoded, yet a file cut off there is still found truncated.
  await assert.rejects(decodeImage(plain.subarray(0, Math.round(plain.length * 0.9)), 64, 'celeba'), /premature end|truncat/i);
  const red = sharp({ create: { width: 8, height: 8, channels: 3, background: '#c81e28' } });
  assert.equal(isPlainJpeg(await red.clone().toColourspace('cmyk').jpeg().toBuffer()), false, 'CMYK');
  assert.equal(isPlainJpeg(await red.clone().jpeg().withIccProfile('p3').toBuffer()), false, 'ICC profile');
  assert.equal(isPlainJpeg(await red.clone().png().toBuffer()), false, 'PNG');
  assert.equal(isPlainJpeg(plain.subarray(0, 20)), false, 'cut off before the image data');
});
