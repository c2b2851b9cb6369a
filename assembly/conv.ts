// AssemblyScript, compiled to dist/conv.wasm by `npm run build` (SIMD, and relaxed SIMD's fused multiply-add,
// which doubles the arithmetic per instruction). The three convolutions of training (forward, input gradient,
// filter gradient): 4×4 stride-2 ones by Winograd's F(2×2, 2×2) (at the end of this file: 9/16 of the
// multiplications, on a 6×8 register tile), the rest as matrix products of an image's patches (im2col) with
// the filter on a 4×8 tile. src/kernels/conv.ts registers them on the wasm backend. The module works in the
// wasm backend's own memory, on tensors it allocated: it has no data of its own, so it can import that memory.
//
// Shapes are NHWC, filters [KH, KW, Ci, Co]. With m = (n, oy, ox) an output pixel and k = (ky, kx, ci) a
// filter tap, A[m][k] = x[n, oy·SH - PT + ky·DH, ox·SW - PL + kx·DW, ci] (0 outside the image), and
//   forward          y[m][co]  = Σ_k A[m][k] · w[k][co]        (A · W)
//   filter gradient  dw[k][co] = Σ_m A[m][k] · dy[m][co]       (Aᵀ · dY)
//   input gradient   dx         = col2im(dy · Wᵀ)              (each A[m][k] slot receives (dy · Wᵀ)[m][k])

// The geometry of the convolution at hand (set by geometry()).
let N: i32, H: i32, W: i32, CI: i32, HO: i32, WO: i32, CO: i32, KH: i32, KW: i32;
let SH: i32, SW: i32, DH: i32, DW: i32, PT: i32, PL: i32;

export function geometry(n: i32, h: i32, w: i32, ci: i32, ho: i32, wo: i32, co: i32, kh: i32, kw: i32,
                         sh: i32, sw: i32, dh: i32, dw: i32, pt: i32, pl: i32): void {
  N = n; H = h; W = w; CI = ci; HO = ho; WO = wo; CO = co; KH = kh; KW = kw;
  SH = sh; SW = sw; DH = dh; DW = dw; PT = pt; PL = pl;
}

/**
 * The 4×8 tile of C at c, rows cr bytes apart: C (+)= Σ_{t < steps} A[r][t] · B[t][0..8], where A[r][t] is
 * the f32 at a + r·ar + t·at and B[t] the 8 f32 at b + t·bt. Eight accumulators, two B vectors and one
 * broadcast A value fit the 16 SIMD registers, so nothing spills in the loop.
 */
function tile(a: usize, ar: usize, at: usize, b: usize, bt: usize, steps: i32, c: usize, cr: usize, add: bool): void {
  let c00 = f32x4.splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  if (add) {
    c00 = v128.load(c); c01 = v128.load(c, 16);
    c10 = v128.load(c + cr); c11 = v128.load(c + cr, 16);
    c20 = v128.load(c + 2 * cr); c21 = v128.load(c + 2 * cr, 16);
    c30 = v128.load(c + 3 * cr); c31 = v128.load(c + 3 * cr, 16);
  }
  const ar2 = ar << 1, ar3 = ar2 + ar;
  for (let t = 0; t < steps; t++) {
    const b0 = v128.load(b), b1 = v128.load(b, 16);
    let s = v128.load32_splat(a);
    c00 = f32x4.relaxed_madd(s, b0, c00); c01 = f32x4.relaxed_madd(s, b1, c01);
    s = v128.load32_splat(a + ar);
    c10 = f32x4.relaxed_madd(s, b0, c10); c11 = f32x4.relaxed_madd(s, b1, c11);
    s = v128.load32_splat(a + ar2);
    c20 = f32x4.relaxed_madd(s, b0, c20); c21 = f32x4.relaxed_madd(s, b1, c21);
    s = v128.load32_splat(a + ar3);
    c30 = f32x4.relaxed_madd(s, b0, c30); c31 = f32x4.relaxed_madd(s, b1, c31);
    a += at;
    b += bt;
  }
  v128.store(c, c00); v128.store(c, c01, 16);
  v128.store(c + cr, c10); v128.store(c + cr, c11, 16);
  v128.store(c + 2 * cr, c20); v128.store(c + 2 * cr, c21, 16);
  v128.store(c + 3 * cr, c30); v128.store(c + 3 * cr, c31, 16);
}

/** Copies `bytes` (a multiple of 4) from src to dst, 16 at a time while it can. */
// @ts-ignore: decorator
@inline function copy(dst: usize, src: usize, bytes: usize): void {
  const end = dst + bytes;
  for (; dst + 16 <= end; dst += 16, src += 16) v128.store(dst, v128.load(src));
  for (; dst < end; dst += 4, src += 4) store<f32>(dst, load<f32>(src));
}

/** dst[i] += src[i] for `bytes` (a multiple of 4). */
// @ts-ignore: decorator
@inline function addTo(dst: usize, src: usize, bytes: usize): void {
  const end = dst + bytes;
  for (; dst + 16 <= end; dst += 16, src += 16) v128.store(dst, f32x4.add(v128.load(dst), v128.load(src)));
  for (; dst < end; dst += 4, src += 4) store<f32>(dst, load<f32>(dst) + load<f32>(src));
}

// The output pixel m that at() answers for (set by pixel()).
let IMAGE: i32, TOP: i32, LEFT: i32;

/** Makes at() answer for output pixel m = (n, oy, ox). */
// @ts-ignore: decorator
@inline function pixel(m: i32): void {
  const q = m / WO, ox = m - q * WO;
  const n = q / HO, oy = q - n * HO;
  IMAGE = n * H;
  TOP = oy * SH - PT;
  LEFT = ox * SW - PL;
}

/** The byte offset of the pixel of x (or dx) that tap (ky, kx) of the current output pixel reads; -1 outside. */
// @ts-ignore: decorator
@inline function at(ky: i32, kx: i32): isize {
  const iy = TOP + ky * DH, ix = LEFT + kx * DW;
  return <u32>iy < <u32>H && <u32>ix < <u32>W ? <isize>((IMAGE + iy) * W + ix) * CI << 2 : -1;
}

