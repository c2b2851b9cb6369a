// AssemblyScript, compiled to dist/resize.wasm by `npm run build` (asc, with SIMD): the two passes of a
// separable resampling of one square crop of an 8-bit RGBA image to res×res RGB. Channels are kept apart
// (planes), so every lane of an f32x4 is a useful sample (alpha is dropped on reading):
//   horizontal: 4 source rows at a time are converted once to floats, column by column (T), and each
//     output column j is a weighted sum of K of T's columns: 4 rows of column j in one vector. Blocks of
//     4 columns × 4 rows are transposed into H, the crop's rows at the output's width.
//   vertical: output row i is a weighted sum of K of H's rows, 4 columns at a time, written as RGB bytes.
// Memory stays small whatever the crop's size: T holds 4 source rows, H side×res samples per channel.
// src/data/resize.ts computes the filter taps and lays everything out in this module's memory.

/** First byte of memory free for the caller. */
export function heapBase(): usize {
  return __heap_base;
}

// @ts-ignore: decorator
@inline function transposeLow(a: v128, b: v128): v128 { return v128.shuffle<f32>(a, b, 0, 4, 1, 5); }
// @ts-ignore: decorator
@inline function transposeHigh(a: v128, b: v128): v128 { return v128.shuffle<f32>(a, b, 2, 6, 3, 7); }

/**
 * Transposes the 4×4 block whose rows are a, b, c, d, writing its columns at `to`, `step` bytes apart.
 */
// @ts-ignore: decorator
@inline function storeTransposed(to: usize, step: usize, a: v128, b: v128, c: v128, d: v128): void {
  const ab0 = transposeLow(a, b), ab1 = transposeHigh(a, b); // a0 b0 a1 b1, a2 b2 a3 b3
  const cd0 = transposeLow(c, d), cd1 = transposeHigh(c, d);
  v128.store(to, v128.shuffle<f32>(ab0, cd0, 0, 1, 4, 5));
  v128.store(to + step, v128.shuffle<f32>(ab0, cd0, 2, 3, 6, 7));
  v128.store(to + 2 * step, v128.shuffle<f32>(ab1, cd1, 0, 1, 4, 5));
  v128.store(to + 3 * step, v128.shuffle<f32>(ab1, cd1, 2, 3, 6, 7));
}

/** The 4 RGBA pixels at p as r0..r3 g0..g3 b0..b3 a0..a3 bytes. */
// @ts-ignore: decorator
@inline function planar(p: usize): v128 {
  const v = v128.load(p);
  return i8x16.shuffle(v, v, 0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
}
// @ts-ignore: decorator
@inline function red(p: v128): v128 { return f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(p))); }
// @ts-ignore: decorator
@inline function green(p: v128): v128 { return f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(i16x8.extend_low_i8x16_u(p))); }
// @ts-ignore: decorator
@inline function blue(p: v128): v128 { return f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(i16x8.extend_high_i8x16_u(p))); }

/** Σ_k w[k]·load(p + k·step) over K taps: one output sample of 4 lanes. Two taps a turn, on two sums. */
// @ts-ignore: decorator
@inline function taps(p: usize, step: usize, w: usize, K: i32): v128 {
  let a = f32x4.splat(0), b = a;
  const end = w + (<usize>(K & ~1) << 2);
  for (; w < end; w += 8) {
    a = f32x4.add(a, f32x4.mul(v128.load32_splat(w), v128.load(p)));
    b = f32x4.add(b, f32x4.mul(v128.load32_splat(w, 4), v128.load(p + step)));
    p += step << 1;
  }
  if (K & 1) a = f32x4.add(a, f32x4.mul(v128.load32_splat(w), v128.load(p)));
  return f32x4.add(a, b);
}

/**
 * src: the crop's top-left pixel, rows rowBytes apart, 4 bytes per pixel; the crop is side×side, read
 * 4 pixels at a time (up to 3 pixels past its right edge, 16 bytes past its last row).
 * first[i] (i32) and weights[i·K ..] (f32): output i reads inputs first[i] .. first[i]+K-1, in both directions.
 * t: 3·(side rounded up to 4)·16 bytes; h: 3·(side rounded up to 4)·res·4 bytes; out: res×res×3 bytes. res is a multiple of 4.
 */
