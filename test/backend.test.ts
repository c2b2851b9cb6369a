import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { adapterStatus, chooseBackend, cudaStatus } from '../src/backend.js';
import { GanError } from '../src/errors.js';
import { describeAdapter, isSoftware, probeCuda, type Adapter } from '../src/gpu.js';
import { tempDir } from './fixtures.js';

test('automatic choice takes the best backend present and says why', () => {
  const all = { 'node-gpu': true, webgpu: true, node: true, wasm: true, cpu: true } as const;
  assert.equal(chooseBackend(all).name, 'node-gpu');
  assert.equal(chooseBackend(all).line, 'backend node-gpu');
  const noNative = { 'node-gpu': 'not installed', node: 'not installed', wasm: true, cpu: true } as const;
  assert.deepEqual(chooseBackend(noNative), { name: 'wasm', line: 'backend wasm (tfjs-node-gpu not installed; webgpu not installed; tfjs-node not installed)' });
  assert.equal(chooseBackend({ 'node-gpu': 'failed to load: libcudart.so.11.0', node: true, wasm: true }).name, 'node');
  assert.match(chooseBackend({ 'node-gpu': 'failed to load: libcudart.so.11.0', node: true }).line, /libcudart/);
  assert.equal(chooseBackend({ cpu: true }).name, 'cpu');
});

const NVIDIA: Adapter = { requests: ['high-performance'], vendor: 'nvidia', architecture: 'ampere', device: 'NVIDIA GeForce RTX 3090',
  description: 'NVIDIA: 550.54.15', isFallbackAdapter: false, api: 'Vulkan', software: false };
const SWIFTSHADER: Adapter = { requests: ['high-performance', 'low-power', 'fallback'], vendor: 'google', architecture: 'swiftshader',
  device: 'swiftshader-device-subzero-', description: 'SwiftShader driver 5.0.0', isFallbackAdapter: true, api: 'Vulkan', software: true };

test('webgpu on a hardware adapter comes after usable CUDA and before everything else, naming the adapter', () => {
  const gpu = adapterStatus({ adapters: [NVIDIA], messages: [] });
  assert.deepEqual(gpu, { on: 'NVIDIA GeForce RTX 3090, NVIDIA: 550.54.15 (nvidia ampere, Vulkan)' });
  const choice = chooseBackend({ 'node-gpu': 'libcudnn.so.8 not found (libtensorflow 2.9 needs CUDA 11 and cuDNN 8)', webgpu: gpu, node: true, wasm: true });
  assert.equal(choice.name, 'webgpu');
  assert.equal(choice.line, 'backend webgpu on NVIDIA GeForce RTX 3090, NVIDIA: 550.54.15 (nvidia ampere, Vulkan) ' +
    '(tfjs-node-gpu: libcudnn.so.8 not found (libtensorflow 2.9 needs CUDA 11 and cuDNN 8))');
  assert.equal(choice.warning, undefined);
  assert.equal(chooseBackend({ 'node-gpu': { on: 'NVIDIA A100 (CUDA 11.8.89, cuDNN 8.9.7)' }, webgpu: gpu, wasm: true }).name, 'node-gpu');
});

test('a software adapter is never chosen by itself; forced, it works with a one-line warning', () => {
  const soft = adapterStatus({ adapters: [SWIFTSHADER], messages: [] });
  assert.equal(typeof soft === 'object' && soft.software, true);
  const auto = chooseBackend({ 'node-gpu': 'not installed', webgpu: soft, node: 'not installed', wasm: true });
  assert.equal(auto.name, 'wasm');
  assert.match(auto.line, /webgpu: only a software adapter, swiftshader-device-subzero-, SwiftShader driver 5\.0\.0 \(google swiftshader, Vulkan\) \(--backend webgpu forces it\)/);
  const forced = chooseBackend({ webgpu: soft, wasm: true }, 'webgpu');
  assert.equal(forced.name, 'webgpu');
  assert.match(forced.line, /^backend webgpu on swiftshader.* \(forced with --backend\)$/);
  assert.match(forced.warning!, /^warning: .*SwiftShader.* software adapter: it computes on the CPU/);
  assert.equal(forced.warning!.includes('\n'), false);
});

