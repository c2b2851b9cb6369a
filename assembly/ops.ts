// AssemblyScript, compiled to dist/ops.wasm by `npm run build` (SIMD): the pointwise and per-channel kernels
// of training that tfjs runs as several ops, each a pass over memory with a tensor of its own, as one or two
// passes: BatchNorm's sums, normalisation and gradient, the gradient of LeakyReLU (and ReLU's, alpha 0),
// LeakyReLU itself, and Adam's update. src/kernels/ops.ts registers them on the wasm backend; like conv.wasm,
// the module works in the backend's memory on the tensors' own bytes and has no data of its own.
//
// Per-channel tensors are NHWC seen as [rows][C]; sums are taken in double precision, so that a thread's share
// of a batch, or the whole of it, sums to the same float32 up to one rounding.

/** y = x < 0 ? alpha·x : x, for n floats. */
export function leakyRelu(x: usize, y: usize, n: i32, alpha: f32): void {
  const a = f32x4.splat(alpha), zero = f32x4.splat(0);
  const end = <usize>n << 2;
  let i: usize = 0;
  for (; i + 16 <= end; i += 16) {
    const v = v128.load(x + i);
    v128.store(y + i, v128.bitselect(f32x4.mul(v, a), v, f32x4.lt(v, zero)));
  }
  for (; i < end; i += 4) {
    const v = load<f32>(x + i);
    store<f32>(y + i, v < 0 ? alpha * v : v);
  }
}

/** dx = x > 0 ? dy : alpha·dy (LeakyReLU's gradient; ReLU's with alpha 0), for n floats. */
export function leakyReluGrad(dy: usize, x: usize, dx: usize, n: i32, alpha: f32): void {
  const a = f32x4.splat(alpha), zero = f32x4.splat(0);
  const end = <usize>n << 2;
  let i: usize = 0;
  for (; i + 16 <= end; i += 16) {
    const g = v128.load(dy + i);
    v128.store(dx + i, v128.bitselect(g, f32x4.mul(g, a), f32x4.gt(v128.load(x + i), zero)));
  }
  for (; i < end; i += 4) {
    const g = load<f32>(dy + i);
    store<f32>(dx + i, load<f32>(x + i) > 0 ? g : alpha * g);
  }
}

// Per-channel sums: acc holds 2·C doubles of scratch (two sums a channel at most), out the float32 results.

/** acc[0 .. count) = 0. */
function clear(acc: usize, count: i32): void {
  memory.fill(acc, 0, <usize>count << 3);
}

/** The count sums in acc, to float32 in out. */
function finish(acc: usize, out: usize, count: i32): void {
  for (let i = 0; i < count; i++) store<f32>(out + (<usize>i << 2), <f32>load<f64>(acc + (<usize>i << 3)));
}

/** Adds four floats, as doubles, to acc[c .. c+4). */
// @ts-ignore: decorator
@inline function accumulate(acc: usize, v: v128): void {
  v128.store(acc, f64x2.add(v128.load(acc), f64x2.promote_low_f32x4(v)));
  v128.store(acc, f64x2.add(v128.load(acc, 16), f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1))), 16);
}

/** out[c] = Σ_rows x[r][c] for mean 0 (a null pointer), else Σ_rows (x[r][c] - mean[c])². */
export function channelSums(x: usize, rows: i32, C: i32, mean: usize, acc: usize, out: usize): void {
  clear(acc, C);
  const C4 = C & ~3;
  for (let r = 0; r < rows; r++) {
    const row = x + (<usize>r * C << 2);
    let c = 0;
    for (; c < C4; c += 4) {
      let v = v128.load(row + (<usize>c << 2));
      if (mean) {
        v = f32x4.sub(v, v128.load(mean + (<usize>c << 2)));
        v = f32x4.mul(v, v);
      }
      accumulate(acc + (<usize>c << 3), v);
    }
    for (; c < C; c++) {
      let v = load<f32>(row + (<usize>c << 2));
      if (mean) {
        v -= load<f32>(mean + (<usize>c << 2));
        v *= v;
      }
      store<f64>(acc + (<usize>c << 3), load<f64>(acc + (<usize>c << 3)) + <f64>v);
    }
  }
  finish(acc, out, C);
}

