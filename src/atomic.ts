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

export function writeFileAtomic(target: string, data: string | Uint8Array): void {
  const tmp = besideTarget(target);
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
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
 * writeFileAtomic of the parts, one after the other, on libuv's threads (the caller's thread goes on
 * meanwhile), without waiting for the disk: for data that can be made again, such as the image cache's
 * shards. A kill still leaves the old file or the new one; a power cut may leave a new file short (gan
 * preprocess checks every shard's size and rebuilds a damaged cache), and waiting for the disk cost a tenth
 * of a preprocessing run.
 */
export async function writeFileAtomicInBackground(target: string, parts: Uint8Array[]): Promise<void> {
  const tmp = besideTarget(target);
  try {
    const file = await fs.promises.open(tmp, 'w');
    try {
      for (let i = 0; i < parts.length; i += 1024) { // at most IOV_MAX buffers a call
        const some = parts.slice(i, i + 1024);
        const { bytesWritten } = await file.writev(some);
        if (bytesWritten !== some.reduce((n, p) => n + p.length, 0)) throw new Error(`${target}: short write (disk full?)`);
      }
    } finally {
      await file.close();
    }
    await fs.promises.rename(tmp, target);
  } catch (e) {
    await fs.promises.rm(tmp, { force: true });
    throw e;
  }
}
