import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, test } from 'node:test';
import { Matrix } from 'ml-matrix';
import sharp from 'sharp';
import { initBackend } from '../src/backend.js';
import { renderFace, renderFaces } from '../src/data/faces.js';
import { faceShare, fitGaussian, frechet, type Gaussian } from '../src/eval.js';
import { Rng } from '../src/rng.js';
import { disposeGan } from '../src/gan.js';
import { train } from '../src/train.js';
import { tempDir } from './fixtures.js';
import { gan, ganHere } from './helpers.js';

before(async () => {
  await initBackend(process.env.GAN_TEST_BACKEND);
});

/** n samples of N(mean, diag(sd²)). */
function samples(n: number, mean: number[], sd: number[], seed: number): Matrix {
  const rng = new Rng(seed);
  return new Matrix(Array.from({ length: n }, () => mean.map((m, i) => m + sd[i] * rng.normal())));
}

test('Fréchet distance: ~0 for a set with itself, the closed form for Gaussians', () => {
  const x = samples(500, [0, 1, 2, 3], [1, 2, 0.5, 1], 1);
  assert.ok(Math.abs(frechet(fitGaussian(x), fitGaussian(x))) < 1e-9);
  // same covariance, shifted mean: |μ1 - μ2|²
  const cov = new Matrix([[2, 0.5, 0], [0.5, 1, 0.3], [0, 0.3, 1.5]]);
  const g = (mean: number[], c = cov): Gaussian => ({ mean, cov: c });
  assert.ok(Math.abs(frechet(g([0, 0, 0]), g([1, 2, -2])) - 9) < 1e-9);
  // diagonal covariances: Σ (σ1 - σ2)²
  const d = (v: number[]) => Matrix.diag(v.map((s) => s * s));
  assert.ok(Math.abs(frechet(g([0, 0, 0], d([1, 2, 3])), g([0, 0, 0], d([2, 2, 1]))) - (1 + 0 + 4)) < 1e-9);
  // 2×2 covariances that do not commute: Tr√(AB) = √(tr AB + 2√det AB)
  const A = new Matrix([[2, 1], [1, 2]]);
  const B = new Matrix([[1, 0], [0, 3]]);
  const AB = A.mmul(B);
  const detAB = AB.get(0, 0) * AB.get(1, 1) - AB.get(0, 1) * AB.get(1, 0);
  const want = A.trace() + B.trace() - 2 * Math.sqrt(AB.trace() + 2 * Math.sqrt(detAB));
  assert.ok(Math.abs(frechet({ mean: [0, 0], cov: A }, { mean: [0, 0], cov: B }) - want) < 1e-9);
  // from samples: two unit Gaussians 2 apart in 4-d
  const far = frechet(fitGaussian(samples(4000, [0, 0, 0, 0], [1, 1, 1, 1], 2)), fitGaussian(samples(4000, [2, 0, 0, 0], [1, 1, 1, 1], 3)));
  assert.ok(Math.abs(far - 4) < 0.15, `${far}`);
});

test('the face detector says no to noise and solid colours, and yes to faces', async () => {
  const n = 16;
  const res = 64;
  const rng = new Rng(5);
  const noise = Uint8Array.from({ length: n * res * res * 3 }, () => rng.int(256));
  const solid = Uint8Array.from({ length: n * res * res * 3 }, (_, i) => [40 + 10 * Math.floor(i / (res * res * 3)), 160, 90][i % 3]);
  assert.ok((await faceShare(noise, n, res)) <= 0.1);
  assert.ok((await faceShare(solid, n, res)) <= 0.1);
  assert.ok((await faceShare(renderFaces(n, res), n, res)) >= 0.6);
});

test('gan eval on a tiny run prints the face share and the Fréchet distance as JSON', async () => {
  const work = tempDir();
  process.chdir(work);
  const photos = path.join(work, 'photos');
  fs.mkdirSync(photos);
  await Promise.all(Array.from({ length: 40 }, (_, i) =>
    sharp(renderFace(i, 32), { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(path.join(photos, `${i}.png`))));
  const r = await train({ data: photos, res: 16, run: 'tiny', maxSteps: 2, threads: 1, quiet: true,
    overrides: { width: 4, batch: 8, epochs: 1, ema: 0.9, previewEvery: 100, checkpointEvery: 100, evalEvery: 2 } });
  disposeGan(r.gan);
  // evalEvery: the figures at step 2 in evals.csv and the log (20 faces: half the real images)
  const rows = fs.readFileSync(path.join(r.runDir, 'evals.csv'), 'utf8').trim().split('\n');
  assert.equal(rows[0], 'step,face_share,frechet,frechet_floor');
  assert.equal(rows.length, 2);
  const [step, share, distance, floor] = rows[1].split(',').map(Number);
  assert.equal(step, 2);
  assert.ok(share >= 0 && share <= 1 && distance > floor && floor >= 0, rows[1]);
  const logged = fs.readFileSync(path.join(r.runDir, 'train.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.event === 'eval');
  assert.deepEqual(logged.map((l) => [l.step, l.frechet]), [[2, distance]]);
  // the best checkpoint by Fréchet distance is kept and sampled by name
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(r.runDir, 'best.json'), 'utf8')), { step: 2, frechet: distance });
  const best = await ganHere(['sample', '--run', 'tiny', '--checkpoint', 'best', '--out', 'best.png'], work);
  assert.equal(best.status, 0, best.stderr);
  assert.match(best.stderr, /run tiny at step 2/);
  const out = gan(['eval', '--run', 'tiny', '--real', photos, '--n', '64', '--json'], work);
  assert.equal(out.status, 0, out.stderr);
  const scores = JSON.parse(out.stdout);
  assert.equal(scores.n, 20); // 40 real images: two halves of 20
  assert.ok(scores.face_share >= 0 && scores.face_share <= 1);
  assert.ok(scores.frechet > scores.frechet_floor, `an untrained G is further from the faces than they are from each other: ${out.stdout}`);
  assert.equal(scores.ema, true, 'the moving average is judged when the run has one');
  const raw = await ganHere(['eval', '--run', 'tiny', '--real', photos, '--n', '64', '--json', '--no-ema'], work);
  assert.equal(raw.status, 0, raw.stderr);
  const rawScores = JSON.parse(raw.stdout);
  assert.equal(rawScores.ema, false);
  assert.equal(rawScores.frechet_floor, scores.frechet_floor, 'the same real faces');
  assert.notEqual(rawScores.frechet, scores.frechet, 'another generator');
});
