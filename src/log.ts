// Two audiences: a JSON-lines log file for machines (pino), and short lines on stderr for the person at the
// terminal (stdout stays free for results such as --json output).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pino, type Logger } from 'pino';

export type { Logger };

/** A pino logger writing JSON lines to `file` synchronously (nothing is lost on exit or Ctrl-C). */
export function fileLogger(file: string): Logger {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  return pino({ base: undefined }, pino.destination({ dest: file, append: true, sync: true }));
}

/** Where the terminal's text goes: messages to stderr, results to stdout (tests running the CLI in-process catch both). */
export const terminal = {
  err: (text: string): void => void process.stderr.write(text),
  out: (text: string): void => void process.stdout.write(text),
};

/** A human-readable line for the terminal. */
export function say(line: string): void {
  terminal.err(line + '\n');
}