/**
 * Rows m0 .. m0+rows of A, taps t0 .. t1 (k = 0 at tap t0), to a: A[m][k] at a + m·rs + (k/4)·gs + (k%4)·4,
 * so rs = width·4, gs = 16 lays rows out one after the other, and rs = 16, gs = rows·16 in groups of four
 * columns (what tile() reads as four rows of Aᵀ). Columns from (t1-t0)·Ci to `width` and rows past the last
 * output pixel are zero.
 */
function im2col(x: usize, a: usize, m0: i32, rows: i32, t0: i32, t1: i32, width: i32, rs: usize, gs: usize): void {
  const M = N * HO * WO;
  const contiguous = gs === 16;
  const grouped = !contiguous && (CI & 3) === 0;
  for (let r = 0; r < rows; r++) {
    const row = a + <usize>r * rs;
    let k = 0;
    if (m0 + r < M) {
      pixel(m0 + r);
      let ky = t0 / KW, kx = t0 - ky * KW;
      for (let t = t0; t < t1; t++, k += CI) {
        const src = at(ky, kx);
        if (++kx === KW) {
          kx = 0;
          ky++;
        }
        if (contiguous) {
          const dst = row + (<usize>k << 2);
          if (src < 0) memory.fill(dst, 0, <usize>CI << 2);
          else copy(dst, x + <usize>src, <usize>CI << 2);
        } else if (grouped) { // four columns at a time
          for (let c = 0; c < CI; c += 4) {
            v128.store(row + <usize>((k + c) >> 2) * gs, src < 0 ? f32x4.splat(0) : v128.load(x + <usize>src + (<usize>c << 2)));
          }
        } else {
          for (let c = 0; c < CI; c++) {
            const kc = k + c;
            store<f32>(row + <usize>(kc >> 2) * gs + (<usize>(kc & 3) << 2), src < 0 ? 0 : load<f32>(x + <usize>src + (<usize>c << 2)));
          }
        }
      }
    }
    for (; k < width; k++) store<f32>(row + <usize>(k >> 2) * gs + (<usize>(k & 3) << 2), 0);
  }
}

/** Filter [K][Co] to 8-column panels [Co8/8][K][8] (zero columns past Co), as tile() reads B. */
function panels(w: usize, bp: usize, K: i32, Co: i32): void {
  for (let j = 0; j < Co; j += 8) {
    const cols = min(8, Co - j);
    for (let k = 0; k < K; k++, bp += 32) {
      const src = w + ((<usize>k * Co + j) << 2);
      if (cols === 8) {
        v128.store(bp, v128.load(src));
        v128.store(bp, v128.load(src, 16), 16);
      } else {
        v128.store(bp, f32x4.splat(0));
        v128.store(bp, f32x4.splat(0), 16);
        copy(bp, src, <usize>cols << 2);
      }
    }
  }
}

// @ts-ignore: decorator
@inline function round4(n: i32): i32 { return (n + 3) & ~3; }
// @ts-ignore: decorator
@inline function round8(n: i32): i32 { return (n + 7) & ~7; }
// @ts-ignore: decorator
@inline function round6(n: i32): i32 { return (n + 5) / 6 * 6; }

// The inner dimension of a product in blocks of KB (6×8 tiles: a packed block of A stays in the first-level cache).
const KB = 512;

// A kernel's blocks and where the parts of its scratch start, set by its layout function (which the kernel
// and the export telling the caller how many bytes to allocate both call).
let MB: i32, TB: i32;
let PART1: usize, PART2: usize, PART3: usize, PART4: usize;

/** conv2d: panels of W [Co8/8][K][8] | a block of A [MB][TB·Ci] | a block of y [MB][Co8]; returns the bytes. */
function conv2dLayout(scratch: usize, pixels: i32, taps: i32): usize {
  MB = round4(max(1, pixels));
  TB = max(1, taps);
  const Co8 = round8(CO);
  PART1 = scratch;
  PART2 = PART1 + (<usize>(KH * KW * CI) * Co8 << 2);
  PART3 = PART2 + (<usize>MB * TB * CI << 2);
  return PART3 + (<usize>MB * Co8 << 2) - scratch;
}

export function conv2dScratch(pixels: i32, taps: i32): usize {
  return conv2dLayout(0, pixels, taps);
}

/**
 * y = A · W, MB output pixels and TB taps at a time: the block of A stays in the cache while every panel
 * of W passes over it, and a panel's part for TB taps stays in the first-level cache.
 */
export function conv2d(x: usize, w: usize, y: usize, scratch: usize, pixels: i32, taps: i32): void {
  conv2dLayout(scratch, pixels, taps);
  const K = KH * KW * CI, M = N * HO * WO, Co8 = round8(CO);
  const bp = PART1, a = PART2, c = PART3;
  panels(w, bp, K, CO);
  for (let m0 = 0; m0 < M; m0 += MB) {
    const mb = min(MB, M - m0), mb4 = round4(mb);
    for (let t0 = 0; t0 < KH * KW; t0 += TB) {
      const t1 = min(KH * KW, t0 + TB), kc = (t1 - t0) * CI, k0 = t0 * CI;
      im2col(x, a, m0, mb4, t0, t1, kc, <usize>kc << 2, 16);
      for (let j = 0; j < Co8; j += 8) {
        const b = bp + ((<usize>j * K + <usize>k0 * 8) << 2);
        for (let i = 0; i < mb4; i += 4) {
          tile(a + (<usize>i * kc << 2), <usize>kc << 2, 4, b, 32, kc, c + ((<usize>i * Co8 + j) << 2), <usize>Co8 << 2, t0 > 0);
        }
      }
    }
    for (let r = 0; r < mb; r++) copy(y + (<usize>(m0 + r) * CO << 2), c + (<usize>r * Co8 << 2), <usize>CO << 2);
  }
}

/**
 * conv2dFilterGrad: a block of A in groups of four columns [TB·Ci/4][MB][4] | dy's block in panels
 * [Co8/8][MB][8] | dw padded to [K4][Co8] when K or Co need it; returns the bytes. Every block of taps but
 * the last starts and ends on a group of four columns (TB·Ci a multiple of 4), so the tiles of one block
 * never write the rows of another, nor past row K4.
 */
