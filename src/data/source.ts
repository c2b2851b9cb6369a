// Images by index, wherever they are: in memory, or in shard files read at an offset when a batch needs
// them (the OS page cache keeps those hot). No single buffer ever holds a whole data set: Node 20 caps a
// typed array at 4 GiB, and full CelebA at 128 px is 9.96 GB.
import * as fs from 'node:fs';
import { GanError } from '../errors.js';

/** What training, eval and the bench read images from. */
export interface ImageSource {
  readonly res: number;
  readonly count: number;
  /** The images at `indices`, [n, res, res, 3] uint8 RGB, one after the other. */
  read(indices: ArrayLike<number>): Uint8Array;
  /** Lets go of open files (reading afterwards fails). */
  close(): void;
}

/** Consecutive images: in a buffer, or in a file (named for messages) from its first byte. */
export type Block = { count: number; bytes: Uint8Array } | { count: number; fd: number; file: string };

/** Images from `blocks`, one after the other: image i is in the block whose range holds i. */
export function blockImages(res: number, blocks: Block[]): ImageSource {
  const size = res * res * 3;
  const starts: number[] = []; // first image of each block (plain numbers: exact up to 2^53)
  let count = 0;
  for (const b of blocks) {
    starts.push(count);
    count += b.count;
  }
  const blockOf = (i: number) => { // the last block starting at or before i
    let [lo, hi] = [0, blocks.length - 1];
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (starts[mid] <= i) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  return {
    res,
    count,
    read(indices) {
      const out = new Uint8Array(indices.length * size);
      for (let n = 0; n < indices.length; n++) {
        const i = indices[n];
        if (!Number.isInteger(i) || i < 0 || i >= count) throw new RangeError(`image ${i} of ${count}`);
        const k = blockOf(i);
        const b = blocks[k];
        const at = (i - starts[k]) * size;
        if ('bytes' in b) out.set(b.bytes.subarray(at, at + size), n * size);
        else readAt(b.fd, out.subarray(n * size, (n + 1) * size), at, b.file);
      }
      return out;
    },
    close() {
      for (const b of blocks) {
        if (!('fd' in b) || b.fd < 0) continue;
        fs.closeSync(b.fd);
        b.fd = -1;
      }
    },
  };
}

/** `pixels` ([n, res, res, 3]) as a source. */
export function imagesInMemory(res: number, pixels: Uint8Array): ImageSource {
  return blockImages(res, [{ count: pixels.length / (res * res * 3), bytes: pixels }]);
}

/** Fills `into` from `fd` at byte `position`; a file shorter than that is an error naming `file`. */
export function readAt(fd: number, into: Uint8Array, position: number, file: string): void {
  for (let got = 0; got < into.length;) {
    const n = fs.readSync(fd, into, got, into.length - got, position + got);
    if (n === 0) throw new GanError(`${file} is shorter than its cache's manifest says: run gan preprocess again`);
    got += n;
  }
}
