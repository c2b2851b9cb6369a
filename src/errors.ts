/**
 * An error the user can fix: the CLI prints its message on one line and exits with `exitCode`.
 * The library names its settings in backquotes (`batch`, `res`); the command line shows each as its flag.
 */
export class GanError extends Error {
  constructor(message: string, readonly exitCode = 2) {
    super(message);
    this.name = 'GanError';
  }
}

/** A message's `setting` names rewritten by `name`, e.g. as command-line flags. */
export function renameSettings(message: string, name: (setting: string) => string): string {
  return message.replace(/`(\w+)`/g, (_, s: string) => name(s));
}