/** Whether dw is summed in a padded copy: K (its rows) or Co (its columns) off the tile's 4×8. */
// @ts-ignore: decorator
@inline function paddedFilterGrad(): bool {
  return ((KH * KW * CI) & 3) !== 0 || (CO & 7) !== 0;
}

function filterGradLayout(scratch: usize, pixels: i32, taps: i32): usize {
  MB = max(1, pixels);
  const quad = 4 / ((CI & 3) === 0 ? 4 : (CI & 1) === 0 ? 2 : 1); // taps whose channels fill groups of four
  TB = max(quad, taps - taps % quad);
  const K = KH * KW * CI, Co8 = round8(CO);
  PART1 = scratch;
  PART2 = PART1 + (<usize>MB * round4(TB * CI) << 2);
  PART3 = PART2 + (<usize>MB * Co8 << 2);
  return PART3 + (paddedFilterGrad() ? <usize>round4(K) * Co8 << 2 : 0) - scratch;
}

export function filterGradScratch(pixels: i32, taps: i32): usize {
  return filterGradLayout(0, pixels, taps);
}

/**
 * dw = Aᵀ · dy, MB output pixels and TB taps at a time. A 4×8 tile of dw sums over the MB pixels: the block of
 * A is laid out four columns at a time and dy's in panels of eight, so that both are read in order.
 */
export function conv2dFilterGrad(x: usize, dy: usize, dw: usize, scratch: usize, pixels: i32, taps: i32): void {
  filterGradLayout(scratch, pixels, taps);
  const K = KH * KW * CI, M = N * HO * WO, Co8 = round8(CO);
  const padded = paddedFilterGrad();
  const a = PART1, b = PART2, c = padded ? PART3 : dw;
  const cr = <usize>Co8 << 2;
  memory.fill(c, 0, <usize>round4(K) * cr);
  for (let m0 = 0; m0 < M; m0 += MB) {
    const mb = min(MB, M - m0);
    panels(dy + (<usize>m0 * CO << 2), b, mb, CO);
    for (let t0 = 0; t0 < KH * KW; t0 += TB) {
      const t1 = min(KH * KW, t0 + TB), kc4 = round4((t1 - t0) * CI), k0 = t0 * CI;
      const group = <usize>mb << 4;
      im2col(x, a, m0, mb, t0, t1, kc4, 16, group);
      for (let i = 0; i < kc4; i += 4) {
        for (let j = 0; j < Co8; j += 8) {
          tile(a + <usize>(i >> 2) * group, 4, 16, b + <usize>j * (<usize>mb << 2), 32, mb, c + <usize>(k0 + i) * cr + (<usize>j << 2), cr, true);
        }
      }
    }
  }
  if (padded) for (let k = 0; k < K; k++) copy(dw + (<usize>k * CO << 2), c + <usize>k * cr, <usize>CO << 2);
}

/** conv2dInputGrad: panels of Wᵀ [K8/8][Co][8] | a block of dy · Wᵀ [MB][K8] | dy's last rows [4][Co]; returns the bytes. */
function inputGradLayout(scratch: usize, pixels: i32): usize {
  MB = round4(max(1, pixels));
  const K8 = round8(KH * KW * CI);
  PART1 = scratch;
  PART2 = PART1 + (<usize>K8 * CO << 2);
  PART3 = PART2 + (<usize>MB * K8 << 2);
  return PART3 + (<usize>CO << 4) - scratch;
}

export function inputGradScratch(pixels: i32): usize {
  return inputGradLayout(0, pixels);
}

/**
 * dx = col2im(dy · Wᵀ), MB pixels of dy at a time: each row of the product is added, tap by tap, to the
 * pixels of dx that the tap reaches (up to (KH/SH)·(KW/SW) of them per pixel of dx).
 */
export function conv2dInputGrad(dy: usize, w: usize, dx: usize, scratch: usize, pixels: i32): void {
  inputGradLayout(scratch, pixels);
  const K = KH * KW * CI, K8 = round8(K), M = N * HO * WO;
  const bp = PART1, cols = PART2, last = PART3;
  // Wᵀ in panels: bp[j][co][l] = w[j·8 + l][co], zero past K.
  for (let j = 0; j < K8; j += 8) {
    for (let o = 0; o < CO; o++) {
      const p = bp + ((<usize>j * CO + <usize>o * 8) << 2);
      for (let l = 0; l < 8; l++) store<f32>(p + (<usize>l << 2), j + l < K ? load<f32>(w + ((<usize>(j + l) * CO + o) << 2)) : 0);
    }
  }
  memory.fill(dx, 0, <usize>N * H * W * CI << 2);
  const ciBytes = <usize>CI << 2, rowBytes = <usize>K8 << 2, dyRow = <usize>CO << 2;
  for (let m0 = 0; m0 < M; m0 += MB) {
    const mb = min(MB, M - m0), full = mb & ~3;
    if (full < mb) { // the last rows of dy, padded with zero rows to a group of 4
      memory.fill(last, 0, 4 * dyRow);
      memory.copy(last, dy + <usize>(m0 + full) * dyRow, <usize>(mb - full) * dyRow);
    }
    for (let j = 0; j < K8; j += 8) {
      const b = bp + (<usize>j * CO << 2);
      for (let i = 0; i < mb; i += 4) {
        const a = i < full ? dy + <usize>(m0 + i) * dyRow : last;
        tile(a, dyRow, 4, b, 32, CO, cols + <usize>i * rowBytes + (<usize>j << 2), rowBytes, false);
      }
    }
    for (let r = 0; r < mb; r++) {
      pixel(m0 + r);
      let src = cols + <usize>r * rowBytes;
      for (let ky = 0; ky < KH; ky++) {
        for (let kx = 0; kx < KW; kx++, src += ciBytes) {
          const dst = at(ky, kx);
          if (dst >= 0) addTo(dx + <usize>dst, src, ciBytes);
        }
      }
    }
  }
}

