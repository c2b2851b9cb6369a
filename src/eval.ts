// How good are the faces? Two pretrained judges, both shipped with their weights inside the npm package
// @vladmandic/face-api (nothing is downloaded):
// - face share: the fraction of faces in which the tiny face detector finds a face (score >= 0.5), each face
//   enlarged to 96 px and centred on a grey 160 px canvas (the detector wants some border around a face);
// - Fréchet distance (the FID method) between generated and real faces in the 128-d embedding space of the
//   face recognition network (a ResNet-34), with the same distance between two disjoint halves of the real
//   set as the floor to read it against. Distances are comparable only at the same n.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type * as FaceApi from '@vladmandic/face-api';
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { readState } from './checkpoint.js';
import { loadSampler } from './gan.js';
import { isCacheDir } from './data/cache.js';
import { openDataset } from './data/dataset.js';
import type { ImageSource } from './data/source.js';
import { GanError } from './errors.js';
import { Rng } from './rng.js';
import { findCheckpoint } from './runs.js';
import { sampleSeeds } from './sample.js';

const require = createRequire(import.meta.url);

export const FACE_THRESHOLD = 0.5;

let api: typeof FaceApi | undefined;

function weightMap(dir: string, name: string): tf.NamedTensorMap {
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, `${name}-weights_manifest.json`), 'utf8')) as tf.io.WeightsManifestConfig;
  const bytes = Buffer.concat(manifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(dir, p)))));
  return tf.io.decodeWeights(Uint8Array.from(bytes).buffer, manifest.flatMap((g) => g.weights));
}

