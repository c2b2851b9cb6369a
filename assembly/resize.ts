// AssemblyScript, compiled to dist/resize.wasm by `npm run build` (asc, with SIMD): the two passes of a
// separable resampling of one square crop of an 8-bit RGBA image to res×res RGB. One pixel is one f32x4
// vector (the alpha lane is carried along and dropped). Both passes run down columns, 4 pixels at a time
// under one weight: the first pass writes its result transposed, so the second reads it as rows.
// src/data/resize.ts computes the filter taps and lays everything out in this module's memory.

/** First byte of memory free for the caller. */
export function heapBase(): usize {
  return __heap_base;
}

// @ts-ignore: decorator
@inline function f32s(bytes: v128, low: bool, high: bool): v128 {
  const half = low ? i16x8.extend_low_i8x16_u(bytes) : i16x8.extend_high_i8x16_u(bytes);
  return f32x4.convert_i32x4_u(high ? i32x4.extend_high_i16x8_u(half) : i32x4.extend_low_i16x8_u(half));
}

/** The f32x4 pixel's RGB as 3 bytes at p, rounded down and clamped. */
// @ts-ignore: decorator
@inline function storePixel(p: usize, v: v128): void {
  const i = i32x4.min_s(i32x4.max_s(i32x4.trunc_sat_f32x4_s(v), i32x4.splat(0)), i32x4.splat(255));
  const rgba = i32x4.extract_lane(i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(i, i), i16x8.splat(0)), 0);
  store<u16>(p, rgba);
  store<u8>(p + 2, rgba >> 16);
}

/**
 * src: the crop's top-left pixel, rows rowBytes apart, 4 bytes per pixel; the crop is side×side, read
 * 4 pixels at a time (up to 3 pixels past its right edge). res is a multiple of 4.
 * first[i] (i32) and weights[i·K ..] (f32): output i reads inputs first[i] .. first[i]+K-1, in both directions.
 * mid: (side rounded up to 4)×res f32x4 scratch; out: res×res×3 bytes.
 */
export function resize(src: usize, rowBytes: i32, side: i32, res: i32,
                       first: usize, weights: usize, K: i32, mid: usize, out: usize): void {
  const column = <usize>res << 4; // bytes per row of mid: one output row's worth of a source column
  // Vertical: output row i of source column x goes to mid[x][i].
  for (let i = 0; i < res; i++) {
    const row = src + <usize>(load<i32>(first + (<usize>i << 2)) * rowBytes);
    const w = weights + (<usize>(i * K) << 2);
    for (let x = 0; x < side; x += 4) {
      let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
      let p = row + (<usize>x << 2);
      for (let k = 0; k < K; k++) {
        const wk = f32x4.splat(load<f32>(w + (<usize>k << 2)));
        const bytes = v128.load(p);
        a0 = f32x4.add(a0, f32x4.mul(wk, f32s(bytes, true, false)));
        a1 = f32x4.add(a1, f32x4.mul(wk, f32s(bytes, true, true)));
        a2 = f32x4.add(a2, f32x4.mul(wk, f32s(bytes, false, false)));
        a3 = f32x4.add(a3, f32x4.mul(wk, f32s(bytes, false, true)));
        p += <usize>rowBytes;
      }
      const m = mid + <usize>x * column + (<usize>i << 4);
      v128.store(m, a0);
      v128.store(m + column, a1);
      v128.store(m + 2 * column, a2);
      v128.store(m + 3 * column, a3);
    }
  }
  // Horizontal, on mid's rows: output column j of rows i..i+3.
  const rgbRow = <usize>(res * 3);
  for (let j = 0; j < res; j++) {
    const w = weights + (<usize>(j * K) << 2);
    const col = mid + <usize>load<i32>(first + (<usize>j << 2)) * column;
    const o = out + <usize>(j * 3);
    for (let i = 0; i < res; i += 4) {
      let a0 = f32x4.splat(0.5), a1 = a0, a2 = a0, a3 = a0; // + 0.5: truncation rounds
      let p = col + (<usize>i << 4);
      for (let k = 0; k < K; k++) {
        const wk = f32x4.splat(load<f32>(w + (<usize>k << 2)));
        a0 = f32x4.add(a0, f32x4.mul(wk, v128.load(p)));
        a1 = f32x4.add(a1, f32x4.mul(wk, v128.load(p, 16)));
        a2 = f32x4.add(a2, f32x4.mul(wk, v128.load(p, 32)));
        a3 = f32x4.add(a3, f32x4.mul(wk, v128.load(p, 48)));
        p += column;
      }
      const q = o + <usize>i * rgbRow;
      storePixel(q, a0);
      storePixel(q + rgbRow, a1);
      storePixel(q + 2 * rgbRow, a2);
      storePixel(q + 3 * rgbRow, a3);
    }
  }
}
