import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseBackend } from '../src/backend.js';
import { GanError } from '../src/errors.js';

test('automatic choice takes the best backend present and says why', () => {
  const all = { 'node-gpu': true, node: true, wasm: true, cpu: true } as const;
  assert.equal(chooseBackend(all).name, 'node-gpu');
  assert.equal(chooseBackend(all).line, 'backend node-gpu');
  const noNative = { 'node-gpu': 'not installed', node: 'not installed', wasm: true, cpu: true } as const;
  assert.deepEqual(chooseBackend(noNative), { name: 'wasm', line: 'backend wasm (tfjs-node-gpu not installed, tfjs-node not installed)' });
  assert.equal(chooseBackend({ 'node-gpu': 'failed to load: libcudart.so.11.0', node: true, wasm: true }).name, 'node');
  assert.match(chooseBackend({ 'node-gpu': 'failed to load: libcudart.so.11.0', node: true }).line, /libcudart/);
  assert.equal(chooseBackend({ cpu: true }).name, 'cpu');
});

test('a forced backend is used when present, and refused with an install hint when not', () => {
  assert.equal(chooseBackend({ wasm: true, cpu: true }, 'cpu').name, 'cpu');
  assert.match(chooseBackend({ wasm: true, cpu: true }, 'cpu').line, /forced/);
  assert.throws(() => chooseBackend({ wasm: true, cpu: true }, 'node-gpu'), (e: unknown) =>
    e instanceof GanError && e.exitCode === 2 && /npm install @tensorflow\/tfjs-node-gpu/.test(e.message) && /CUDA 11\.2/.test(e.message));
  assert.throws(() => chooseBackend({ wasm: true }, 'tpu'), (e: unknown) => e instanceof GanError && /unknown backend "tpu"/.test(e.message));
});

test('no backend at all is an error, not a crash', () => {
  assert.throws(() => chooseBackend({}), GanError);
});
