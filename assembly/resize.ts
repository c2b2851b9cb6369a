// AssemblyScript, compiled to dist/resize.wasm by `npm run build` (asc, with SIMD): the two passes of a
// separable resampling of one square crop of an 8-bit RGBA image to res×res RGB, in fixed point. Every
// product is exact and every sum is an exact 32-bit integer sum: weights are 16-bit integers (the taps ×
// 2^q, rounded so that they still sum to 2^q exactly), samples are 16-bit integers, and i32x4.dot_i16x8_s
// multiplies 8 pairs and adds them two by two in one instruction. Channels are kept apart (planes):
//   0: the crop's rows are split into three u8 planes P (alpha is dropped), 4 pixels at a time.
//   1, vertical: output row i is a weighted sum of K rows of P, 16 columns at a time. Rows a and a + 1 are
//     interleaved (a0 b0 a1 b1 ...), so one dot applies the taps' weights for both rows: two taps a turn.
//     Written as V, i16 samples × 2^6 (Q6), rounded, 4 rows at a time.
//   pairs: each 4-row block of V is rearranged as T[c][x] = the 4 rows' samples x and x + 1 (32-bit lanes),
//     so that pass 2 reads two taps of 4 rows in one load (transposed 4×4 blocks, as the float kernel did).
//   2, horizontal: output (i, j) for 4 rows i at a time (lanes) is a weighted sum of K columns of T, two a
//     turn; 4×4 blocks of pixels are transposed back into RGB rows and rounded to bytes.
// Memory: P is the crop's size (3 bytes a pixel); V and T hold 4 rows. The result is within ±1 of the exact
// sums of the float taps (tested, up to 188 taps). src/data/resize.ts computes the taps, turns them into
// 16-bit weights (and the shifts), and lays everything out in this module's memory.

/** First byte of memory free for the caller. */
export function heapBase(): usize {
  return __heap_base;
}

/**
 * Transposes the 4×4 block of 32-bit lanes whose rows are a, b, c, d, writing its columns at `to`, `step`
 * bytes apart.
 */
// @ts-ignore: decorator
@inline function storeTransposed(to: usize, step: usize, a: v128, b: v128, c: v128, d: v128): void {
  const ab0 = v128.shuffle<i32>(a, b, 0, 4, 1, 5), ab1 = v128.shuffle<i32>(a, b, 2, 6, 3, 7); // a0 b0 a1 b1, a2 b2 a3 b3
  const cd0 = v128.shuffle<i32>(c, d, 0, 4, 1, 5), cd1 = v128.shuffle<i32>(c, d, 2, 6, 3, 7);
  v128.store(to, v128.shuffle<i32>(ab0, cd0, 0, 1, 4, 5));
  v128.store(to + step, v128.shuffle<i32>(ab0, cd0, 2, 3, 6, 7));
  v128.store(to + 2 * step, v128.shuffle<i32>(ab1, cd1, 0, 1, 4, 5));
  v128.store(to + 3 * step, v128.shuffle<i32>(ab1, cd1, 2, 3, 6, 7));
}

/** Σ over n pairs of taps of dot(load(p), w[2m], w[2m + 1] 4 times): p steps over 2 entries (32 bytes). */
// @ts-ignore: decorator
@inline function pairTaps(p: usize, w: usize, n: i32): v128 {
  let sum = i32x4.dot_i16x8_s(v128.load(p), v128.load32_splat(w));
  for (let m = 1; m < n; m++) {
    p += 32; w += 4;
    sum = i32x4.add(sum, i32x4.dot_i16x8_s(v128.load(p), v128.load32_splat(w)));
  }
  return sum;
}

/** Column j's R, G, B of 4 rows (lanes: rows), rounded: r0 g0 b0 b0, r1 g1 b1 b1, ... as bytes. */
// @ts-ignore: decorator
@inline function pixels(r: v128, g: v128, b: v128, round: v128, shift: i32): v128 {
  r = i32x4.shr_s(i32x4.add(r, round), shift);
  g = i32x4.shr_s(i32x4.add(g, round), shift);
  b = i32x4.shr_s(i32x4.add(b, round), shift);
  // saturating narrowing clamps to 0..255: r0..3 g0..3 b0..3 b0..3, then row by row
  const bytes = i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(r, g), i16x8.narrow_i32x4_s(b, b));
  return i8x16.shuffle(bytes, bytes, 0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
}

