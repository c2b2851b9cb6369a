// Conv2DBackpropInput for wasm: the input gradient of conv2d, and so the forward pass of every
// conv2dTranspose (the whole generator). tfjs-backend-wasm 4.22 runs it as a scalar loop (~2.5 GFLOP/s);
// here it is split into stride² "phases", each a small stride-1 convolution on XNNPACK (~30 GFLOP/s).
//
// Along one axis, output row i = q·s + r' (phase r' ∈ [0, s)) only meets the kernel taps k ≡ r (mod s),
// where i + pad = (q + c)·s + r:   dx[q·s + r'] = Σ_j dy[q + c - j] · W[r + s·j],  j < J = ⌈(k - r)/s⌉.
// That is a stride-1 correlation of dy with the reversed taps W[r + s·(J-1-t)], padded by J-1-c in front;
// a 4×4 stride-2 kernel becomes four 2×2 convolutions, which add up to exactly the work of the original.
// Two shapes of the DCGAN go faster another way: G's first layer (a 1×1 input to k×k) is one matMul, and
// few input channels (G's RGB output, D's first layer) are a 1×1 convolution plus a JS scatter (col2im).
import * as tf from '@tensorflow/tfjs';
import { Scratch, type BackendWasm, type KernelArgs, type TensorInfo } from './wasm.js';

interface Phase {
  r: number; // first kernel tap of the phase
  taps: number; // J
  rows: number; // Q: output rows of the phase
  before: number; // padding of dy in front (negative: crop)
  after: number; // padding of dy behind (negative: crop)
}

function phase(rOut: number, stride: number, k: number, pad: number, dyLen: number, outLen: number): Phase {
  const r = (rOut + pad) % stride;
  const c = Math.floor((rOut + pad) / stride);
  const taps = Math.max(0, Math.ceil((k - r) / stride));
  const rows = Math.max(0, Math.ceil((outLen - rOut) / stride));
  return { r, taps, rows, before: taps - 1 - c, after: rows + c - dyLen };
}

/** The phase's filter [Jh, Jw, Co, Ci]: taps W[rh + sh·(Jh-1-th), rw + sw·(Jw-1-tw), ci, co], one JS pass. */
function phaseFilter(s: Scratch, filter: TensorInfo, ph: Phase, pw: Phase, sh: number, sw: number): TensorInfo {
  const [, kw, ci, co] = filter.shape;
  const out = s.output([ph.taps, pw.taps, co, ci]);
  const src = s.backend.typedArrayFromHeap(filter);
  const dst = s.backend.typedArrayFromHeap(out);
  let o = 0;
  for (let th = 0; th < ph.taps; th++) {
    for (let tw = 0; tw < pw.taps; tw++) {
      const base = ((ph.r + sh * (ph.taps - 1 - th)) * kw + pw.r + sw * (pw.taps - 1 - tw)) * ci * co;
      for (let o2 = 0; o2 < co; o2++) for (let i = 0, si = base + o2; i < ci; i++, si += co) dst[o++] = src[si];
    }
  }
  return out;
}

export function conv2DBackpropInput(args: KernelArgs): TensorInfo {
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const { inputShape, strides, pad, dataFormat, dimRoundingMode } = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
  if (dataFormat === 'NCHW') throw new Error('Conv2DBackpropInput: only NHWC is supported on wasm');
  const s = new Scratch(args.backend as BackendWasm);
  const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode);
  if (dy.shape[1] === 1 && dy.shape[2] === 1 && info.padInfo.top === 0 && info.padInfo.left === 0 &&
    inputShape[1] === filter.shape[0] && inputShape[2] === filter.shape[1]) return s.done(fromOnePixel(s, dy, filter));
  if (filter.shape[2] <= 4) return s.done(fewChannels(s, dy, filter, inputShape, info));
  return s.done(phases(s, dy, filter, inputShape, info));
}

/** dy [n,1,1,co] to dx [n,kh,kw,ci] = dy · Wᵀ: one matMul. */
function fromOnePixel(s: Scratch, dy: TensorInfo, filter: TensorInfo): TensorInfo {
  const [kh, kw, ci, co] = filter.shape;
  const n = dy.shape[0];
  const wt = s.transpose(s.reshape(filter, [kh * kw * ci, co]), [1, 0]);
  const dx = s.run('BatchMatMul', { a: s.reshape(dy, [1, n, co]), b: s.reshape(wt, [1, co, kh * kw * ci]) }, { transposeA: false, transposeB: false });
  return s.reshape(dx, [n, kh, kw, ci]);
}

