// A user's bad day with runs and checkpoints: odd run names, damaged checkpoints, a full disk, files that lead
// elsewhere. Each scenario gives one clear line or recovers by itself.
import assert from 'node:assert/strict';
import fsDefault, * as fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import * as path from 'node:path';
import { before, mock, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend.js';
import { listCheckpoints, loadModel, saveCheckpoint, scanCheckpoints } from '../src/checkpoint.js';
import { CollapseWatch, diversity } from '../src/collapse.js';
import type { TrainConfig } from '../src/config.js';
import { GanError } from '../src/errors.js';
import { disposeGan } from '../src/gan.js';
import { runNameFrom, train } from '../src/train.js';
import { tempDir } from './fixtures.js';
import { ganHere, hearing, messages } from './helpers.js';

const TINY = { width: 4, batch: 4, epochs: 1, previewEvery: 1000, checkpointEvery: 1000 };
let work: string;

before(async () => {
  await initBackend(process.env.GAN_TEST_BACKEND);
  work = tempDir();
  process.chdir(work);
});

async function trained(run: string, maxSteps: number, more: Partial<TrainConfig> = {}) {
  const r = await train({ res: 16, run, maxSteps, threads: 1, overrides: { ...TINY, ...more }, quiet: true });
  disposeGan(r.gan);
  return r;
}

const writeSync = fs.writeSync;

/** Runs `body` with fs.writeSync replaced (every module's `import * as fs` sees it), then puts it back. */
async function withWrites<T>(how: (fd: number, data: Uint8Array) => number, body: () => Promise<T>): Promise<T> {
  const m = mock.method(fsDefault, 'writeSync', how as typeof fs.writeSync);
  syncBuiltinESMExports();
  try {
    return await body();
  } finally {
    m.mock.restore();
    syncBuiltinESMExports();
  }
}

test('--run . and --run .. are refused before anything is touched; a folder name with spaces makes a valid run name', async () => {
  fs.mkdirSync(path.join(work, 'checkpoints', 'other'), { recursive: true });
  fs.writeFileSync(path.join(work, 'checkpoints', 'keep.txt'), 'a file beside the runs');
  for (const run of ['.', '..', '.hidden', '-x', 'a/b', '']) {
    const r = await ganHere(['train', '--res', '16', '--width', '4', '--run', run, '--fresh'], work);
    assert.equal(r.status, 2, `--run "${run}": ${r.stderr}`);
    assert.match(messages(r).at(-1)!, /--run must be a plain name/);
  }
  assert.ok(fs.existsSync(path.join(work, 'checkpoints', 'other')) && fs.existsSync(path.join(work, 'checkpoints', 'keep.txt')), 'nothing deleted');
  assert.equal(fs.readdirSync(work).includes('previews'), false, 'nothing written in the working folder');
  assert.equal(runNameFrom('My Photos', 64), 'My-Photos-64');
  assert.equal(runNameFrom('..', 32), 'data-32');
  assert.equal(runNameFrom('.faces (2019)', 16), 'faces-2019--16');
});

test('a damaged newest checkpoint: the rerun resumes from the newest whole one and says so; runs and sample of other runs go on', async () => {
  const damages: [string, (dir: string) => void, RegExp][] = [
    ['state.json of {}', (dir) => fs.writeFileSync(path.join(dir, 'state.json'), '{}'), /state.json has no step/],
    ['a short weights.bin', (dir) => fs.truncateSync(path.join(dir, 'generator', 'weights.bin'), 100), /weight files have 100 bytes/],
    ['no optimizer.bin', (dir) => fs.rmSync(path.join(dir, 'optimizer.bin')), /optimizer.bin/],
    ['a config of wrong types', (dir) => {
      const state = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8'));
      fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify({ ...state, config: { ...state.config, batch: '4' } }));
    }, /`batch` must be a positive integer/],
  ];
  await trained('healthy', 1);
  for (const [i, [what, hurt, why]] of damages.entries()) {
    const run = `hurt${i}`;
    await trained(run, 2, { checkpointEvery: 1 });
    const runDir = path.join(work, 'checkpoints', run);
    hurt(listCheckpoints(runDir).at(-1)!.dir);
    const { whole, damaged } = scanCheckpoints(runDir);
    assert.deepEqual(whole.map((c) => c.step), [1], what);
    assert.match(damaged[0].why, why, what);
    // gan runs and gan sample still work, for this run (its newest whole checkpoint) and the others
    const runs = await ganHere(['runs', '--json'], work);
    assert.equal(runs.status, 0, runs.stderr);
    assert.deepEqual(JSON.parse(runs.stdout).find((r: { name: string }) => r.name === run).checkpoints, [1]);
    for (const name of ['healthy', run]) assert.equal((await ganHere(['sample', '--run', name, '--out', `${name}.png`], work)).status, 0, what);
    // the rerun: moved aside, said, resumed from step 1
    const again = await hearing(() => train({ res: 16, run, maxSteps: 1, threads: 1, overrides: { ...TINY, checkpointEvery: 1 } }));
    disposeGan(again.result.gan);
    assert.match(again.stderr, new RegExp(`checkpoint ckpt-00000002 is damaged \\(.*\\): moved aside to damaged-ckpt-00000002-\\w+; resuming from ckpt-00000001`), what);
    assert.match(again.stderr, /resuming hurt\d at step 1 of/);
  }
});

