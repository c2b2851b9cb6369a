/** An error the user can fix: the CLI prints its message on one line and exits with `exitCode`. */
export class GanError extends Error {
  constructor(message: string, readonly exitCode = 2) {
    super(message);
    this.name = 'GanError';
  }
}