/**
 * BatchNorm's two sums of the backward pass, out[0 .. C) = Σ dy·x̂ and out[C .. 2C) = Σ dy per channel, with
 * x̂ = (x - mean)·rstd.
 */
export function normGradSums(dy: usize, x: usize, rows: i32, C: i32, mean: usize, rstd: usize, acc: usize, out: usize): void {
  clear(acc, 2 * C);
  const C4 = C & ~3, second = <usize>C << 3;
  for (let r = 0; r < rows; r++) {
    const at = <usize>r * C << 2;
    let c = 0;
    for (; c < C4; c += 4) {
      const cb = <usize>c << 2;
      const g = v128.load(dy + at + cb);
      accumulate(acc + (<usize>c << 3), f32x4.mul(g, f32x4.sub(v128.load(x + at + cb), v128.load(mean + cb))));
      accumulate(acc + second + (<usize>c << 3), g);
    }
    for (; c < C; c++) {
      const cb = <usize>c << 2;
      const g = load<f32>(dy + at + cb);
      store<f64>(acc + (<usize>c << 3), load<f64>(acc + (<usize>c << 3)) + <f64>(g * (load<f32>(x + at + cb) - load<f32>(mean + cb))));
      store<f64>(acc + second + (<usize>c << 3), load<f64>(acc + second + (<usize>c << 3)) + <f64>g);
    }
  }
  for (let c = 0; c < C; c++) { // Σ dy·(x - mean), times rstd: Σ dy·x̂
    store<f64>(acc + (<usize>c << 3), load<f64>(acc + (<usize>c << 3)) * <f64>load<f32>(rstd + (<usize>c << 2)));
  }
  finish(acc, out, 2 * C);
}

/**
 * y = (x - mean)·a + b per channel, rows [rows][C]: a and b are C floats each (BatchNorm: a = rstd·gamma,
 * b = beta; its gradient: see normGrad).
 */
function affine(x: usize, y: usize, rows: i32, C: i32, mean: usize, a: usize, b: usize): void {
  const C4 = C & ~3;
  for (let r = 0; r < rows; r++) {
    const at = <usize>r * C << 2;
    let c = 0;
    for (; c < C4; c += 4) {
      const cb = <usize>c << 2;
      const v = f32x4.sub(v128.load(x + at + cb), v128.load(mean + cb));
      v128.store(y + at + cb, f32x4.add(f32x4.mul(v, v128.load(a + cb)), v128.load(b + cb)));
    }
    for (; c < C; c++) {
      const cb = <usize>c << 2;
      store<f32>(y + at + cb, (load<f32>(x + at + cb) - load<f32>(mean + cb)) * load<f32>(a + cb) + load<f32>(b + cb));
    }
  }
}

/** BatchNorm: y = (x - mean)·(rstd·gamma) + beta; scratch holds C floats. */
export function normalize(x: usize, y: usize, rows: i32, C: i32, mean: usize, rstd: usize, gamma: usize, beta: usize, scratch: usize): void {
  for (let c = 0; c < C; c++) {
    const cb = <usize>c << 2;
    store<f32>(scratch + cb, load<f32>(rstd + cb) * load<f32>(gamma + cb));
  }
  affine(x, y, rows, C, mean, scratch, beta);
}

/**
 * BatchNorm's input gradient dx = gamma·rstd·(dy - mean(dy) - x̂·mean(dy·x̂)), the means over the whole batch
 * (meanDyXhat, meanDy). With k = gamma·rstd it is k·dy + [-(x - mean)·k·rstd·mean(dy·x̂) - k·mean(dy)]: dy
 * scaled, plus an affine function of x; it is computed as ((x - mean)·a + b) + k·dy. scratch holds 3·C floats.
 */
