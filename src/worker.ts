// A training thread (see parallel.ts): a replica of the GAN on its own wasm instance, training on its slice
// of every batch it is sent, in step with the main thread through the shared sums. An error, at start or in
// a step, is recorded for the other threads (the main thread throws it) and ends this thread.
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from './backend.js';
import { createGan, restoreGan, type Gan } from './gan.js';
import { fail, summer, trainOn, type StepInputs, type WorkerInit } from './parallel.js';

const init = workerData as WorkerInit;

// GAN_THREAD_FAULT=<rank>:start or <rank>:<step> makes this thread fail there: the tests check what a failing
// thread does to the run this way, as they simulate a full disk at the write function.
const fault = process.env.GAN_THREAD_FAULT?.split(':');
const faultAt = (where: string | number) => {
  if (fault?.[0] === String(init.rank) && fault[1] === String(where)) throw new Error(`training thread ${init.rank} failed at ${where} (GAN_THREAD_FAULT)`);
};

function failed(e: unknown): never {
  fail(init.shared, e);
  process.exit(1); // ends this thread
}

let gan: Gan;
try {
  faultAt('start');
  await initBackend(init.backend);
  gan = init.checkpoint ? await restoreGan(init.config, init.checkpoint) : createGan(init.config);
} catch (e) {
  failed(e);
}
const across = summer(init.shared, init.rank);

let step = 0;
parentPort!.on('message', (inputs: StepInputs) => {
  Promise.resolve(++step).then(faultAt).then(() => trainOn(gan, inputs, across)).catch(failed);
});
parentPort!.postMessage('ready');