/**
 * The 6×8 tile of C at c, rows cr bytes apart: C (+)= Σ_{t < steps} A[t][r] · B[t][0..8], with A packed six
 * values a step (a + t·24 + r·4, immediate offsets) and B eight (b + t·32). Twelve accumulators hide the
 * fused multiply-add's latency, which eight do not quite (the 4×8 tile runs at ~85% of this one's speed);
 * with two B vectors and a broadcast they fill the 15 SIMD registers V8 allocates.
 */
function tile6(a: usize, b: usize, steps: i32, c: usize, cr: usize, add: bool): void {
  let c00 = f32x4.splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  let c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  if (add) {
    c00 = v128.load(c); c01 = v128.load(c, 16); c10 = v128.load(c + cr); c11 = v128.load(c + cr, 16);
    c20 = v128.load(c + 2 * cr); c21 = v128.load(c + 2 * cr, 16); c30 = v128.load(c + 3 * cr); c31 = v128.load(c + 3 * cr, 16);
    c40 = v128.load(c + 4 * cr); c41 = v128.load(c + 4 * cr, 16); c50 = v128.load(c + 5 * cr); c51 = v128.load(c + 5 * cr, 16);
  }
  for (let t = 0; t < steps; t++) {
    const b0 = v128.load(b), b1 = v128.load(b, 16);
    let s = v128.load32_splat(a);
    c00 = f32x4.relaxed_madd(s, b0, c00); c01 = f32x4.relaxed_madd(s, b1, c01);
    s = v128.load32_splat(a, 4);
    c10 = f32x4.relaxed_madd(s, b0, c10); c11 = f32x4.relaxed_madd(s, b1, c11);
    s = v128.load32_splat(a, 8);
    c20 = f32x4.relaxed_madd(s, b0, c20); c21 = f32x4.relaxed_madd(s, b1, c21);
    s = v128.load32_splat(a, 12);
    c30 = f32x4.relaxed_madd(s, b0, c30); c31 = f32x4.relaxed_madd(s, b1, c31);
    s = v128.load32_splat(a, 16);
    c40 = f32x4.relaxed_madd(s, b0, c40); c41 = f32x4.relaxed_madd(s, b1, c41);
    s = v128.load32_splat(a, 20);
    c50 = f32x4.relaxed_madd(s, b0, c50); c51 = f32x4.relaxed_madd(s, b1, c51);
    a += 24;
    b += 32;
  }
  v128.store(c, c00); v128.store(c, c01, 16); v128.store(c + cr, c10); v128.store(c + cr, c11, 16);
  v128.store(c + 2 * cr, c20); v128.store(c + 2 * cr, c21, 16); v128.store(c + 3 * cr, c30); v128.store(c + 3 * cr, c31, 16);
  v128.store(c + 4 * cr, c40); v128.store(c + 4 * cr, c41, 16); v128.store(c + 5 * cr, c50); v128.store(c + 5 * cr, c51, 16);
}

/** Six rows of A (row r at a + r·ar), columns 0 .. kc (a multiple of 4), packed as tile6 reads them: p[k][r]. */
function pack6(a: usize, ar: usize, kc: i32, p: usize): void {
  const a1 = a + ar, a2 = a1 + ar, a3 = a2 + ar, a4 = a3 + ar, a5 = a4 + ar;
  for (let k: usize = 0, end = <usize>kc << 2; k < end; k += 16, p += 96) {
    const v0 = v128.load(a + k), v1 = v128.load(a1 + k), v2 = v128.load(a2 + k), v3 = v128.load(a3 + k);
    const v4 = v128.load(a4 + k), v5 = v128.load(a5 + k);
    const lo01 = v128.shuffle<f32>(v0, v1, 0, 4, 1, 5), hi01 = v128.shuffle<f32>(v0, v1, 2, 6, 3, 7);
    const lo23 = v128.shuffle<f32>(v2, v3, 0, 4, 1, 5), hi23 = v128.shuffle<f32>(v2, v3, 2, 6, 3, 7);
    const lo45 = v128.shuffle<f32>(v4, v5, 0, 4, 1, 5), hi45 = v128.shuffle<f32>(v4, v5, 2, 6, 3, 7);
    v128.store(p, v128.shuffle<f32>(lo01, lo23, 0, 1, 4, 5)); v128.store64_lane(p, lo45, 0, 16);
    v128.store(p, v128.shuffle<f32>(lo01, lo23, 2, 3, 6, 7), 24); v128.store64_lane(p, lo45, 1, 40);
    v128.store(p, v128.shuffle<f32>(hi01, hi23, 0, 1, 4, 5), 48); v128.store64_lane(p, hi45, 0, 64);
    v128.store(p, v128.shuffle<f32>(hi01, hi23, 2, 3, 6, 7), 72); v128.store64_lane(p, hi45, 1, 88);
  }
}

/**
 * C[rows][N8] = A[rows][K] · B, A's rows ar bytes apart and B in panels [N8/8][K][8], on the 6×8 tile: KB
 * columns of A at a time, packed at p (rows·KB·4 bytes, to stay in the second-level cache) while each panel's
 * part (KB·32 bytes, in the first) goes over all of them. rows is a multiple of 6, K of 4.
 */
function gemm6(a: usize, ar: usize, rows: i32, K: i32, b: usize, N8: i32, c: usize, cr: usize, p: usize): void {
  for (let k0 = 0; k0 < K; k0 += KB) {
    const kc = min(KB, K - k0), group = <usize>kc * 24;
    for (let i = 0; i < rows; i += 6) pack6(a + <usize>i * ar + (<usize>k0 << 2), ar, kc, p + <usize>(i / 6) * group);
    for (let j = 0; j < N8; j += 8) {
      const bj = b + ((<usize>j * K + <usize>k0 * 8) << 2);
      for (let i = 0; i < rows; i += 6) tile6(p + <usize>(i / 6) * group, bj, kc, c + <usize>i * cr + (<usize>j << 2), cr, k0 > 0);
    }
  }
}

