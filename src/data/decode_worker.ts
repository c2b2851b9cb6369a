// A preprocessing thread (see Decoders in preprocess.ts): takes the next chunk of files from a counter it
// shares with the other threads, and sends back one buffer with every file's pixels, in order, and the
// reasons of those it skipped, until no chunk is left. It stays until it is terminated, so that it never
// ends before its last message is read.
import { parentPort, workerData } from 'node:worker_threads';
import type { CropMode } from './cache.js';
import { decodeImage } from './decode.js';

const { res, crop } = workerData as { res: number; crop: CropMode };
const size = res * res * 3;

parentPort!.on('message', async ({ files, counter, chunk }: { files: string[]; counter: SharedArrayBuffer; chunk: number }) => {
  const next = new Int32Array(counter);
  for (let start = Atomics.add(next, 0, 1) * chunk; start < files.length; start = Atomics.add(next, 0, 1) * chunk) {
    const part = files.slice(start, start + chunk);
    const pixels = new Uint8Array(part.length * size);
    const skipped: (string | null)[] = [];
    for (const [k, file] of part.entries()) {
      try {
        pixels.set(await decodeImage(file, res, crop), k * size);
        skipped.push(null);
      } catch (e) {
        skipped.push((e as Error).message.split('\n')[0]);
      }
    }
    parentPort!.postMessage({ start, pixels, skipped }, [pixels.buffer]);
  }
  parentPort!.postMessage('done');
});
