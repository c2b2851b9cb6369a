// A training thread (see parallel.ts): a replica of the GAN on its own wasm instance, training on its slice
// of every batch it is sent, in step with the main thread through allReduce.
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from './backend.js';
import { allReducer, fail, type StepInputs, type WorkerInit } from './parallel.js';
import { createGan, restoreGan } from './gan.js';
import { trainOn } from './train.js';

const init = workerData as WorkerInit;
await initBackend(init.backend);
const gan = init.checkpoint ? await restoreGan(init.config, init.checkpoint) : createGan(init.config);
const allReduce = allReducer(init.shared, init.rank);

parentPort!.on('message', (inputs: StepInputs) => {
  try {
    trainOn(gan, inputs, init.config, allReduce);
  } catch (e) {
    fail(init.shared);
    throw e;
  }
});
parentPort!.postMessage('ready');