// Winograd F(2×2, 2×2) for 4×4 stride-2 convolutions padded by 1 on even sizes ('same' there), every
// convolution of the DCGAN but the first of D and the last of G. A 4×4 stride-2 convolution is four 2×2
// stride-1 convolutions, one per phase (p, q) of the input's rows and columns: with X_pq[s][t] = x[2s-1+p][2t-1+q],
//   y[oy][ox] = Σ_{p,q} Σ_{a,b} X_pq[oy + a][ox + b] · w[2a + p][2b + q].
// Each is F(2×2, 2×2) on 2×2 tiles of y, y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A, whose 1-D transforms only add:
//   Bᵀd = (d0 - d1, d1, d2 - d1),  Gg = (g0, g0 + g1, g1),  Aᵀm = (m0 + m1, m1 + m2).
// The phases add up in the transformed domain, so a tile of y costs 9 products ("points" π = (u, v)) of
// length 4·Ci where the direct product has 16 taps of Ci: 9/16 of the multiplications. Per point, all
// tiles are one matrix product on the 4×8 tile above,
//   M_π[t][co] = Σ_k V_π[t][k] · U_π[k][co],  k = (2p + q)·Ci + ci,
// and the two gradients are its adjoints: dx scatters B·(M_dy · U_πᵀ)·Bᵀ back (A-transformed dy),
// dw = Gᵀ(Σ_t V_πᵀ · M_dy)G. Tile t = (n, ty, tx) reads the 6×6 window of x at (4ty - 1, 4tx - 1): phase p's
// rows i = 0, 1, 2 are window rows 2i + p. Ci and Co are multiples of 4, so channels go four at a time.

/** Whether the geometry is one the Winograd kernels compute (else the direct ones do). */
export function winograd(): bool {
  return KH === 4 && KW === 4 && SH === 2 && SW === 2 && DH === 1 && DW === 1 && PT === 1 && PL === 1 &&
    H === 2 * HO && W === 2 * WO && (HO & 1) === 0 && (WO & 1) === 0 && (CI & 3) === 0 && (CO & 3) === 0 && USE_WINOGRAD;
}

let USE_WINOGRAD = true;
/** Turns the Winograd kernels off and on (the bench compares them with the direct ones). */
export function useWinograd(on: bool): void {
  USE_WINOGRAD = on;
}

// Tiles: TY × TX a image, T in all; a block of NB of them at a time.
let TY: i32, TX: i32, T: i32, NB: i32;

// @ts-ignore: decorator
@inline function tiles(): void {
  TY = HO >> 1; TX = WO >> 1; T = N * TY * TX;
}

// The window of the tile at hand (set by window()): its image and the row and column of x its (0, 0) is.
let WN: i32, WY: i32, WX: i32;

/** Makes rowAt and colAt answer for tile t; returns the byte offset of its first pixel of y (or dy). */
function window(t: i32): usize {
  const q = t / TX, tx = t - q * TX;
  const n = q / TY, ty = q - n * TY;
  WN = n; WY = 4 * ty - 1; WX = 4 * tx - 1;
  return <usize>((n * HO + 2 * ty) * WO + 2 * tx) * CO << 2;
}

/** The byte offset in x (or dx) of the window's row i, -1 outside the image. */
// @ts-ignore: decorator
@inline function rowAt(i: i32): i32 {
  const iy = WY + i;
  return <u32>iy < <u32>H ? (WN * H + iy) * W * CI << 2 : -1;
}

/** The byte offset in a row of the window's column j, -1 outside the image. */
// @ts-ignore: decorator
@inline function colAt(j: i32): i32 {
  const ix = WX + j;
  return <u32>ix < <u32>W ? ix * CI << 2 : -1;
}

/** Four channels of x at (row r, column k) of a window, zero outside the image. */
// @ts-ignore: decorator
@inline function ld(x: usize, r: i32, k: i32, c: usize): v128 {
  return (r | k) < 0 ? f32x4.splat(0) : v128.load(x + <usize>r + <usize>k + c);
}

/** V_π [rows][K] of tiles t0 .. t0+rows (zero past the last tile) at v + π·ps. */
function inputTransform(x: usize, v: usize, t0: i32, rows: i32, ps: usize): void {
  const K = 4 * CI, ts = <usize>K << 2;
  for (let r = 0; r < rows; r++) {
    const base = v + <usize>r * ts;
    if (t0 + r >= T) {
      for (let p = 0; p < 9; p++) memory.fill(base + <usize>p * ps, 0, ts);
      continue;
    }
    window(t0 + r);
    for (let pq = 0; pq < 4; pq++) {
      const p = pq >> 1, q = pq & 1;
      const r0 = rowAt(p), r1 = rowAt(2 + p), r2 = rowAt(4 + p), k0 = colAt(q), k1 = colAt(2 + q), k2 = colAt(4 + q);
      for (let c = 0; c < CI; c += 4) {
        const cb = <usize>c << 2;
        const d00 = ld(x, r0, k0, cb), d01 = ld(x, r0, k1, cb), d02 = ld(x, r0, k2, cb);
        const d10 = ld(x, r1, k0, cb), d11 = ld(x, r1, k1, cb), d12 = ld(x, r1, k2, cb);
        const d20 = ld(x, r2, k0, cb), d21 = ld(x, r2, k1, cb), d22 = ld(x, r2, k2, cb);
        // Bᵀ along the rows, then along the columns
        const e00 = f32x4.sub(d00, d10), e01 = f32x4.sub(d01, d11), e02 = f32x4.sub(d02, d12);
        const e20 = f32x4.sub(d20, d10), e21 = f32x4.sub(d21, d11), e22 = f32x4.sub(d22, d12);
        const dst = base + (<usize>(pq * CI + c) << 2);
        v128.store(dst, f32x4.sub(e00, e01)); v128.store(dst + ps, e01); v128.store(dst + 2 * ps, f32x4.sub(e02, e01));
        v128.store(dst + 3 * ps, f32x4.sub(d10, d11)); v128.store(dst + 4 * ps, d11); v128.store(dst + 5 * ps, f32x4.sub(d12, d11));
        v128.store(dst + 6 * ps, f32x4.sub(e20, e21)); v128.store(dst + 7 * ps, e21); v128.store(dst + 8 * ps, f32x4.sub(e22, e21));
      }
    }
  }
}

