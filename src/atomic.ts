// Atomic writes: write beside the target, then rename over it. A kill at any moment leaves either the old
// file or the new one, never half of one.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A unique temporary name next to `target` (same folder, so rename stays atomic). */
export function tempPath(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** A temporary path beside `target`, its folder made if needed. */
function besideTarget(target: string): string {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  return tempPath(target);
}

/** Writes all of `bytes` to `fd`; a write that stops short (a full disk) is an error that names `file`. */
export function writeAll(fd: number, bytes: Uint8Array, file: string): void {
  for (let done = 0; done < bytes.length;) {
    const n = fs.writeSync(fd, bytes, done, bytes.length - done);
    if (!(n > 0)) throw new Error(`${file}: short write, ${done} of ${bytes.length} bytes written (disk full?)`);
    done += n;
  }
}

export function writeFileAtomic(target: string, data: string | Uint8Array): void {
  const tmp = besideTarget(target);
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      writeAll(fd, typeof data === 'string' ? Buffer.from(data) : data, target);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, target);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * A file written piece by piece on libuv's threads (the caller's thread goes on meanwhile), then renamed into
 * place by close(), without waiting for the disk: for data that can be made again, such as the image cache's
 * shards. A kill still leaves the old file or the new one; a power cut may leave a new file short (gan
 * preprocess checks every shard's size and rebuilds a damaged cache), and waiting for the disk cost a tenth
 * of a preprocessing run.
 */
export class BackgroundFile {
  private readonly tmp: string;
  private readonly file: Promise<fs.promises.FileHandle>;
  private writes: Promise<void> = Promise.resolve();

  constructor(readonly target: string) {
    this.tmp = besideTarget(target);
    this.file = fs.promises.open(this.tmp, 'w');
    this.file.catch(() => {}); // reported by close()
  }

  /**
   * Queues `parts` after what was queued before; they must stay as they are until the promise it returns
   * settles, which it does once they are written or failed (close() reports a failure).
   */
  write(parts: Uint8Array[]): Promise<void> {
    this.writes = this.writes.then(async () => {
      const file = await this.file;
      for (let i = 0; i < parts.length; i += 1024) { // at most IOV_MAX buffers a call
        const some = parts.slice(i, i + 1024);
        const { bytesWritten } = await file.writev(some);
        if (bytesWritten !== some.reduce((n, p) => n + p.length, 0)) throw new Error(`${this.target}: short write (disk full?)`);
      }
    });
    return this.writes.catch(() => {}); // reported by close()
  }

  /** Once everything queued is written: renamed into place; on a failure the temporary file is removed and it throws. */
  async close(): Promise<void> {
    try {
      await this.finish();
      await fs.promises.rename(this.tmp, this.target);
    } catch (e) {
      await fs.promises.rm(this.tmp, { force: true });
      throw e;
    }
  }

  /** Once what is queued is done: the temporary file removed, whatever happened. */
  async discard(): Promise<void> {
    await this.finish().catch(() => {});
    await fs.promises.rm(this.tmp, { force: true });
  }

  private async finish(): Promise<void> {
    const file = await this.file;
    try {
      await this.writes;
    } finally {
      await file.close();
    }
  }
}
