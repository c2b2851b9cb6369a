import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend.js';
import { listCheckpoints, loadCheckpoint } from '../src/checkpoint.js';
import { renderFace } from '../src/data/faces.js';
import { tempDir } from './fixtures.js';
import { assertOneLineErrors, BIN, exitOf, gan, ganHere, messages, waitFor } from './helpers.js';

const TINY = ['--res', '16', '--width', '4'];

/** A folder of 20 small face photos (built-in faces saved as JPEGs). */
async function faceFolder(dir: string): Promise<string> {
  const src = path.join(dir, 'photos');
  fs.mkdirSync(src, { recursive: true });
  await Promise.all(Array.from({ length: 20 }, (_, i) =>
    sharp(renderFace(i, 40), { raw: { width: 40, height: 40, channels: 3 } }).jpeg().toFile(path.join(src, `${i}.jpg`))));
  return src;
}

test('gan train on a folder writes previews and a checkpoint; a rerun with more epochs resumes', async () => {
  const work = tempDir();
  const src = await faceFolder(work);
  const args = ['train', '--data', src, ...TINY, '--batch', '8', '--run', 'tiny', '--checkpoint-every', '2', '--preview-every', '2'];
  const first = gan([...args, '--epochs', '2'], work);
  assert.equal(first.status, 0, first.stderr);
  const runDir = path.join(work, 'checkpoints', 'tiny');
  const previews = fs.readdirSync(path.join(runDir, 'previews'));
  for (const f of ['step-00000000.png', 'step-00000002.png', 'step-00000004.png', 'latest.png']) assert.ok(previews.includes(f), f);
  assert.deepEqual(listCheckpoints(runDir).map((c) => c.step), [2, 4]);
  for (const f of ['train.log', 'losses.csv', 'losses.png', 'config.json']) assert.ok(fs.existsSync(path.join(runDir, f)), f);
  const log = fs.readFileSync(path.join(runDir, 'train.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const steps = log.filter((l) => l.step !== undefined && l.d_loss !== undefined);
  assert.deepEqual(Object.keys(steps[0]).filter((k) => !['level', 'time'].includes(k)),
    ['step', 'epoch', 'd_loss', 'g_loss', 'd_real', 'd_fake', 'img_per_s']);
  const meta = await sharp(path.join(runDir, 'previews', 'latest.png')).metadata();
  assert.equal(meta.format, 'png');

  const again = await ganHere([...args, '--epochs', '3'], work);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /resuming tiny at step 4 of 6/);
  assert.deepEqual(listCheckpoints(runDir).map((c) => c.step), [2, 4, 6]);
  const csv = fs.readFileSync(path.join(runDir, 'losses.csv'), 'utf8').trim().split('\n');
  assert.deepEqual(csv.slice(1).map((r) => Number(r.split(',')[0])), [1, 2, 3, 4, 5, 6]);

  // other data for the same run is refused
  const other = await ganHere(['train', ...TINY, '--batch', '8', '--run', 'tiny'], work);
  assert.equal(other.status, 2);
  assert.match(messages(other).join('\n'), /other data/);
});

test('gan train --loss hinge --spectral-norm trains, and the checkpoint records both', async () => {
  const work = tempDir();
  const r = await ganHere(['train', ...TINY, '--batch', '8', '--epochs', '1', '--loss', 'hinge', '--spectral-norm', '--run', 'hinge'], work);
  assert.equal(r.status, 0, r.stderr);
  const runDir = path.join(work, 'checkpoints', 'hinge');
  const ck = await loadCheckpoint(listCheckpoints(runDir).at(-1)!.dir);
  assert.equal(ck.state.step, 256); // 2048 built-in faces in batches of 8
  assert.equal(ck.state.config.loss, 'hinge');
  assert.equal(ck.state.config.spectralNorm, true);
  ck.G.dispose();
  ck.D!.dispose();
  tf.dispose(Object.values(ck.optimizer.tensors));
  const other = await ganHere(['train', ...TINY, '--batch', '8', '--epochs', '2', '--run', 'hinge', '--loss', 'bce'], work);
  assert.equal(other.status, 2);
  assert.match(messages(other).at(-1)!, /run hinge has --loss hinge, not bce: use --fresh/);
});

test('two gan train on one run: the second exits 2 naming the first; a killed one\'s lock is taken over', async () => {
  const work = tempDir();
  const args = ['train', ...TINY, '--batch', '4', '--run', 'busy', '--epochs', '100', '--threads', '1'];
  const first = spawn(process.execPath, [BIN, ...args], { cwd: work, stdio: 'ignore' });
  const csv = path.join(work, 'checkpoints', 'busy', 'losses.csv');
  await waitFor(() => fs.existsSync(csv) && fs.readFileSync(csv, 'utf8').split('\n').length > 2, 'the first run to train');
  const second = await ganHere(args, work);
  assert.equal(second.status, 2, second.stderr);
  assert.match(messages(second).at(-1)!, new RegExp(`checkpoints/busy is in use by process ${first.pid} \\(gan train, since .*\\): wait for it or stop it`));
  first.kill('SIGKILL');
  await exitOf(first);
  const after = await ganHere([...args.slice(0, -4), '--epochs', '1', '--threads', '1', '--checkpoint-every', '1000'], work);
  assert.equal(after.status, 0, after.stderr);
});

test('SIGTERM stops after the current step with a checkpoint that loads', async () => {
  const work = tempDir();
  const child = spawn(process.execPath, [BIN, 'train', ...TINY, '--batch', '4', '--run', 'sig', '--epochs', '100',
    '--checkpoint-every', '1000'], { cwd: work });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const runDir = path.join(work, 'checkpoints', 'sig');
  // wait for training to be under way (steps logged), then ask it to stop
  const csv = path.join(runDir, 'losses.csv');
  await waitFor(() => fs.existsSync(csv) && fs.readFileSync(csv, 'utf8').split('\n').length > 4, 'training steps');
  child.kill('SIGTERM');
  const code = await exitOf(child);
  assert.equal(code, 0, err);
  const step = Number(/stopped at step (\d+)/.exec(err)?.[1]);
  assert.ok(step > 0, err);
  assert.deepEqual(listCheckpoints(runDir).map((c) => c.step), [step]);
  await assertLoads(runDir);
});

async function assertLoads(runDir: string) {
  const ck = await loadCheckpoint(listCheckpoints(runDir).at(-1)!.dir);
  assert.ok(ck.G.getWeights().length > 0 && ck.D!.getWeights().length > 0);
  ck.G.dispose();
  ck.D!.dispose();
  tf.dispose(Object.values(ck.optimizer.tensors));
}

test('kill -9 at any moment leaves the last checkpoint intact', async () => {
  await initBackend(process.env.GAN_TEST_BACKEND);
  const work = tempDir();
  const runDir = path.join(work, 'checkpoints', 'k9');
  for (const delayMs of [0, 37, 151, 293]) {
    // a checkpoint every step, so the kill often lands in the middle of writing one
    const child = spawn(process.execPath, [BIN, 'train', ...TINY, '--batch', '4', '--run', 'k9', '--epochs', '100',
      '--checkpoint-every', '1'], { cwd: work, stdio: 'ignore' });
    await waitFor(() => listCheckpoints(runDir).length > 0, 'a first checkpoint');
    await new Promise((r) => setTimeout(r, delayMs));
    child.kill('SIGKILL');
    await exitOf(child);
    await assertLoads(runDir);
  }
});

test('gan train errors: one line, exit 2, no stack trace', async () => {
  const work = tempDir();
  const empty = path.join(work, 'empty');
  fs.mkdirSync(empty);
  // a run whose only checkpoint is unreadable
  const broken = path.join(work, 'checkpoints', 'broken', 'ckpt-00000002');
  fs.mkdirSync(broken, { recursive: true });
  fs.writeFileSync(path.join(broken, 'state.json'), '{"step": 2, "conf');
  await assertOneLineErrors(([
    [['--data', path.join(work, 'missing')], /not found/],
    [['--data', empty], /no files/],
    [['--res', '63'], /--res must be one of/],
    [['--batch', '0'], /--batch must be a positive integer/],
    [['--lr', 'fast'], /--lr must be a number/],
    [['--lr', '5'], /--lr, a learning rate, must be in/],
    [['--loss', 'wasserstein'], /--loss must be one of bce, hinge/],
    [['--arch', 'stylegan'], /--arch must be one of dcgan/],
    [['--run', 'a/b'], /--run must be/],
    [['--run', 'broken'], /unreadable/],
    [['--threads', '0'], /--threads must be/],
    [['--batch', '8', '--threads', '9'], /--threads 9 is more than the --batch of 8 images/],
  ] as [string[], RegExp][]).map(([args, why]) => [['train', ...TINY, ...args], why]), work);
});