/**
 * The A-transform of dy (the adjoint of the output transform: M_π = A dy Aᵀ, from a 2×2 tile) for tiles
 * t0 .. t0+rows, zero past the last tile; four channels at v + π·ps + r·ts + (co/8)·gs + (co%8)·4: rows one
 * after the other (ts = Co·4, gs = 32) or in panels of eight (ts = 32).
 */
function dyTransform(dy: usize, v: usize, t0: i32, rows: i32, ps: usize, ts: usize, gs: usize): void {
  const rowBytes = <usize>WO * CO << 2;
  for (let r = 0; r < rows; r++) {
    const base = v + <usize>r * ts;
    const src = t0 + r < T ? dy + window(t0 + r) : 0;
    for (let co = 0; co < CO; co += 4) {
      const dst = base + (<usize>co >> 3) * gs + (<usize>(co & 7) << 2);
      if (t0 + r >= T) {
        for (let p = 0; p < 9; p++) v128.store(dst + <usize>p * ps, f32x4.splat(0));
        continue;
      }
      const s = src + (<usize>co << 2), cb = <usize>CO << 2;
      const a00 = v128.load(s), a01 = v128.load(s + cb), a10 = v128.load(s + rowBytes), a11 = v128.load(s + rowBytes + cb);
      const b01 = f32x4.add(a00, a01), b11 = f32x4.add(a10, a11);
      v128.store(dst, a00); v128.store(dst + ps, b01); v128.store(dst + 2 * ps, a01);
      v128.store(dst + 3 * ps, f32x4.add(a00, a10)); v128.store(dst + 4 * ps, f32x4.add(b01, b11)); v128.store(dst + 5 * ps, f32x4.add(a01, a11));
      v128.store(dst + 6 * ps, a10); v128.store(dst + 7 * ps, b11); v128.store(dst + 8 * ps, a11);
    }
  }
}

/** y of tiles t0 .. t0+rows from M_π at m + π·ps + r·(Co8·4): y = Aᵀ M A. */
function outputTransform(m: usize, y: usize, t0: i32, rows: i32, ps: usize): void {
  const rs = <usize>round8(CO) << 2, rowBytes = <usize>WO * CO << 2, cb = <usize>CO << 2;
  for (let r = 0; r < rows; r++) {
    const dst = y + window(t0 + r), src = m + <usize>r * rs;
    for (let co = 0; co < CO; co += 4) {
      const s = src + (<usize>co << 2);
      const m00 = v128.load(s), m01 = v128.load(s + ps), m02 = v128.load(s + 2 * ps);
      const m10 = v128.load(s + 3 * ps), m11 = v128.load(s + 4 * ps), m12 = v128.load(s + 5 * ps);
      const m20 = v128.load(s + 6 * ps), m21 = v128.load(s + 7 * ps), m22 = v128.load(s + 8 * ps);
      const r00 = f32x4.add(m00, m01), r01 = f32x4.add(m01, m02);
      const r10 = f32x4.add(m10, m11), r11 = f32x4.add(m11, m12);
      const r20 = f32x4.add(m20, m21), r21 = f32x4.add(m21, m22);
      const d = dst + (<usize>co << 2);
      v128.store(d, f32x4.add(r00, r10)); v128.store(d + cb, f32x4.add(r01, r11));
      v128.store(d + rowBytes, f32x4.add(r10, r20)); v128.store(d + rowBytes + cb, f32x4.add(r11, r21));
    }
  }
}

/** Adds four channels to dx at (row r, column k) of a window, if inside the image. */
// @ts-ignore: decorator
@inline function addAt(dx: usize, r: i32, k: i32, c: usize, value: v128): void {
  if ((r | k) >= 0) {
    const at = dx + <usize>r + <usize>k + c;
    v128.store(at, f32x4.add(v128.load(at), value));
  }
}

/** dx += B V_π Bᵀ of tiles t0 .. t0+rows (the adjoint of the input transform), V_π at v + π·ps + r·(K·4). */
function inputScatter(v: usize, dx: usize, t0: i32, rows: i32, ps: usize): void {
  const rs = <usize>CI << 4;
  for (let r = 0; r < rows; r++) {
    window(t0 + r);
    for (let pq = 0; pq < 4; pq++) {
      const p = pq >> 1, q = pq & 1;
      const r0 = rowAt(p), r1 = rowAt(2 + p), r2 = rowAt(4 + p), k0 = colAt(q), k1 = colAt(2 + q), k2 = colAt(4 + q);
      for (let c = 0; c < CI; c += 4) {
        const s = v + <usize>r * rs + (<usize>(pq * CI + c) << 2), cb = <usize>c << 2;
        const g00 = v128.load(s), g01 = v128.load(s + ps), g02 = v128.load(s + 2 * ps);
        const g10 = v128.load(s + 3 * ps), g11 = v128.load(s + 4 * ps), g12 = v128.load(s + 5 * ps);
        const g20 = v128.load(s + 6 * ps), g21 = v128.load(s + 7 * ps), g22 = v128.load(s + 8 * ps);
        // B along the columns (d0 = g0, d1 = g1 - g0 - g2, d2 = g2), then along the rows
        const e01 = f32x4.sub(f32x4.sub(g01, g00), g02), e11 = f32x4.sub(f32x4.sub(g11, g10), g12), e21 = f32x4.sub(f32x4.sub(g21, g20), g22);
        addAt(dx, r0, k0, cb, g00); addAt(dx, r0, k1, cb, e01); addAt(dx, r0, k2, cb, g02);
        addAt(dx, r1, k0, cb, f32x4.sub(f32x4.sub(g10, g00), g20));
        addAt(dx, r1, k1, cb, f32x4.sub(f32x4.sub(e11, e01), e21));
        addAt(dx, r1, k2, cb, f32x4.sub(f32x4.sub(g12, g02), g22));
        addAt(dx, r2, k0, cb, g20); addAt(dx, r2, k1, cb, e21); addAt(dx, r2, k2, cb, g22);
      }
    }
  }
}

/**
 * U_π = G g Gᵀ of the filter w [4][4][Ci][Co] to u + π·ps, in panels [Co8/8][K][8] as the forward product reads
 * them, or [K/8][Co][8] (U_πᵀ) for the input gradient's; each point's panels are written in order. The
 * transposed layout goes through `stage` (576 bytes): four k's a time, turned by 4×4 transposes.
 */
