// A preprocessing thread: decodes the chunks of files it is sent (see decodeAll in preprocess.ts) and sends
// back, for each file, its pixels or the reason it was skipped.
import { parentPort, workerData } from 'node:worker_threads';
import type { CropMode } from './cache.js';
import { decodeImage } from './decode.js';

const { res, crop } = workerData as { res: number; crop: CropMode };

parentPort!.on('message', async ({ start, files }: { start: number; files: string[] }) => {
  const results: (Uint8Array | string)[] = [];
  for (const file of files) {
    try {
      results.push(await decodeImage(file, res, crop));
    } catch (e) {
      results.push((e as Error).message.split('\n')[0]);
    }
  }
  const buffers = results.filter((r): r is Uint8Array => typeof r !== 'string').map((r) => r.buffer as ArrayBuffer);
  parentPort!.postMessage({ start, results }, buffers);
});