export function normGrad(dy: usize, x: usize, dx: usize, rows: i32, C: i32, mean: usize, rstd: usize, gamma: usize,
  meanDyXhat: usize, meanDy: usize, scratch: usize): void {
  const k = scratch, a = scratch + (<usize>C << 2), b = scratch + (<usize>C << 3);
  for (let c = 0; c < C; c++) {
    const cb = <usize>c << 2;
    const s = load<f32>(rstd + cb), kc = load<f32>(gamma + cb) * s;
    store<f32>(k + cb, kc);
    store<f32>(a + cb, -kc * s * load<f32>(meanDyXhat + cb));
    store<f32>(b + cb, -kc * load<f32>(meanDy + cb));
  }
  const C4 = C & ~3;
  for (let r = 0; r < rows; r++) {
    const at = <usize>r * C << 2;
    let c = 0;
    for (; c < C4; c += 4) {
      const cb = <usize>c << 2;
      const v = f32x4.sub(v128.load(x + at + cb), v128.load(mean + cb));
      const lin = f32x4.add(f32x4.mul(v, v128.load(a + cb)), v128.load(b + cb));
      v128.store(dx + at + cb, f32x4.add(lin, f32x4.mul(v128.load(dy + at + cb), v128.load(k + cb))));
    }
    for (; c < C; c++) {
      const cb = <usize>c << 2;
      const lin = (load<f32>(x + at + cb) - load<f32>(mean + cb)) * load<f32>(a + cb) + load<f32>(b + cb);
      store<f32>(dx + at + cb, lin + load<f32>(dy + at + cb) * load<f32>(k + cb));
    }
  }
}

/**
 * Adam, PyTorch's form, for n floats: m' = m·b1 + g·(1 - b1), v' = v·b2 + g²·(1 - b2), w' = w - m'·step / (√v' + eps),
 * each operation rounded to float32 in that order, as the tfjs ops it replaces round them (no fused multiply-add).
 */
export function adam(w: usize, m: usize, v: usize, g: usize, w2: usize, m2: usize, v2: usize, n: i32,
  b1: f32, c1: f32, b2: f32, c2: f32, step: f32, eps: f32): void {
  const B1 = f32x4.splat(b1), C1 = f32x4.splat(c1), B2 = f32x4.splat(b2), C2 = f32x4.splat(c2);
  const S = f32x4.splat(step), E = f32x4.splat(eps);
  const end = <usize>n << 2;
  let i: usize = 0;
  for (; i + 16 <= end; i += 16) {
    const gi = v128.load(g + i);
    const mi = f32x4.add(f32x4.mul(v128.load(m + i), B1), f32x4.mul(gi, C1));
    const vi = f32x4.add(f32x4.mul(v128.load(v + i), B2), f32x4.mul(f32x4.mul(gi, gi), C2));
    v128.store(m2 + i, mi);
    v128.store(v2 + i, vi);
    v128.store(w2 + i, f32x4.sub(v128.load(w + i), f32x4.div(f32x4.mul(mi, S), f32x4.add(f32x4.sqrt(vi), E))));
  }
  for (; i < end; i += 4) {
    const gi = load<f32>(g + i);
    const mi = load<f32>(m + i) * b1 + gi * c1;
    const vi = load<f32>(v + i) * b2 + gi * gi * c2;
    store<f32>(m2 + i, mi);
    store<f32>(v2 + i, vi);
    store<f32>(w2 + i, load<f32>(w + i) - mi * step / (sqrt<f32>(vi) + eps));
  }
}

/** The generator's moving average, for n floats: avg' = avg·d + g·(1 - d), rounded as the tfjs ops it replaces. */
export function ema(avg: usize, g: usize, out: usize, n: i32, d: f32, c: f32): void {
  const D = f32x4.splat(d), C = f32x4.splat(c);
  const end = <usize>n << 2;
  let i: usize = 0;
  for (; i + 16 <= end; i += 16) v128.store(out + i, f32x4.add(f32x4.mul(v128.load(avg + i), D), f32x4.mul(v128.load(g + i), C)));
  for (; i < end; i += 4) store<f32>(out + i, load<f32>(avg + i) * d + load<f32>(g + i) * c);
}