function filterTransform(w: usize, u: usize, transposed: bool, stage: usize): void {
  const K = 4 * CI, Co8 = round8(CO);
  const tap = <usize>CI * CO << 2;
  if (!transposed) {
    const ps = PS1;
    for (let j = 0; j < CO; j += 8) {
      for (let k = 0; k < K; k++) {
        const pq = k / CI, ci = k - pq * CI;
        const g = w + ((<usize>ci * CO + j) << 2) + <usize>((pq >> 1) * 4 + (pq & 1)) * tap;
        const dst = u + ((<usize>j * K + <usize>k * 8) << 2);
        filterPoints(g, tap, dst, ps);
        if (j + 8 <= CO) filterPoints(g + 16, tap, dst + 16, ps);
        else for (let pt = 0; pt < 9; pt++) v128.store(dst + <usize>pt * ps, f32x4.splat(0), 16);
      }
    }
    return;
  }
  const ps = PS1;
  for (let k8 = 0; k8 < K; k8 += 8) {
    for (let co = 0; co < CO; co += 4) {
      for (let half = 0; half < 8; half += 4) {
        for (let l = 0; l < 4; l++) {
          const k = k8 + half + l, pq = k / CI, ci = k - pq * CI;
          filterPoints(w + ((<usize>ci * CO + co) << 2) + <usize>((pq >> 1) * 4 + (pq & 1)) * tap, tap, stage + (<usize>l << 4), 64);
        }
        for (let pt = 0; pt < 9; pt++) {
          const sp = stage + <usize>pt * 64;
          const v0 = v128.load(sp), v1 = v128.load(sp, 16), v2 = v128.load(sp, 32), v3 = v128.load(sp, 48);
          const lo01 = v128.shuffle<f32>(v0, v1, 0, 4, 1, 5), hi01 = v128.shuffle<f32>(v0, v1, 2, 6, 3, 7);
          const lo23 = v128.shuffle<f32>(v2, v3, 0, 4, 1, 5), hi23 = v128.shuffle<f32>(v2, v3, 2, 6, 3, 7);
          const d = u + <usize>pt * ps + ((<usize>(k8 >> 3) * CO + co) << 5) + (<usize>half << 2);
          v128.store(d, v128.shuffle<f32>(lo01, lo23, 0, 1, 4, 5)); v128.store(d, v128.shuffle<f32>(lo01, lo23, 2, 3, 6, 7), 32);
          v128.store(d, v128.shuffle<f32>(hi01, hi23, 0, 1, 4, 5), 64); v128.store(d, v128.shuffle<f32>(hi01, hi23, 2, 3, 6, 7), 96);
        }
      }
    }
  }
}

/**
 * The nine points of four output channels: g is tap (p, q) of w at those channels, the phase's other taps
 * (p, q+2), (p+2, q), (p+2, q+2) are 2, 8 and 10 taps further; point π goes to dst + π·ps.
 */
// @ts-ignore: decorator
@inline function filterPoints(g: usize, tap: usize, dst: usize, ps: usize): void {
  const g00 = v128.load(g), g01 = v128.load(g + 2 * tap), g10 = v128.load(g + 8 * tap), g11 = v128.load(g + 10 * tap);
  const h0 = f32x4.add(g00, g01), h1 = f32x4.add(g10, g11);
  v128.store(dst, g00); v128.store(dst + ps, h0); v128.store(dst + 2 * ps, g01);
  v128.store(dst + 3 * ps, f32x4.add(g00, g10)); v128.store(dst + 4 * ps, f32x4.add(h0, h1)); v128.store(dst + 5 * ps, f32x4.add(g01, g11));
  v128.store(dst + 6 * ps, g10); v128.store(dst + 7 * ps, h1); v128.store(dst + 8 * ps, g11);
}

/** dw = Gᵀ dU_π G from dU_π [K6][Co8] (the first K rows) at du + π·ps. */
function filterGradTransform(du: usize, dw: usize): void {
  const Co8 = round8(CO);
  const ps = PS1, tap = <usize>CI * CO << 2;
  for (let pq = 0; pq < 4; pq++) {
    const p = pq >> 1, q = pq & 1;
    for (let ci = 0; ci < CI; ci++) {
      const k = pq * CI + ci;
      for (let co = 0; co < CO; co += 4) {
        const s = du + ((<usize>k * Co8 + co) << 2);
        const e00 = v128.load(s), e01 = v128.load(s + ps), e02 = v128.load(s + 2 * ps);
        const e10 = v128.load(s + 3 * ps), e11 = v128.load(s + 4 * ps), e12 = v128.load(s + 5 * ps);
        const e20 = v128.load(s + 6 * ps), e21 = v128.load(s + 7 * ps), e22 = v128.load(s + 8 * ps);
        const h00 = f32x4.add(e00, e01), h01 = f32x4.add(e01, e02);
        const h10 = f32x4.add(e10, e11), h11 = f32x4.add(e11, e12);
        const h20 = f32x4.add(e20, e21), h21 = f32x4.add(e21, e22);
        const d = dw + ((<usize>ci * CO + co) << 2);
        v128.store(d + <usize>(p * 4 + q) * tap, f32x4.add(h00, h10));
        v128.store(d + <usize>(p * 4 + 2 + q) * tap, f32x4.add(h01, h11));
        v128.store(d + <usize>((2 + p) * 4 + q) * tap, f32x4.add(h10, h20));
        v128.store(d + <usize>((2 + p) * 4 + 2 + q) * tap, f32x4.add(h11, h21));
      }
    }
  }
}

/**
 * Bytes from one point's array to the next: `floats` rounded up to 4 KB, plus 7 cache lines, so that the nine
 * arrays (written and read side by side) fall in different sets of the first-level cache instead of
 * one: their sizes are often powers of two.
 */
// @ts-ignore: decorator
@inline function pointStride(floats: i32): usize {
  return ((<usize>floats << 2) + 4095 & ~4095) + 448;
}

// The point strides of the Winograd kernels' three arrays (set by winogradLayout).
let PS1: usize, PS2: usize, PS3: usize;

