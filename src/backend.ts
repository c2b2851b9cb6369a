// Picks the fastest tfjs backend that really works here and says which and why. Every command goes through
// initBackend, and through releaseBackend when it ends.
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { GanError } from './errors.js';
import { describeAdapter, probeAdapters, probeCuda, type AdapterReport, type CudaReport } from './gpu.js';

export type BackendName = 'node-gpu' | 'webgpu' | 'node' | 'wasm' | 'cpu';

interface BackendInfo {
  name: BackendName;
  pkgs: string[]; // npm packages that provide it (cpu ships with @tensorflow/tfjs)
  label: string; // how the backend line names it
  tfName: string; // the name tfjs registers it under
  install: string;
}

/** Best first. */
export const BACKENDS: readonly BackendInfo[] = [
  { name: 'node-gpu', pkgs: ['@tensorflow/tfjs-node-gpu'], label: 'tfjs-node-gpu', tfName: 'tensorflow',
    install: 'npm install @tensorflow/tfjs-node-gpu (needs an NVIDIA GPU with CUDA 11.2 and cuDNN 8.1)' },
  { name: 'webgpu', pkgs: ['@tensorflow/tfjs-backend-webgpu', 'webgpu'], label: 'webgpu', tfName: 'webgpu',
    install: 'npm install @tensorflow/tfjs-backend-webgpu@4.22.0 webgpu@0.6.2 (and a GPU driver with Vulkan, Metal or D3D12)' },
  { name: 'node', pkgs: ['@tensorflow/tfjs-node'], label: 'tfjs-node', tfName: 'tensorflow', install: 'npm install @tensorflow/tfjs-node' },
  { name: 'wasm', pkgs: ['@tensorflow/tfjs-backend-wasm'], label: 'tfjs-backend-wasm', tfName: 'wasm', install: 'npm install @tensorflow/tfjs-backend-wasm' },
  { name: 'cpu', pkgs: [], label: 'cpu', tfName: 'cpu', install: 'it ships with @tensorflow/tfjs' },
];

/** A backend that works here, on `on` (a GPU); a software one (a CPU posing as a GPU) is only used when forced. */
export interface Usable {
  on: string;
  software?: boolean;
}

/** For each backend: usable (true, or what it runs on), or the reason it cannot be used ("not installed", ...). */
export type Availability = Partial<Record<BackendName, true | Usable | string>>;

export interface BackendChoice {
  name: BackendName;
  /** One line for the user, e.g. "backend wasm (tfjs-node-gpu not installed; webgpu: no GPU adapter)". */
  line: string;
  /** What it runs on, for a GPU backend: the adapter, or the CUDA GPU. */
  on?: string;
  /** A software adapter (forced): its figures are CPU figures. */
  software?: boolean;
  /** A second line when the choice is a poor one the user forced. */
  warning?: string;
}

export function isBackendName(s: string): s is BackendName {
  return BACKENDS.some((b) => b.name === s);
}

const onWhat = (status: true | Usable) => (status === true ? '' : ` on ${status.on}`);
const device = (status: true | Usable) => (status === true ? {} : { on: status.on, ...(status.software ? { software: true } : {}) });

/**
 * Pure selection logic: the forced backend if it is usable, else the first usable one that is not software.
 * The line says what was chosen and why each better backend was passed over.
 */
export function chooseBackend(available: Availability, forced?: string): BackendChoice {
  const statusOf = (b: BackendInfo) => available[b.name] ?? 'not installed';
  if (forced !== undefined) {
    if (!isBackendName(forced)) {
      throw new GanError(`unknown backend "${forced}": choose one of ${BACKENDS.map((b) => b.name).join(', ')}`);
    }
    const info = BACKENDS.find((b) => b.name === forced)!;
    const status = statusOf(info);
    if (typeof status === 'string') throw new GanError(`backend ${forced} is not available (${status}): ${info.install}`);
    const software = status !== true && status.software;
    return {
      name: forced,
      line: `backend ${forced}${onWhat(status)} (forced with --backend)`,
      ...device(status),
      ...(software ? { warning: `warning: ${status.on} is a software adapter: it computes on the CPU, far slower than --backend wasm` } : {}),
    };
  }
  const skipped: string[] = [];
  for (const b of BACKENDS) {
    const status = statusOf(b);
    if (status === true || (typeof status === 'object' && !status.software)) {
      return { name: b.name, line: `backend ${b.name}${onWhat(status)}` + (skipped.length ? ` (${skipped.join('; ')})` : ''), ...device(status) };
    }
    skipped.push(typeof status === 'object' ? `${b.label}: only a software adapter, ${status.on} (--backend ${b.name} forces it)`
      : status === 'not installed' ? `${b.label} not installed` : `${b.label}: ${status}`);
  }
  throw new GanError(`no tfjs backend is available (${skipped.join('; ')})`);
}

const require = createRequire(import.meta.url);

