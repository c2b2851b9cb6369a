// Running the real CLI, as a user would, and reading what it says.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../src/cli.js';
import { disposeGan } from '../src/gan.js';
import { train } from '../src/train.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(ROOT, 'bin', 'gan.js');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `gan ...args` in `cwd`. */
export function gan(args: string[], cwd: string, timeoutMs = 120_000): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The stderr lines that are not the backend line. */
export function messages(r: { stderr: string }): string[] {
  return r.stderr.split('\n').filter((l) => l && !l.startsWith('backend '));
}

/** Runs `gan ...args` in this process (main()), with what it says on stderr. */
export async function inProcess(args: string[]): Promise<{ status: number; stderr: string }> {
  const write = process.stderr.write;
  let stderr = '';
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    return { status: await main(['node', 'gan', ...args]), stderr };
  } finally {
    process.stderr.write = write;
  }
}

/** A tiny run on the built-in faces (16 px, width 4, batch 4), in checkpoints/ of the current folder. */
export async function tinyRun(run: string, o: { ema?: number; steps?: number; previewEvery?: number } = {}): Promise<void> {
  const r = await train({ res: 16, run, maxSteps: o.steps ?? 4, quiet: true,
    overrides: { width: 4, batch: 4, epochs: 1, checkpointEvery: 2, previewEvery: o.previewEvery ?? 100, ema: o.ema ?? 0 } });
  disposeGan(r.gan);
}
