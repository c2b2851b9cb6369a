// A training thread (see parallel.ts): a replica of the GAN on its own wasm instance, training on its slice
// of every batch it is sent, in step with the main thread through the shared sums.
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from './backend.js';
import { createGan, restoreGan } from './gan.js';
import { fail, summer, trainOn, type StepInputs, type WorkerInit } from './parallel.js';

const init = workerData as WorkerInit;
await initBackend(init.backend);
const gan = init.checkpoint ? await restoreGan(init.config, init.checkpoint) : createGan(init.config);
const across = summer(init.shared, init.rank);

parentPort!.on('message', (inputs: StepInputs) => {
  trainOn(gan, inputs, across).catch((e: unknown) => {
    fail(init.shared);
    throw e;
  });
});
parentPort!.postMessage('ready');