function installed(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

/** node-gpu's status from what CUDA and cuDNN libraries and GPUs were found. */
export function cudaStatus(cuda: CudaReport): true | Usable | string {
  if (cuda.usable !== true) return cuda.usable;
  const version = (lib: string) => cuda.libraries.find((l) => l.name.startsWith(lib))?.version;
  const versions = [['CUDA', version('libcudart')], ['cuDNN', version('libcudnn')]].filter(([, v]) => v).map(([n, v]) => `${n} ${v}`);
  const gpus = cuda.gpus.join(', ') || 'an NVIDIA GPU';
  return { on: versions.length ? `${gpus} (${versions.join(', ')})` : gpus };
}

/** webgpu's status from the adapters Dawn reported: the high-performance one is what tfjs asks for. */
export function adapterStatus(report: AdapterReport): Usable | string {
  const adapter = report.adapters.find((a) => a.requests.includes('high-performance')) ?? report.adapters[0];
  if (adapter) return { on: describeAdapter(adapter), ...(adapter.software ? { software: true } : {}) };
  const why = report.error ?? report.messages[0];
  return `no GPU adapter${why ? ` (Dawn: ${why})` : ''}`;
}

/** What was looked at: each backend's status, the packages it lacks, and the GPU reports behind them. */
export interface Probe {
  available: Availability;
  missing: Partial<Record<BackendName, string[]>>;
  cuda?: CudaReport;
  adapters?: AdapterReport;
}

/**
 * What works here. Packages are only found, not loaded (loading one registers it); the CUDA libraries and
 * the GPU adapters are looked for (src/gpu.ts). With `only`, just that backend is looked at.
 */
export async function probeBackends(only?: BackendName): Promise<Probe> {
  const probe: Probe = { available: {}, missing: {} };
  for (const b of BACKENDS) {
    if (only && b.name !== only) continue;
    const missing = (probe.missing[b.name] = b.pkgs.filter((p) => !installed(p)));
    if (missing.length) probe.available[b.name] = missing.length === b.pkgs.length ? 'not installed' : `npm package ${missing.join(', ')} not installed`;
    else if (b.name === 'node-gpu') probe.available[b.name] = cudaStatus((probe.cuda = probeCuda()));
    else if (b.name === 'webgpu') probe.available[b.name] = adapterStatus((probe.adapters = await probeAdapters()));
    else probe.available[b.name] = true;
  }
  return probe;
}

/** tfjs-backend-webgpu registers itself on import only where navigator.gpu exists: Node has none (20) or one
 * without gpu (21+), so Dawn's is put there first, with the WebGPU constants (GPUBufferUsage, ...) as globals. */
async function provideNavigatorGpu(): Promise<void> {
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (g.navigator?.gpu) return;
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true, writable: true });
  Object.defineProperty(g.navigator, 'gpu', { value: create([]), configurable: true, writable: true });
}

async function load(info: BackendInfo): Promise<void> {
  if (info.name === 'webgpu') await provideNavigatorGpu();
  for (const pkg of info.pkgs) await import(pkg);
  const kernels = await import('./kernels/index.js');
  if (info.name === 'wasm') kernels.registerWasmKernels();
  if (info.name === 'webgpu') kernels.registerWebGpuKernels();
  if (!(await tf.setBackend(info.tfName))) throw new Error(`tf.setBackend('${info.tfName}') failed`);
}

/**
 * Loads the chosen backend; one that is found but fails to load is reported and the next one is tried,
 * unless it was forced.
 */
export async function initBackend(forced?: string, available?: Availability): Promise<BackendChoice> {
  tf.env().set('PROD', true); // no "install tfjs-node" banner, no debug checks in the hot loop
  available ??= (await probeBackends(forced !== undefined && isBackendName(forced) ? forced : undefined)).available;
  for (;;) {
    const choice = chooseBackend(available, forced);
    try {
      await load(BACKENDS.find((b) => b.name === choice.name)!);
      return choice;
    } catch (e) {
      const why = `failed to load: ${(e as Error).message.split('\n')[0]}`;
      if (forced !== undefined) throw new GanError(`backend ${forced} ${why}`);
      available = { ...available, [choice.name]: why };
    }
  }
}

/**
 * The end of a command: on webgpu, the backend's buffers are freed and its GPU device destroyed, so nothing
 * of the GPU outlives the command (webgpu's README: Node may otherwise not exit while a device is held).
 */
export function releaseBackend(): void {
  if (tf.engine().backendName !== 'webgpu') return;
  const device = (tf.engine().backend as unknown as { device: GPUDevice }).device;
  const factory = tf.findBackendFactory('webgpu')!;
  tf.removeBackend('webgpu'); // frees its buffers, and forgets its factory:
  tf.registerBackend('webgpu', factory, 3); // the package registers it only when first imported (priority 3, as it does)
  device.destroy();
}