/** Row r's 12 RGB bytes of 4 columns whose pixels (r g b b) are the 32-bit lanes of `row`. */
// @ts-ignore: decorator
@inline function storeRgb(to: usize, row: v128): void {
  const rgb = i8x16.shuffle(row, row, 0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, 3, 7, 11, 15);
  v128.store64_lane(to, rgb, 0);
  v128.store32_lane(to + 8, rgb, 2);
}

/**
 * src: the crop's top-left pixel, rows rowBytes apart, 4 bytes per pixel; the crop is side×side, read
 *   4 pixels at a time (up to 3 pixels past its right edge, 12 bytes past its last row).
 * first[i] (i32): output i reads inputs first[i] .. first[i]+K-1, in both directions.
 * w1, w2 (i16): res × (K rounded up to even) weights, × 2^q1 for pass 1 and × 2^q2 for pass 2, zero past
 *   K; s1 = q1 - 6 and s2 = q2 + 6 are the shifts that round them away.
 * p: 3 planes of (side + 1) rows of (side rounded up to 16) bytes; v: 3 × 4 rows of (side rounded up to
 *   16, + 16) i16; t: 3 × (side rounded up to 8) × 16 bytes; out: res×res×3 bytes. res is a multiple of 4.
 * The zero weight that pads an odd K reads one sample past the K (row side of P, column side of V): inside
 * p and v, and an integer whatever it is, so its product is exactly 0.
 */
