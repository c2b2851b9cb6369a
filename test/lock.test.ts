// Folder locks between real processes: the second writer is told who holds the folder; a holder that died
// leaves nothing stuck.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { GanError } from '../src/errors.js';
import { acquireLock, LOCK_FILE } from '../src/lock.js';
import { tempDir } from './fixtures.js';
import { BIN, exitOf, gan, messages, ROOT, waitFor } from './helpers.js';

const LOCK_JS = JSON.stringify(pathToFileURL(path.join(ROOT, 'dist', 'src', 'lock.js')).href);

/** Runs `node -e code` (an ES module) with `args`: its exit code and output, once its output is closed; killed after a minute. */
function node(code: string, args: string[] = []) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', code, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const done = new Promise<{ code: number | null; out: string }>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    }));
  return { child, done };
}

test('two gan preprocess on one cache: the second names the first and exits 2; one killed leaves no stuck lock', async () => {
  const work = tempDir();
  const src = path.join(work, 'faces');
  fs.mkdirSync(src);
  await sharp({ create: { width: 600, height: 600, channels: 3, background: { r: 9, g: 99, b: 199 } } }).jpeg().toFile(path.join(src, 'a.jpg'));
  for (let i = 0; i < 1500; i++) fs.linkSync(path.join(src, 'a.jpg'), path.join(src, `b${i}.jpg`)); // work for a second or more
  const out = path.join(work, 'cache');
  const lock = path.join(out, LOCK_FILE);

  const first = spawn(process.execPath, [BIN, 'preprocess', src, '--res', '16', '--out', out], { stdio: 'ignore' });
  const firstExit = exitOf(first);
  try {
    await waitFor(() => fs.existsSync(lock), 'the first to lock the cache');
    first.kill('SIGSTOP'); // holds the lock until it is let go
    const second = gan(['preprocess', src, '--res', '16', '--out', out], work);
    assert.equal(second.status, 2, second.stderr);
    assert.equal(messages(second).length, 1, second.stderr);
    assert.match(messages(second)[0], new RegExp(
      `^gan: ${out} is in use by process ${first.pid} \\(gan preprocess, since \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\): wait for it or stop it$`));
  } finally {
    first.kill('SIGKILL'); // as the kernel does when memory runs out: no chance to tidy up
  }
  await firstExit;
  assert.equal(first.signalCode, 'SIGKILL');
  assert.ok(fs.existsSync(lock), 'the killed process left its lock');
  const third = gan(['preprocess', src, '--res', '16', '--out', out], work);
  assert.equal(third.status, 0, third.stderr);
  assert.match(third.stderr, /1501 images cached/);
  assert.ok(!fs.existsSync(lock), 'released when done');

  // released after a user error too
  const bad = path.join(work, 'bad');
  fs.mkdirSync(bad);
  fs.writeFileSync(path.join(bad, 'x.jpg'), 'nope');
  const failed = gan(['preprocess', bad, '--res', '16', '--out', out], work);
  assert.equal(failed.status, 2);
  assert.ok(!fs.existsSync(lock));
});

test('a lock is let go when its process exits at once (a second Ctrl-C), and a dead or reused pid does not hold it', async () => {
  const dir = tempDir();
  const lock = path.join(dir, LOCK_FILE);
  const exited = await node(`import { acquireLock } from ${LOCK_JS}; acquireLock(process.argv[1], 'gan preprocess'); process.exit(130);`, [dir]).done;
  assert.equal(exited.code, 130, exited.out);
  assert.ok(!fs.existsSync(lock), 'removed at exit');

  // A lock file left by a holder that is gone: a process that ended, this very pid (an earlier process
  // that had it, as in a container), a live pid started at another time (reused): each is taken over.
  const ended = node('');
  await ended.done;
  const sleeper = node('setTimeout(() => {}, 60_000)');
  try {
    const holder = (pid: number, started?: string) => ({ pid, host: os.hostname(), command: 'gan train', since: new Date().toISOString(), started, token: 'x' });
    const reused = process.platform === 'linux' ? [holder(sleeper.child.pid!, '1')] : []; // start times: Linux only
    for (const stale of [holder(ended.child.pid!), holder(process.pid), ...reused]) {
      fs.writeFileSync(lock, JSON.stringify(stale));
      const l = acquireLock(dir, 'gan preprocess');
      assert.equal(JSON.parse(fs.readFileSync(lock, 'utf8')).pid, process.pid, JSON.stringify(stale));
      l.release();
      assert.ok(!fs.existsSync(lock));
    }
    // a live one holds it; one on another machine too (nothing here can tell whether it runs)
    const live = holder(sleeper.child.pid!);
    await waitFor(() => fs.existsSync(`/proc/${live.pid}`) || process.platform !== 'linux', 'the sleeper to start');
    fs.writeFileSync(lock, JSON.stringify(live));
    assert.throws(() => acquireLock(dir, 'gan preprocess'), (e: GanError) => e.exitCode === 2 && e.message.includes(`in use by process ${live.pid} (gan train, since`));
    fs.writeFileSync(lock, JSON.stringify({ ...holder(1), host: 'elsewhere' }));
    assert.throws(() => acquireLock(dir, 'gan preprocess'), new RegExp(`in use by process 1 on elsewhere .*remove ${lock}`));
    // and a lock held in this process is held
    fs.rmSync(lock);
    const mine = acquireLock(dir, 'gan preprocess');
    assert.throws(() => acquireLock(dir, 'gan preprocess'), /in use by process/);
    mine.release();
  } finally {
    sleeper.child.kill('SIGKILL');
    await sleeper.done;
  }
});

test('processes racing for one lock, over a stale one: exactly one gets it', async () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid: 999_999_999, host: os.hostname(), command: 'gan preprocess', since: new Date().toISOString(), token: 'old' }));
  const go = Date.now() + 1500; // all start, then try at the same moment
  const racers = Array.from({ length: 6 }, () => node(`import { acquireLock } from ${LOCK_JS};
    while (Date.now() < ${go});
    try {
      const l = acquireLock(process.argv[1], 'racer');
      console.log('got');
      setTimeout(() => l.release(), 3000);
    } catch (e) {
      console.log(e.message.includes('in use by process') ? 'busy' : e.message);
    }`, [dir]));
  const results = await Promise.all(racers.map((r) => r.done));
  const said = results.map((r) => r.out.trim()).sort();
  assert.deepEqual(said, ['busy', 'busy', 'busy', 'busy', 'busy', 'got'], said.join(', '));
  assert.ok(!fs.existsSync(path.join(dir, LOCK_FILE)));
});