test('a checkpoint that does not write whole (a short write) is not renamed into place, and nothing older is removed', async () => {
  const r = await train({ res: 16, run: 'short', maxSteps: 2, threads: 1, overrides: { ...TINY, checkpointEvery: 1, keepCheckpoints: 1 }, quiet: true });
  assert.deepEqual(listCheckpoints(r.runDir).map((c) => c.step), [2]);
  // the disk fills up in the middle of a weights file: half of it is written, then nothing more
  let room = Infinity;
  const fillsUp = (fd: number, data: Uint8Array, offset = 0, length = data.length - offset) => {
    if (room === Infinity && length > 4096) room = length >> 1;
    const n = Math.min(length, room === Infinity ? length : room);
    if (room !== Infinity) room -= n;
    return n === 0 ? 0 : writeSync(fd, data, offset, n);
  };
  await assert.rejects(withWrites(fillsUp as (fd: number, data: Uint8Array) => number, () => saveCheckpoint(r.runDir, {
    G: r.gan.G, D: r.gan.D, optimizerState: () => ({ tG: 3, tD: 3, tensors: { ...r.gan.optG.state('g'), ...r.gan.optD.state('d') } }),
  }, { step: 3, epoch: 0, config: r.gan.config, data: 'builtin', fingerprint: 'x', time: '' }, 1)), /short write, \d+ of \d+ bytes written \(disk full\?\)/);
  disposeGan(r.gan);
  assert.deepEqual(listCheckpoints(r.runDir).map((c) => c.step), [2], 'the older checkpoint is kept');
  assert.deepEqual(fs.readdirSync(r.runDir).filter((f) => f.includes('ckpt-00000003')), [], 'no half checkpoint left');
});

test('pruning keeps the newest checkpoints and the best one', async () => {
  const r = await train({ res: 16, run: 'prune', maxSteps: 1, threads: 1, overrides: { ...TINY }, quiet: true });
  const save = (step: number) => saveCheckpoint(r.runDir, {
    G: r.gan.G, D: r.gan.D, optimizerState: () => ({ tG: step, tD: step, tensors: { ...r.gan.optG.state('g'), ...r.gan.optD.state('d') } }),
  }, { step, epoch: 0, config: r.gan.config, data: 'builtin', fingerprint: 'x', time: '' }, 2, 2);
  for (const step of [2, 3, 4, 5]) await save(step);
  disposeGan(r.gan);
  assert.deepEqual(listCheckpoints(r.runDir).map((c) => c.step), [2, 4, 5]);
});

test('a full disk while training stops the run with one line, and the last whole checkpoint is kept', async () => {
  await trained('full', 2, { checkpointEvery: 1 });
  let writes = 0;
  const fillsUp = (fd: number, data: Uint8Array) => {
    if (++writes > 3) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    return writeSync(fd, data);
  };
  await assert.rejects(withWrites(fillsUp, () => trained('full', 3, { checkpointEvery: 1 })), (e: unknown) =>
    e instanceof GanError && e.exitCode === 3 && /^the disk is full \(.*no space left on device.*\): training stopped at step \d; the last whole checkpoint \(step \d\) is kept/.test(e.message));
  assert.ok(listCheckpoints(path.join(work, 'checkpoints', 'full')).length > 0);
  const resumed = await trained('full', 1);
  assert.ok(resumed.resumedFrom >= 2);
});

