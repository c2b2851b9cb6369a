// Training threads on a bad day: a worker thread that fails, at start or in the middle of a step, ends the
// whole run with that thread's own error message, and leaves no thread running (the process exits).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { sharedMemory, summer } from '../src/parallel.js';
import { tempDir } from './fixtures.js';
import { BIN } from './helpers.js';

/** Thread `rank`'s values for sum number `call`: short and long arrays in turn (long ones pass the small slots). */
const LENGTHS = [5, 3, 5000, 7, 2, 9000, 4, 4];
const valuesOf = (rank: number, call: number) => Float32Array.from({ length: LENGTHS[call] }, (_, i) => Math.sin(rank * 7919 + call * 104729 + i) * 1000);

test('sums across threads: every thread gets the sums in double precision rounded once, short and long arrays in any order', async () => {
  const threads = 3;
  const shared = sharedMemory(threads, 10_000);
  const parallel = new URL('../src/parallel.js', import.meta.url).href;
  // the workers: the same sequence of sums as this thread, through the same module
  const workers = [1, 2].map((rank) => new Worker(`
    const { workerData, parentPort } = require('node:worker_threads');
    import(workerData.parallel).then(({ summer }) => {
      const sum = summer(workerData.shared, workerData.rank);
      parentPort.postMessage(workerData.calls.map((values) => Array.from(sum(values))));
    });`, { eval: true, workerData: { parallel, shared, rank, calls: LENGTHS.map((_, call) => valuesOf(rank, call)) } }));
  const results = workers.map((w) => new Promise<number[][]>((resolve, reject) => w.once('message', resolve).once('error', reject)));
  const sum = summer(shared, 0);
  const mine = LENGTHS.map((_, call) => Array.from(sum(valuesOf(0, call))));
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the worker threads did not answer within 60 s')), 60_000).unref());
  const theirs = await Promise.race([Promise.all(results), timeout]);
  await Promise.all(workers.map((w) => w.terminate()));
  for (const [call, n] of LENGTHS.entries()) {
    const want = Array.from(Float32Array.from({ length: n }, (_, i) => [0, 1, 2].reduce((a, rank) => a + valuesOf(rank, call)[i], 0)));
    assert.deepEqual(mine[call], want, `sum ${call} (${n} values)`);
    for (const t of theirs) assert.deepEqual(t[call], want, `a worker's sum ${call}`);
  }
});

/** `gan train` on the built-in faces at 16 px, with GAN_THREAD_FAULT making one worker thread fail. */
function trainWithFault(threads: number, fault: string) {
  const r = spawnSync(process.execPath, [BIN, 'train', '--res', '16', '--width', '4', '--batch', '6', '--threads', String(threads), '--run', 'faulty'],
    { cwd: tempDir(), encoding: 'utf8', timeout: 120_000, env: { ...process.env, GAN_THREAD_FAULT: fault } });
  assert.equal(r.signal, null, `the process exited by itself (a thread left running keeps it alive): ${r.stderr}`);
  return r;
}

test('a worker thread that fails at start: the run exits with that thread\'s error, and no thread is left running', () => {
  const r = trainWithFault(2, '1:start');
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^gan: internal error: training thread 1 failed at start \(GAN_THREAD_FAULT\)/m);
});

test('a worker thread that fails mid-run, while the others wait for its sums: the run exits with that thread\'s error, and no thread is left running', () => {
  for (const [threads, fault] of [[2, '1:2'], [3, '2:3']] as const) {
    const r = trainWithFault(threads, fault);
    assert.equal(r.status, 1, r.stderr);
    const [rank, step] = fault.split(':');
    assert.match(r.stderr, new RegExp(`^gan: internal error: training thread ${rank} failed at ${step} \\(GAN_THREAD_FAULT\\)`, 'm'));
    assert.match(r.stderr, new RegExp(`training on ${threads} threads`), 'the workers had started');
  }
});
