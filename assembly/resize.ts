// AssemblyScript, compiled to dist/resize.wasm by `npm run build` (asc, with SIMD): the two passes of a
// separable resampling of one square crop of an 8-bit RGB or RGBA image to res×res RGB. One pixel is one
// f32x4 vector (RGB plus a fourth byte that is ignored). src/data/resize.ts computes the filter taps and
// lays everything out in this module's memory; see it for the layout.

/** First byte of memory free for the caller. */
export function heapBase(): usize {
  return __heap_base;
}

/** The 4 bytes at p as 4 floats. */
// @ts-ignore: decorator
@inline function pixel(p: usize): v128 {
  return f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load32_zero(p))));
}

/** Σ_k weights[k]·(f32x4 at p + k·step), the K taps of one output pixel. */
// @ts-ignore: decorator
@inline function taps(weights: usize, K: i32, p: usize, step: usize, isBytes: bool): v128 {
  let acc = f32x4.splat(0);
  for (let k = 0; k < K; k++) {
    const x = isBytes ? pixel(p) : v128.load(p);
    acc = f32x4.add(acc, f32x4.mul(f32x4.splat(load<f32>(weights + (<usize>k << 2))), x));
    p += step;
  }
  return acc;
}

/**
 * src: the crop's top-left pixel, rows rowBytes apart, channels (3 or 4) bytes per pixel; the crop is side×side.
 * first[i] (i32) and weights[i·K ..] (f32): output i reads inputs first[i] .. first[i]+K-1, in both directions.
 * mid: res×side f32x4 scratch for the vertical pass; out: res×res×3 bytes plus 1 (each pixel is stored as 4 bytes).
 */
export function resize(src: usize, rowBytes: i32, channels: i32, side: i32, res: i32,
                       first: usize, weights: usize, K: i32, mid: usize, out: usize): void {
  for (let i = 0; i < res; i++) { // vertical: res rows of side pixels
    const row = src + <usize>(load<i32>(first + (<usize>i << 2)) * rowBytes);
    const w = weights + (<usize>(i * K) << 2);
    const m = mid + (<usize>(i * side) << 4);
    for (let x = 0; x < side; x++) {
      v128.store(m + (<usize>x << 4), taps(w, K, row + <usize>(x * channels), <usize>rowBytes, true));
    }
  }
  const zero = i32x4.splat(0);
  for (let i = 0; i < res; i++) { // horizontal: res×res pixels, rounded and clamped to bytes
    const m = mid + (<usize>(i * side) << 4);
    const o = out + <usize>(i * res * 3);
    for (let j = 0; j < res; j++) {
      const w = weights + (<usize>(j * K) << 2);
      const p = m + (<usize>load<i32>(first + (<usize>j << 2)) << 4);
      const rounded = i32x4.trunc_sat_f32x4_s(f32x4.add(taps(w, K, p, 16, false), f32x4.splat(0.5)));
      const v = i32x4.min_s(i32x4.max_s(rounded, zero), i32x4.splat(255));
      store<i32>(o + <usize>(j * 3), i32x4.extract_lane(i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(v, v), zero), 0));
    }
  }
}
