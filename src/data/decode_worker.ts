// A preprocessing thread: decodes the chunks of files it is sent (see decodeAll in preprocess.ts) and sends
// back one buffer with every file's pixels, in order, and the reasons of those it skipped.
import { parentPort, workerData } from 'node:worker_threads';
import type { CropMode } from './cache.js';
import { decodeImage } from './decode.js';

const { res, crop } = workerData as { res: number; crop: CropMode };
const size = res * res * 3;

parentPort!.on('message', async ({ start, files }: { start: number; files: string[] }) => {
  const pixels = new Uint8Array(files.length * size);
  const skipped: (string | null)[] = [];
  for (const [k, file] of files.entries()) {
    try {
      pixels.set(await decodeImage(file, res, crop), k * size);
      skipped.push(null);
    } catch (e) {
      skipped.push((e as Error).message.split('\n')[0]);
    }
  }
  parentPort!.postMessage({ start, pixels, skipped }, [pixels.buffer]);
});