/**
 * The Winograd kernels' scratch: nine arrays of a floats | nine of NB·b | nine of NB·c | a block of packed A;
 * NB, a multiple of 6, up to `tb` tiles. Returns the bytes.
 */
function winogradLayout(scratch: usize, tb: i32, a: i32, b: i32, c: i32): usize {
  tiles();
  NB = min(round6(max(1, tb)), round6(T));
  PS1 = pointStride(a); PS2 = pointStride(NB * b); PS3 = pointStride(NB * c);
  PART1 = scratch;
  PART2 = PART1 + 9 * PS1;
  PART3 = PART2 + 9 * PS2;
  PART4 = PART3 + 9 * PS3;
  return PART4 + <usize>max(NB * max(KB, 6) * 4, 576) - scratch;
}

/** winogradConv2d: U_π panels [Co8/8][K][8] | V_π [NB][K] | M_π [NB][Co8]. */
export function winogradScratch(tb: i32): usize {
  const K = 4 * CI, Co8 = round8(CO);
  return winogradLayout(0, tb, K * Co8, K, Co8);
}

/** y = Aᵀ[V_π · U_π]A, NB tiles at a time. */
export function winogradConv2d(x: usize, w: usize, y: usize, scratch: usize, tb: i32): void {
  const K = 4 * CI, Co8 = round8(CO);
  winogradLayout(scratch, tb, K * Co8, K, Co8);
  const u = PART1, v = PART2, m = PART3;
  const psU = PS1, psV = PS2, psM = PS3;
  filterTransform(w, u, false, PART4);
  for (let t0 = 0; t0 < T; t0 += NB) {
    const rows = min(NB, T - t0), rows6 = round6(rows);
    inputTransform(x, v, t0, rows6, psV);
    for (let pt = 0; pt < 9; pt++) {
      gemm6(v + <usize>pt * psV, <usize>K << 2, rows6, K, u + <usize>pt * psU, Co8, m + <usize>pt * psM, <usize>Co8 << 2, PART4);
    }
    outputTransform(m, y, t0, rows, psM);
  }
}

/** winogradInputGrad: U_πᵀ panels [K/8][Co][8] | M_dy,π [NB][Co] | V_π [NB][K]. */
export function winogradInputGradScratch(tb: i32): usize {
  const K = 4 * CI;
  return winogradLayout(0, tb, K * CO, CO, K);
}

/** dx = Σ_t B[M_dy,π · U_πᵀ]Bᵀ, NB tiles at a time. */
export function winogradInputGrad(dy: usize, w: usize, dx: usize, scratch: usize, tb: i32): void {
  const K = 4 * CI;
  winogradLayout(scratch, tb, K * CO, CO, K);
  const u = PART1, md = PART2, v = PART3;
  const psU = PS1, psM = PS2, psV = PS3;
  filterTransform(w, u, true, PART4);
  memory.fill(dx, 0, <usize>N * H * W * CI << 2);
  for (let t0 = 0; t0 < T; t0 += NB) {
    const rows = min(NB, T - t0), rows6 = round6(rows);
    dyTransform(dy, md, t0, rows6, psM, <usize>CO << 2, 32);
    for (let pt = 0; pt < 9; pt++) {
      gemm6(md + <usize>pt * psM, <usize>CO << 2, rows6, CO, u + <usize>pt * psU, K, v + <usize>pt * psV, <usize>K << 2, PART4);
    }
    inputScatter(v, dx, t0, rows, psV);
  }
}

/** winogradFilterGrad: dU_π [K6][Co8] | V_π [NB][K] | M_dy,π panels [Co8/8][NB][8]. */
export function winogradFilterGradScratch(tb: i32): usize {
  const K = 4 * CI, Co8 = round8(CO);
  return winogradLayout(0, tb, round6(K) * Co8, K, Co8);
}

/**
 * dw = Gᵀ[Σ_t V_πᵀ · M_dy,π]G, NB tiles at a time: six rows of V_πᵀ (six columns of V_π, contiguous in each
 * of its rows) are packed at a time, and go with every panel of M_dy,π.
 */
export function winogradFilterGrad(x: usize, dy: usize, dw: usize, scratch: usize, tb: i32): void {
  const K = 4 * CI, K6 = round6(K), Co8 = round8(CO);
  winogradLayout(scratch, tb, K6 * Co8, K, Co8);
  const du = PART1, v = PART2, md = PART3, p = PART4;
  const psU = PS1, psV = PS2, psM = PS3;
  const panel = <usize>NB << 5, cr = <usize>Co8 << 2;
  memory.fill(du, 0, 9 * psU);
  if (Co8 !== CO) memory.fill(md, 0, 9 * psM); // the zero columns of the last panel
  for (let t0 = 0; t0 < T; t0 += NB) {
    const rows = min(NB, T - t0);
    inputTransform(x, v, t0, rows, psV);
    dyTransform(dy, md, t0, rows, psM, 32, panel);
    for (let pt = 0; pt < 9; pt++) {
      const vp = v + <usize>pt * psV;
      for (let k0 = 0; k0 < K; k0 += 6) {
        packColumns(vp + (<usize>k0 << 2), <usize>K << 2, rows, min(6, K - k0), p);
        for (let j = 0; j < Co8; j += 8) {
          tile6(p, md + <usize>pt * psM + <usize>(j >> 3) * panel, rows, du + <usize>pt * psU + <usize>k0 * cr + (<usize>j << 2), cr, true);
        }
      }
    }
  }
  filterGradTransform(du, dw);
}

/** Columns 0 .. cols (up to 6; zero beyond) of `rows` rows of A (ar bytes apart), packed as tile6 reads them: p[t][c]. */
function packColumns(a: usize, ar: usize, rows: i32, cols: i32, p: usize): void {
  for (let t = 0; t < rows; t++, a += ar, p += 24) {
    if (cols === 6) {
      v128.store(p, v128.load(a));
      v128.store64_lane(p, v128.load64_zero(a, 16), 0, 16);
    } else {
      for (let c = 0; c < 6; c++) store<f32>(p + (<usize>c << 2), c < cols ? load<f32>(a + (<usize>c << 2)) : 0);
    }
  }
}
