// A preprocessing thread besides the main one (see Decoders in preprocess.ts): decodes chunks of files
// (decodeChunks) and posts each back. It stays until it is terminated, so that it never ends before its last
// message is read.
import { parentPort, workerData } from 'node:worker_threads';
import type { CropMode } from './cache.js';
import { decodeChunks, waitFor, type Counter } from './decode.js';

const { res, crop } = workerData as { res: number; crop: CropMode };

parentPort!.on('message', async ({ files, counter, chunk }: { files: string[]; counter: Counter; chunk: number }) => {
  await decodeChunks(files, counter, chunk, res, crop, (c) => parentPort!.postMessage(c, [c.pixels.buffer, c.stats.buffer]), waitFor(counter));
  parentPort!.postMessage('done');
});