/** y[r][c] = x[r][c] + b[c]: a bias over the channels, rows [rows][C]. */
export function addChannels(x: usize, b: usize, y: usize, rows: i32, C: i32): void {
  const C4 = C & ~3;
  for (let r = 0; r < rows; r++) {
    const at = <usize>r * C << 2;
    let c = 0;
    for (; c < C4; c += 4) v128.store(y + at + (<usize>c << 2), f32x4.add(v128.load(x + at + (<usize>c << 2)), v128.load(b + (<usize>c << 2))));
    for (; c < C; c++) store<f32>(y + at + (<usize>c << 2), load<f32>(x + at + (<usize>c << 2)) + load<f32>(b + (<usize>c << 2)));
  }
}

/**
 * tanh of two doubles: -expm1(-2|x|) / (2 + expm1(-2|x|)) with the sign of x, expm1 by range reduction
 * (y = k·ln 2 + r, |r| ≤ ln 2 / 2) and its Taylor series to r¹¹ (|error| < 1e-14): float32 results as
 * Math.tanh's rounded, but for the odd double rounding.
 */
// @ts-ignore: decorator
@inline function tanh2(x: v128): v128 {
  const y = f64x2.mul(f64x2.min(f64x2.abs(x), f64x2.splat(20)), f64x2.splat(-2)); // -40 ≤ y ≤ 0
  const k = f64x2.nearest(f64x2.mul(y, f64x2.splat(1.4426950408889634)));
  const r = f64x2.sub(y, f64x2.mul(k, f64x2.splat(0.6931471805599453)));
  // expm1(r) = r·(1/1! + r·(1/2! + r·(... + r/11!))), Horner's way
  let p = f64x2.splat(1.0 / 39916800);
  p = f64x2.add(f64x2.splat(1.0 / 3628800), f64x2.mul(r, p));
  p = f64x2.add(f64x2.splat(1.0 / 362880), f64x2.mul(r, p));
  p = f64x2.add(f64x2.splat(1.0 / 40320), f64x2.mul(r, p));
  p = f64x2.add(f64x2.splat(1.0 / 5040), f64x2.mul(r, p));
  p = f64x2.add(f64x2.splat(1.0 / 720), f64x2.mul(r, p));
  p = f64x2.add(f64x2.splat(1.0 / 120), f64x2.mul(r, p));
  p = f64x2.add(f64x2.splat(1.0 / 24), f64x2.mul(r, p));
  p = f64x2.add(f64x2.splat(1.0 / 6), f64x2.mul(r, p));
  p = f64x2.add(f64x2.splat(0.5), f64x2.mul(r, p));
  p = f64x2.add(f64x2.splat(1), f64x2.mul(r, p));
  p = f64x2.mul(r, p);
  // 2^k from its exponent bits
  const scale = i64x2.shl(i64x2.extend_low_i32x4_s(i32x4.add(i32x4.trunc_sat_f64x2_s_zero(k), i32x4.splat(1023))), 52);
  const em = f64x2.add(f64x2.mul(scale, p), f64x2.sub(scale, f64x2.splat(1))); // 2^k·(1 + p) - 1, exactly p for k = 0
  const t = f64x2.abs(f64x2.div(em, f64x2.add(em, f64x2.splat(2))));
  return v128.or(t, v128.and(x, f64x2.splat(-0.0))); // with the sign of x
}

/** y = tanh(x) for n floats. */
export function tanh(x: usize, y: usize, n: i32): void {
  const end = <usize>n << 2;
  let i: usize = 0;
  for (; i + 16 <= end; i += 16) {
    const v = v128.load(x + i);
    const lo = tanh2(f64x2.promote_low_f32x4(v)), hi = tanh2(f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1)));
    v128.store(y + i, v128.shuffle<f32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5));
  }
  for (; i < end; i += 4) {
    store<f32>(y + i, <f32>f64x2.extract_lane(tanh2(f64x2.splat(<f64>load<f32>(x + i))), 0));
  }
}