test('no adapter is a reason, in Dawn\'s words; forcing webgpu then is refused with the install hint', () => {
  const none = adapterStatus({ adapters: [], messages: ['Couldn\'t load Vulkan: libvulkan.so.1: cannot open shared object file: No such file or directory'] });
  assert.equal(none, 'no GPU adapter (Dawn: Couldn\'t load Vulkan: libvulkan.so.1: cannot open shared object file: No such file or directory)');
  assert.match(chooseBackend({ webgpu: none, wasm: true }).line, /^backend wasm \(.*webgpu: no GPU adapter \(Dawn: Couldn't load Vulkan/);
  assert.throws(() => chooseBackend({ webgpu: none, wasm: true }, 'webgpu'), (e: unknown) =>
    e instanceof GanError && /backend webgpu is not available \(no GPU adapter/.test(e.message) && /npm install @tensorflow\/tfjs-backend-webgpu@4\.22\.0 webgpu@0\.6\.2/.test(e.message));
  assert.equal(adapterStatus({ adapters: [], messages: [] }), 'no GPU adapter');
});

test('software adapters are told by their info fields', () => {
  const info = (vendor: string, architecture: string, device: string, description: string, isFallbackAdapter = false) =>
    ({ vendor, architecture, device, description, isFallbackAdapter });
  assert.equal(isSoftware(info('google', 'swiftshader', 'swiftshader-device-subzero-', 'SwiftShader driver 5.0.0', true)), true);
  assert.equal(isSoftware(info('mesa', '', 'llvmpipe (LLVM 15.0.6, 256 bits)', 'Mesa 22.3.6')), true);
  assert.equal(isSoftware(info('', '', 'Microsoft Basic Render Driver', '')), true);
  assert.equal(isSoftware(info('', '', 'unknown', '', true)), true);
  assert.equal(isSoftware(info('nvidia', 'ampere', 'NVIDIA GeForce RTX 3090', 'NVIDIA: 550.54.15')), false);
  assert.equal(isSoftware(info('apple', 'metal-3', 'Apple M2', '')), false);
  assert.equal(describeAdapter({ ...NVIDIA, device: '', description: '', vendor: '', architecture: '' }), 'unnamed adapter (unknown vendor, Vulkan)');
});

test('CUDA for tfjs-node-gpu: every library libtensorflow 2.9 opens, their versions, and a GPU', () => {
  const dir = tempDir();
  const libs = ['libcuda.so.1', 'libcudart.so.11.0', 'libcublas.so.11', 'libcublasLt.so.11', 'libcufft.so.10', 'libcurand.so.10',
    'libcusolver.so.11', 'libcusparse.so.11'];
  fs.writeFileSync(path.join(dir, 'libcudart.so.11.8.89'), '');
  for (const l of libs) if (l !== 'libcudart.so.11.0') fs.writeFileSync(path.join(dir, l), '');
  fs.symlinkSync('libcudart.so.11.8.89', path.join(dir, 'libcudart.so.11.0'));
  const noCudnn = probeCuda('linux', { LD_LIBRARY_PATH: dir });
  assert.equal(noCudnn.libraries.find((l) => l.name === 'libcudart.so.11.0')?.version, '11.8.89');
  assert.equal(noCudnn.libraries.find((l) => l.name === 'libcudart.so.11.0')?.path, path.join(dir, 'libcudart.so.11.0'));
  if (!noCudnn.libraries.find((l) => l.name === 'libcudnn.so.8')!.path) { // unless this machine's loader has one
    assert.equal(noCudnn.usable, 'libcudnn.so.8 not found (libtensorflow 2.9 needs CUDA 11 and cuDNN 8)');
    assert.match(String(cudaStatus(noCudnn)), /libcudnn\.so\.8 not found/);
  }
  fs.writeFileSync(path.join(dir, 'libcudnn.so.8.0.5'), '');
  fs.symlinkSync('libcudnn.so.8.0.5', path.join(dir, 'libcudnn.so.8'));
  const all = probeCuda('linux', { LD_LIBRARY_PATH: dir });
  assert.equal(all.libraries.every((l) => l.path), true);
  if (all.gpus.length === 0) assert.equal(all.usable, 'no NVIDIA GPU (/proc/driver/nvidia/gpus lists none)');
  else assert.equal(all.usable, 'cuDNN 8.0.5 is older than the 8.1 libtensorflow 2.9 was built with');
  assert.deepEqual(cudaStatus({ gpus: ['NVIDIA A100-SXM4-80GB'], libraries: [{ name: 'libcudart.so.11.0', version: '11.8.89' },
    { name: 'libcudnn.so.8', version: '8.9.7' }], usable: true }), { on: 'NVIDIA A100-SXM4-80GB (CUDA 11.8.89, cuDNN 8.9.7)' });
  assert.match(String(probeCuda('darwin', {}).usable), /no CUDA build for darwin/);
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
