// Running the real CLI, as a user would, and reading what it says.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

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
export function messages(r: CliResult): string[] {
  return r.stderr.split('\n').filter((l) => l && !l.startsWith('backend '));
}
