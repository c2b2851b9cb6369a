// Running the CLI as a user would, and reading what it says: in this process through main() (fast: tfjs and
// sharp are loaded once), or as a child process where the exit code, signals or a clean start matter.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../src/cli.js';
import { terminal } from '../src/log.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(ROOT, 'bin', 'gan.js');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `gan ...args` as a child process in `cwd`. */
export function gan(args: string[], cwd: string, timeoutMs = 120_000): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `body`, catching what it says on the terminal. */
export async function hearing<T>(body: () => Promise<T>): Promise<{ result: T; stdout: string; stderr: string }> {
  const { err, out } = terminal;
  const heard = { stdout: '', stderr: '' };
  terminal.err = (s) => void (heard.stderr += s);
  terminal.out = (s) => void (heard.stdout += s);
  try {
    return { result: await body(), ...heard };
  } finally {
    Object.assign(terminal, { err, out });
  }
}

/** Runs `gan ...args` in this process, in `cwd`, catching what it prints. */
export async function ganHere(args: string[], cwd: string): Promise<CliResult> {
  const before = process.cwd();
  process.chdir(cwd);
  try {
    const r = await hearing(() => main(['node', 'gan', ...args]));
    return { status: r.result, stdout: r.stdout, stderr: r.stderr };
  } finally {
    process.chdir(before);
  }
}

/** The stderr lines that are not the backend line. */
export function messages(r: CliResult): string[] {
  return r.stderr.split('\n').filter((l) => l && !l.startsWith('backend '));
}

/** Waits until `ready()` holds, checking every 20 ms; fails after `ms`. */
export async function waitFor(ready: () => boolean, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`gave up after ${ms / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A child process's exit code, or a failure after `ms`. */
export function exitOf(child: import('node:child_process').ChildProcess, ms = 60_000): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the child process did not exit within ${ms / 1000} s`)), ms);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** Each command, run in this process in `cwd`, exits 2 with one line (no stack trace) that matches its pattern. */
export async function assertOneLineErrors(cases: [string[], RegExp][], cwd: string): Promise<void> {
  for (const [args, why] of cases) {
    const r = await ganHere(args, cwd);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    const lines = messages(r);
    assert.equal(lines.length, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(lines[0], why);
  }
}