/** Few input channels: cols[b,oh,ow,(i,j,c)] = Σ_o dy[b,oh,ow,o]·W[i,j,c,o] (a 1×1 conv), then scatter-add. */
function fewChannels(s: Scratch, dy: TensorInfo, filter: TensorInfo, inputShape: number[], info: tf.backend_util.Conv2DInfo): TensorInfo {
  const [kh, kw, ci, co] = filter.shape;
  const [n, h, w] = inputShape;
  const [, ho, wo] = dy.shape;
  const { strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  const taps = kh * kw * ci;
  const cols = s.conv2d(dy, s.reshape(s.transpose(s.reshape(filter, [taps, co]), [1, 0]), [1, 1, co, taps]), 'valid');
  const out = s.output([n, h, w, ci]);
  const src = s.backend.typedArrayFromHeap(cols);
  const dst = s.backend.typedArrayFromHeap(out);
  dst.fill(0);
  let o = 0; // dx[b, oh·sh+i-top, ow·sw+j-left, c] += cols[b,oh,ow,i,j,c]
  for (let b = 0; b < n; b++) {
    for (let oh = 0; oh < ho; oh++) {
      for (let ow = 0; ow < wo; ow++) {
        for (let i = 0; i < kh; i++) {
          const r = oh * sh + i - top;
          if (r < 0 || r >= h) {
            o += kw * ci;
            continue;
          }
          for (let j = 0; j < kw; j++, o += ci) {
            const q = ow * sw + j - left;
            if (q < 0 || q >= w) continue;
            const d = ((b * h + r) * w + q) * ci;
            for (let c = 0; c < ci; c++) dst[d + c] += src[o + c];
          }
        }
      }
    }
  }
  return out;
}

/** The general case: stride² phase convolutions, interleaved. */
function phases(s: Scratch, dy: TensorInfo, filter: TensorInfo, inputShape: number[], info: tf.backend_util.Conv2DInfo): TensorInfo {
  const [kh, kw, ci] = filter.shape;
  const [n, h, w] = inputShape;
  const [, ho, wo] = dy.shape;
  const [sh, sw] = [info.strideHeight, info.strideWidth];

  const parts: { rh: number; rw: number; ph: Phase; pw: Phase; y?: TensorInfo }[] = [];
  for (let rh = 0; rh < sh; rh++) {
    for (let rw = 0; rw < sw; rw++) {
      const ph = phase(rh, sh, kh, info.padInfo.top, ho, h);
      const pw = phase(rw, sw, kw, info.padInfo.left, wo, w);
      if (ph.rows === 0 || pw.rows === 0) continue;
      if (ph.taps === 0 || pw.taps === 0) { // no tap reaches these rows (kernel smaller than the stride)
        parts.push({ rh, rw, ph, pw });
        continue;
      }
      let d = dy; // explicit padding beyond the kernel's reach: crop dy instead of padding it
      if (ph.before < 0 || ph.after < 0 || pw.before < 0 || pw.after < 0) {
        const [t, l] = [Math.max(0, -ph.before), Math.max(0, -pw.before)];
        d = s.run('Slice', { x: dy }, { begin: [0, t, l, 0], size: [n, ho - t - Math.max(0, -ph.after), wo - l - Math.max(0, -pw.after), dy.shape[3]] });
      }
      const pads: [number, number][] = [[0, 0], [Math.max(0, ph.before), Math.max(0, ph.after)], [Math.max(0, pw.before), Math.max(0, pw.after)], [0, 0]];
      parts.push({ rh, rw, ph, pw, y: s.conv2d(d, phaseFilter(s, filter, ph, pw, sh, sw), pads) }); // [n, ph.rows, pw.rows, ci]
    }
  }
  // Interleave the phases into dx, one JS pass.
  const out = s.output([n, h, w, ci]);
  const dst = s.backend.typedArrayFromHeap(out);
  for (const { rh, rw, ph, pw, y } of parts) {
    const src = y && s.backend.typedArrayFromHeap(y);
    let o = 0;
    for (let b = 0; b < n; b++) {
      for (let q = 0; q < ph.rows; q++) {
        let d = ((b * h + q * sh + rh) * w + rw) * ci;
        for (let p = 0; p < pw.rows; p++, d += sw * ci, o += ci) {
          if (src) dst.set(src.subarray(o, o + ci), d);
          else dst.fill(0, d, d + ci);
        }
      }
    }
  }
  return out;
}
