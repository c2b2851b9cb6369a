// AssemblyScript, compiled to dist/conv.wasm by `npm run build` (SIMD, and relaxed SIMD's fused multiply-add,
// which doubles the arithmetic per instruction). The three
// convolutions of training (forward, input gradient, filter gradient) as matrix products of an image's
// patches (im2col) with the filter, all on one register-blocked 4×8 tile: src/kernels/conv.ts registers them
// on the wasm backend. The module works in the wasm backend's own memory, on tensors it allocated: it has no
// data of its own, so it can import that memory.
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

// A kernel's blocks and where the parts of its scratch start, set by its layout function (which the kernel
// and the export telling the caller how many bytes to allocate both call).
let MB: i32, TB: i32;
let PART1: usize, PART2: usize, PART3: usize;

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