export function resize(src: usize, rowBytes: i32, side: i32, res: i32,
                       first: usize, weights: usize, K: i32, t: usize, h: usize, out: usize): void {
  const tPlane = <usize>((side + 3) & ~3) << 4; // T[c][x]: the 4 rows of column x
  const hRow = <usize>res << 2; // H[c][y][j]
  const hPlane = <usize>((side + 3) & ~3) * hRow;
  // Horizontal, 4 source rows at a time (the last block repeats the last row; H has room for them).
  for (let y = 0; y < side; y += 4) {
    const row0 = src + <usize>(y * rowBytes);
    const row1 = src + <usize>(min(y + 1, side - 1) * rowBytes);
    const row2 = src + <usize>(min(y + 2, side - 1) * rowBytes);
    const row3 = src + <usize>(min(y + 3, side - 1) * rowBytes);
    for (let x: usize = 0; x < <usize>side; x += 4) {
      const p0 = planar(row0 + (x << 2)), p1 = planar(row1 + (x << 2)), p2 = planar(row2 + (x << 2)), p3 = planar(row3 + (x << 2));
      const at = t + (x << 4);
      storeTransposed(at, 16, red(p0), red(p1), red(p2), red(p3));
      storeTransposed(at + tPlane, 16, green(p0), green(p1), green(p2), green(p3));
      storeTransposed(at + 2 * tPlane, 16, blue(p0), blue(p1), blue(p2), blue(p3));
    }
    for (let j = 0; j < res; j += 4) {
      const w = weights + (<usize>(j * K) << 2);
      const wStep = <usize>K << 2;
      const f = first + (<usize>j << 2);
      for (let c: usize = 0; c < 3; c++) {
        const plane = t + c * tPlane;
        const a0 = taps(plane + (<usize>load<i32>(f) << 4), 16, w, K);
        const a1 = taps(plane + (<usize>load<i32>(f, 4) << 4), 16, w + wStep, K);
        const a2 = taps(plane + (<usize>load<i32>(f, 8) << 4), 16, w + 2 * wStep, K);
        const a3 = taps(plane + (<usize>load<i32>(f, 12) << 4), 16, w + 3 * wStep, K);
        storeTransposed(h + c * hPlane + <usize>y * hRow + (<usize>j << 2), hRow, a0, a1, a2, a3);
      }
    }
  }
  // Vertical: row i of the output, 4 columns at a time, as RGB bytes.
  const rgbRow = <usize>(res * 3);
  for (let i = 0; i < res; i++) {
    const w = weights + (<usize>(i * K) << 2);
    const top = h + <usize>load<i32>(first + (<usize>i << 2)) * hRow;
    for (let j = 0; j < res; j += 4) {
      // the three planes together, under one weight a tap; from 0.5, so that truncation rounds
      let r = f32x4.splat(0.5), g = r, b = r;
      let p = top + (<usize>j << 2);
      for (let k = 0; k < K; k++) {
        const wk = v128.load32_splat(w + (<usize>k << 2));
        r = f32x4.add(r, f32x4.mul(wk, v128.load(p)));
        g = f32x4.add(g, f32x4.mul(wk, v128.load(p + hPlane)));
        b = f32x4.add(b, f32x4.mul(wk, v128.load(p + 2 * hPlane)));
        p += hRow;
      }
      const ri = i32x4.trunc_sat_f32x4_s(r), gi = i32x4.trunc_sat_f32x4_s(g), bi = i32x4.trunc_sat_f32x4_s(b);
      // saturating narrowing clamps to 0..255: r0..3 g0..3 b0..3, then interleaved as r0 g0 b0 r1 ...
      const bytes = i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(ri, gi), i16x8.narrow_i32x4_s(bi, bi));
      const rgb = i8x16.shuffle(bytes, bytes, 0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11, 12, 13, 14, 15);
      const o = out + <usize>i * rgbRow + <usize>(j * 3);
      v128.store64_lane(o, rgb, 0);
      v128.store32_lane(o + 8, rgb, 2);
    }
  }
}