export function resize(src: usize, rowBytes: i32, side: i32, res: i32, first: usize, K: i32,
                       w1: usize, s1: i32, w2: usize, s2: i32, p: usize, v: usize, t: usize, out: usize): void {
  const pRow = <usize>((side + 15) & ~15);
  const pPlane = pRow * <usize>(side + 1); // + 1: the row read with weight 0 when K is odd
  const vRow = (pRow + 16) << 1; // the pairs of column x read V up to x + 8, x < side rounded up to 8
  const vPlane = vRow << 2;
  const tPlane = <usize>((side + 7) & ~7) << 4;
  // 0: planes, 4 pixels (16 bytes) at a time.
  for (let y = 0; y < side; y++) {
    const row = src + <usize>(y * rowBytes);
    const to = p + <usize>y * pRow;
    for (let x: usize = 0; x < <usize>side; x += 4) {
      const rgba = v128.load(row + (x << 2));
      const planar = i8x16.shuffle(rgba, rgba, 0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
      v128.store32_lane(to + x, planar, 0);
      v128.store32_lane(to + pPlane + x, planar, 1);
      v128.store32_lane(to + 2 * pPlane + x, planar, 2);
    }
  }
  const pairs = (K + 1) >> 1;
  const wStep = <usize>pairs << 2; // bytes of weights per output
  const round1 = i32x4.splat(1 << (s1 - 1)), round2 = i32x4.splat(1 << (s2 - 1));
  const rgbRow = <usize>(res * 3);
  for (let i0 = 0; i0 < res; i0 += 4) {
    // 1, vertical: rows i0 .. i0+3 of V, 16 columns at a time, from K rows of P, two at a time.
    for (let r = 0; r < 4; r++) {
      const i = i0 + r;
      const w = w1 + <usize>i * wStep, wEnd = w + wStep;
      const top = p + <usize>load<i32>(first + (<usize>i << 2)) * pRow;
      const to = v + <usize>r * vRow;
      for (let x: usize = 0; x < <usize>side; x += 16) {
        for (let c: usize = 0; c < 3; c++) {
          let a0 = i32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
          let at = top + c * pPlane + x;
          for (let wk = w; wk < wEnd; wk += 4) {
            const weights = v128.load32_splat(wk); // w[k], w[k + 1], 4 times
            const ra = v128.load(at), rb = v128.load(at + pRow);
            const lo = i8x16.shuffle(ra, rb, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
            const hi = i8x16.shuffle(ra, rb, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
            a0 = i32x4.add(a0, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(lo), weights));
            a1 = i32x4.add(a1, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(lo), weights));
            a2 = i32x4.add(a2, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(hi), weights));
            a3 = i32x4.add(a3, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(hi), weights));
            at += pRow << 1;
          }
          // Q6, rounded (adding half then shifting right floors): fits i16 (the wrapper checks)
          a0 = i32x4.shr_s(i32x4.add(a0, round1), s1);
          a1 = i32x4.shr_s(i32x4.add(a1, round1), s1);
          a2 = i32x4.shr_s(i32x4.add(a2, round1), s1);
          a3 = i32x4.shr_s(i32x4.add(a3, round1), s1);
          const o = to + c * vPlane + (x << 1);
          v128.store(o, i16x8.narrow_i32x4_s(a0, a1));
          v128.store(o, i16x8.narrow_i32x4_s(a2, a3), 16);
        }
      }
    }
    // Pairs: T[c][x] = the 4 rows' samples x and x + 1, as 32-bit lanes (row by row), 8 columns at a time:
    // 4×4 blocks of 32-bit lanes transposed, read from column x (pairs x, x+2, ...) and x + 1 (x+1, x+3, ...).
    for (let c: usize = 0; c < 3; c++) {
      const plane = v + c * vPlane, to = t + c * tPlane;
      for (let x: usize = 0; x < <usize>side; x += 8) {
        const at = plane + (x << 1);
        storeTransposed(to + (x << 4), 32, v128.load(at), v128.load(at + vRow), v128.load(at + 2 * vRow), v128.load(at + 3 * vRow));
        storeTransposed(to + (x << 4) + 16, 32, v128.load(at, 2), v128.load(at + vRow, 2), v128.load(at + 2 * vRow, 2), v128.load(at + 3 * vRow, 2));
      }
    }
    // 2, horizontal: rows i0 .. i0+3 of the output, 4 columns at a time, from K columns of T, two at a time
    // (lanes: rows), as RGB bytes.
    const o = out + <usize>i0 * rgbRow;
    for (let j = 0; j < res; j += 4) {
      const f = first + (<usize>j << 2);
      const x0 = t + (<usize>load<i32>(f) << 4), x1 = t + (<usize>load<i32>(f, 4) << 4);
      const x2 = t + (<usize>load<i32>(f, 8) << 4), x3 = t + (<usize>load<i32>(f, 12) << 4);
      const w = w2 + <usize>j * wStep;
      const c0 = pixels(pairTaps(x0, w, pairs), pairTaps(x0 + tPlane, w, pairs), pairTaps(x0 + 2 * tPlane, w, pairs), round2, s2);
      const c1 = pixels(pairTaps(x1, w + wStep, pairs), pairTaps(x1 + tPlane, w + wStep, pairs), pairTaps(x1 + 2 * tPlane, w + wStep, pairs), round2, s2);
      const c2 = pixels(pairTaps(x2, w + 2 * wStep, pairs), pairTaps(x2 + tPlane, w + 2 * wStep, pairs), pairTaps(x2 + 2 * tPlane, w + 2 * wStep, pairs), round2, s2);
      const c3 = pixels(pairTaps(x3, w + 3 * wStep, pairs), pairTaps(x3 + tPlane, w + 3 * wStep, pairs), pairTaps(x3 + 2 * tPlane, w + 3 * wStep, pairs), round2, s2);
      // c0..c3: columns j..j+3, a pixel per row; transposed: rows i0..i0+3, a pixel per column
      const ab0 = v128.shuffle<i32>(c0, c1, 0, 4, 1, 5), ab1 = v128.shuffle<i32>(c0, c1, 2, 6, 3, 7);
      const cd0 = v128.shuffle<i32>(c2, c3, 0, 4, 1, 5), cd1 = v128.shuffle<i32>(c2, c3, 2, 6, 3, 7);
      const at = o + <usize>(j * 3);
      storeRgb(at, v128.shuffle<i32>(ab0, cd0, 0, 1, 4, 5));
      storeRgb(at + rgbRow, v128.shuffle<i32>(ab0, cd0, 2, 3, 6, 7));
      storeRgb(at + 2 * rgbRow, v128.shuffle<i32>(ab1, cd1, 0, 1, 4, 5));
      storeRgb(at + 3 * rgbRow, v128.shuffle<i32>(ab1, cd1, 2, 3, 6, 7));
    }
  }
}