/** face-api's node-wasm build, which uses our tfjs (it requires @tensorflow/tfjs), with both nets loaded. */
function judges(): typeof FaceApi {
  if (api) return api;
  const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js') as typeof FaceApi;
  if ((faceapi.tf.tensor as unknown) !== tf.tensor) throw new Error('face-api loaded a second copy of tfjs');
  const dir = path.join(path.dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');
  type Loadable = { loadFromWeightMap(w: tf.NamedTensorMap): void };
  (faceapi.nets.tinyFaceDetector as unknown as Loadable).loadFromWeightMap(weightMap(dir, 'tiny_face_detector_model'));
  (faceapi.nets.faceRecognitionNet as unknown as Loadable).loadFromWeightMap(weightMap(dir, 'face_recognition_model'));
  return (api = faceapi);
}

/** uint8 RGB [n, res, res, 3] as a float tensor of 0..255, the judges' input. */
function asTensor(pixels: Uint8Array, n: number, res: number): tf.Tensor4D {
  return tf.tensor4d(Float32Array.from(pixels), [n, res, res, 3]);
}

/** The detector's best face score for each image. */
export async function faceScores(pixels: Uint8Array, n: number, res: number): Promise<number[]> {
  const faceapi = judges();
  const options = new faceapi.TinyFaceDetectorOptions({ inputSize: 160, scoreThreshold: 0.05 });
  const scores: number[] = [];
  const size = res * res * 3;
  for (let i = 0; i < n; i++) {
    const framed = tf.tidy(() => {
      const face = tf.image.resizeBilinear(asTensor(pixels.subarray(i * size, (i + 1) * size), 1, res), [96, 96]);
      return tf.pad(face, [[0, 0], [32, 32], [32, 32], [0, 0]], 128).squeeze([0]) as tf.Tensor3D;
    });
    const found = await faceapi.detectAllFaces(framed as unknown as FaceApi.TNetInput, options);
    framed.dispose();
    scores.push(found.reduce((best, d) => Math.max(best, d.score), 0));
  }
  return scores;
}

export async function faceShare(pixels: Uint8Array, n: number, res: number): Promise<number> {
  return (await faceScores(pixels, n, res)).filter((s) => s >= FACE_THRESHOLD).length / n;
}

/** 128-d face embeddings, one row per image. */
export async function embeddings(pixels: Uint8Array, n: number, res: number, batch = 50): Promise<Matrix> {
  const faceapi = judges();
  const net = faceapi.nets.faceRecognitionNet;
  const rows: number[][] = [];
  const size = res * res * 3;
  for (let start = 0; start < n; start += batch) {
    const count = Math.min(batch, n - start);
    const out = tf.tidy(() => {
      const images = tf.unstack(asTensor(pixels.subarray(start * size, (start + count) * size), count, res)) as tf.Tensor3D[];
      return net.forwardInput(new faceapi.NetInput(images as unknown as FaceApi.TResolvedNetInput[])) as unknown as tf.Tensor2D;
    });
    rows.push(...(await out.array()));
    out.dispose();
  }
  return new Matrix(rows);
}

export interface Gaussian {
  mean: number[];
  cov: Matrix;
}

/** Mean and (unbiased) covariance of the rows. */
export function fitGaussian(x: Matrix): Gaussian {
  const mean = x.mean('column');
  const centred = x.clone().subRowVector(mean);
  return { mean, cov: centred.transpose().mmul(centred).div(x.rows - 1) };
}

/** Eigenvalues and eigenvectors of a symmetric matrix (made exactly symmetric first). */
function symmetricEigen(m: Matrix): EigenvalueDecomposition {
  return new EigenvalueDecomposition(m.clone().add(m.transpose()).div(2), { assumeSymmetric: true });
}

/** The square root of a symmetric positive semi-definite matrix (negative round-off eigenvalues clipped). */
function sqrtPsd(m: Matrix): Matrix {
  const e = symmetricEigen(m);
  const v = e.eigenvectorMatrix;
  return v.mmul(Matrix.diag(e.realEigenvalues.map((l) => Math.sqrt(Math.max(l, 0))))).mmul(v.transpose());
}

/**
 * Fréchet distance between two Gaussians: |μ1 - μ2|² + Tr(Σ1 + Σ2 - 2 (Σ1^½ Σ2 Σ1^½)^½).
 * Σ1^½ Σ2 Σ1^½ is symmetric positive semi-definite, so its square root's trace is the sum of the square
 * roots of its eigenvalues: no general (non-symmetric) matrix square root is needed.
 */
export function frechet(a: Gaussian, b: Gaussian): number {
  const dMean = a.mean.reduce((s, v, i) => s + (v - b.mean[i]) ** 2, 0);
  const r = sqrtPsd(a.cov);
  const middle = symmetricEigen(r.mmul(b.cov).mmul(r)).realEigenvalues;
  const trSqrt = middle.reduce((s, l) => s + Math.sqrt(Math.max(l, 0)), 0);
  return dMean + a.cov.trace() + b.cov.trace() - 2 * trSqrt;
}

export interface Scores {
  n: number;
  face_share: number;
  frechet: number; // generated vs real
  frechet_floor: number; // real vs other real, same n
}

/** Judges `n` generated faces against 2n real ones (two disjoint halves give the floor). */
export async function score(generated: Uint8Array, realA: Uint8Array, realB: Uint8Array, n: number, res: number): Promise<Scores> {
  const [g, a, b] = await Promise.all([generated, realA, realB].map(async (p) => fitGaussian(await embeddings(p, n, res))));
  return { n, face_share: await faceShare(generated, n, res), frechet: frechet(g, a), frechet_floor: frechet(b, a) };
}

export interface EvalOptions {
  run?: string;
  checkpoint?: number | 'best';
  real?: string; // cache or image folder; default: the data the run trained on
  n?: number;
  root?: string;
  /** Judge the moving average of G when the checkpoint has one (default), or G itself. */
  ema?: boolean;
}

/** Seeds of the generated faces `gan eval` judges: fixed, and apart from the preview seeds. */
export const EVAL_SEED = 1_000_000;

/** Judges G's faces for seeds EVAL_SEED.. against two disjoint random sets of real images (at most n each). */
export async function scoreGenerator(G: tf.LayersModel, real: ImageSource, n: number): Promise<Scores> {
  const m = Math.min(n, Math.floor(real.count / 2));
  if (m < 2) throw new GanError(`only ${real.count} real images: too few to compare against`);
  const pick = new Rng(EVAL_SEED, 'real').permutation(real.count);
  const generated = await sampleSeeds(G, Array.from({ length: m }, (_, i) => EVAL_SEED + i));
  return score(generated, real.read(pick.subarray(0, m)), real.read(pick.subarray(m, 2 * m)), m, real.res);
}

/** Scores a run's checkpoint: n generated faces against real ones from its data (or --real). */
export async function evaluateRun(o: EvalOptions): Promise<Scores & { run: string; step: number; real: string; ema: boolean }> {
  const n = o.n ?? 1000;
  if (!Number.isInteger(n) || n < 2) throw new GanError(`\`n\` must be an integer of at least 2 (got ${n})`);
  const ck = findCheckpoint(o.run, o.checkpoint, o.root);
  const state = readState(ck.dir);
  // The data a checkpoint names is used only as the image cache it was: a folder named there is never
  // preprocessed (a checkpoint from elsewhere may name any folder).
  const recorded = state.dataDir && isCacheDir(state.dataDir) ? state.dataDir : undefined;
  const realDir = o.real ?? recorded;
  if (!realDir) throw new GanError(`run ${ck.run} does not name an image cache of its data here: give the real faces with \`real\``);
  const real = await openDataset(realDir, state.config.res, { crop: 'center', quiet: true });
  try {
    const { G, ema } = await loadSampler(ck.dir, o.ema);
    try {
      return { run: ck.run, step: ck.step, real: real.dir, ema, ...(await scoreGenerator(G, real, n)) };
    } finally {
      G.dispose();
    }
  } finally {
    real.close();
  }
}