test('previews are kept as the newest ten and every tenth interval', async () => {
  const r = await trained('previews', 25, { previewEvery: 1 });
  const kept = fs.readdirSync(path.join(r.runDir, 'previews')).filter((f) => f.startsWith('step-')).map((f) => Number(f.slice(5, 13)));
  assert.deepEqual(kept, [0, 10, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25]);
});

test('resume checks what it reads as a fresh run does, and a lower learning rate may be given on resume (the way on after a NaN)', async () => {
  await trained('strict', 1);
  await assert.rejects(trained('strict', 1, { checkpointEvery: 0 }), /`checkpointEvery` must be a positive integer/);
  const slower = await train({ res: 16, run: 'strict', maxSteps: 1, threads: 1, overrides: { ...TINY, lrG: 1e-4, lrD: 1e-4 }, quiet: true });
  assert.equal(slower.gan.config.lrG, 1e-4);
  disposeGan(slower.gan);
  const r = await ganHere(['train', '--res', '16', '--width', '4', '--batch', '4', '--run', 'strict', '--checkpoint-every', '0'], work);
  assert.equal(r.status, 2);
  assert.match(messages(r).at(-1)!, /^gan: --checkpoint-every must be a positive integer \(got 0\)$/);
});

test('model.json may not name weight files outside its folder, and sizes are checked before anything is allocated', async () => {
  const r = await trained('paths', 1);
  const dir = path.join(listCheckpoints(r.runDir)[0].dir, 'generator');
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  for (const p of ['../../paths/config.json', '/etc/passwd', '..']) {
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ ...json, weightsManifest: [{ ...json.weightsManifest[0], paths: [p] }] }));
    await assert.rejects(loadModel(dir), /is not a file inside/);
  }
  const huge = { ...json.weightsManifest[0], weights: [{ name: 'w', shape: [1e6, 1e6], dtype: 'float32' }] };
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ ...json, weightsManifest: [huge] }));
  await assert.rejects(loadModel(dir), /not the 4000000000000 model.json declares/);
  assert.deepEqual(listCheckpoints(r.runDir), [], 'and the checkpoint counts as damaged');
});

test('gan eval never preprocesses a folder a checkpoint names: only an image cache is taken from there', async () => {
  const r = await trained('named', 1);
  const stateFile = path.join(listCheckpoints(r.runDir)[0].dir, 'state.json');
  const elsewhere = tempDir();
  fs.writeFileSync(path.join(elsewhere, 'secret.txt'), 'not for gan');
  fs.writeFileSync(stateFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(stateFile, 'utf8')), dataDir: elsewhere }));
  const e = await ganHere(['eval', '--run', 'named', '--n', '4'], work);
  assert.equal(e.status, 2);
  assert.match(messages(e).at(-1)!, /does not name an image cache of its data here: give the real faces with --real/);
  assert.deepEqual(fs.readdirSync(elsewhere), ['secret.txt']);
});

test('collapse: a warning once when D(G(z)) stays near 0 for a long stretch, and when the faces grow alike', () => {
  const w = new CollapseWatch(5, 0.01);
  const said = Array.from({ length: 12 }, (_, i) => w.step(i + 1, i < 2 ? 0.3 : 0.001)).map((s, i) => [i + 1, s]).filter(([, s]) => s);
  assert.equal(said.length, 1);
  assert.equal(said[0][0], 7); // below 0.01 from step 3: the fifth step in a row
  assert.match(String(said[0][1]), /D\(G\(z\)\) has stayed below 0.01 for 5 steps \(since step 3\)/);
  assert.equal(w.step(13, 0.2), undefined);
  const faces = (spread: number) => Uint8Array.from({ length: 8 * 12 }, (_, i) => 128 + spread * (((i * 7919) % 13) - 6));
  assert.ok(diversity(faces(10), 8) > 5 * diversity(faces(1), 8));
  assert.equal(diversity(faces(0), 8), 0);
  assert.equal(w.preview(100, diversity(faces(10), 8)), undefined);
  assert.match(String(w.preview(200, diversity(faces(1), 8))), /preview faces at step 200 are much alike/);
  assert.equal(w.preview(300, diversity(faces(1), 8)), undefined, 'said once');
  tf.engine(); // (tfjs loaded for the other tests of this file)
});
