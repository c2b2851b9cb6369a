// A preprocessing thread (see Decoders in preprocess.ts): takes the next chunk of files from a counter it
// shares with the other threads, and sends back one buffer with every file's pixels, in order, the size
// and modification time each was read at, and the reasons of those it skipped, until no chunk is left. It
// stays until it is terminated, so that it never ends before its last message is read.
import * as fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import type { CropMode } from './cache.js';
import { decodeImage, readSource } from './decode.js';

const { res, crop } = workerData as { res: number; crop: CropMode };
const size = res * res * 3;

function statOf(file: string): [number, number] {
  try {
    const { size, mtimeMs } = fs.statSync(file);
    return [size, mtimeMs];
  } catch {
    return [0, 0];
  }
}

parentPort!.on('message', async ({ files, counter, chunk }: { files: string[]; counter: SharedArrayBuffer; chunk: number }) => {
  const next = new Int32Array(counter);
  for (let start = Atomics.add(next, 0, 1) * chunk; start < files.length; start = Atomics.add(next, 0, 1) * chunk) {
    const part = files.slice(start, start + chunk);
    const pixels = new Uint8Array(part.length * size);
    const stats = new Float64Array(part.length * 2); // size, mtimeMs
    const skipped: (string | null)[] = [];
    for (const [k, file] of part.entries()) {
      try {
        const source = readSource(file);
        stats.set([source.size, source.mtimeMs], 2 * k);
        pixels.set(await decodeImage(source.bytes, res, crop), k * size);
        skipped.push(null);
      } catch (e) {
        skipped.push((e as Error).message.split('\n')[0]);
        if (stats[2 * k + 1] === 0) stats.set(statOf(file), 2 * k); // it could not be read
      }
    }
    parentPort!.postMessage({ start, pixels, stats, skipped }, [pixels.buffer, stats.buffer]);
  }
  parentPort!.postMessage('done');
});
