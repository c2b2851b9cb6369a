// Training threads on a bad day: a worker thread that fails, at start or in the middle of a step, ends the
// whole run with that thread's own error message, and leaves no thread running (the process exits).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { tempDir } from './fixtures.js';
import { BIN } from './helpers.js';

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
