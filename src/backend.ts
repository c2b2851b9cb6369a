// Picks the fastest tfjs backend present and says which and why. Every command goes through initBackend.
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { GanError } from './errors.js';

export type BackendName = 'node-gpu' | 'node' | 'wasm' | 'cpu';

interface BackendInfo {
  name: BackendName;
  pkg?: string; // npm package that provides it (cpu ships with @tensorflow/tfjs)
  tfName: string; // the name tfjs registers it under
  install: string;
}

/** Best first. */
export const BACKENDS: readonly BackendInfo[] = [
  { name: 'node-gpu', pkg: '@tensorflow/tfjs-node-gpu', tfName: 'tensorflow',
    install: 'npm install @tensorflow/tfjs-node-gpu (needs an NVIDIA GPU with CUDA 11.2 and cuDNN 8.1)' },
  { name: 'node', pkg: '@tensorflow/tfjs-node', tfName: 'tensorflow', install: 'npm install @tensorflow/tfjs-node' },
  { name: 'wasm', pkg: '@tensorflow/tfjs-backend-wasm', tfName: 'wasm', install: 'npm install @tensorflow/tfjs-backend-wasm' },
  { name: 'cpu', tfName: 'cpu', install: 'it ships with @tensorflow/tfjs' },
];

/** For each backend, true when it can be used, or the reason it cannot ("not installed", a load error). */
export type Availability = Partial<Record<BackendName, true | string>>;

export interface BackendChoice {
  name: BackendName;
  /** One line for the user, e.g. "backend wasm (tfjs-node-gpu not installed, tfjs-node not installed)". */
  line: string;
}

export function isBackendName(s: string): s is BackendName {
  return BACKENDS.some((b) => b.name === s);
}

/** Pure selection logic: the forced backend if it is available, else the first available one. */
export function chooseBackend(available: Availability, forced?: string): BackendChoice {
  if (forced !== undefined) {
    if (!isBackendName(forced)) {
      throw new GanError(`unknown backend "${forced}": choose one of ${BACKENDS.map((b) => b.name).join(', ')}`);
    }
    const info = BACKENDS.find((b) => b.name === forced)!;
    const status = available[forced] ?? 'not installed';
    if (status !== true) throw new GanError(`backend ${forced} is not available (${status}): ${info.install}`);
    return { name: forced, line: `backend ${forced} (forced with --backend)` };
  }
  const skipped: string[] = [];
  for (const b of BACKENDS) {
    const status = available[b.name] ?? 'not installed';
    if (status === true) {
      return { name: b.name, line: `backend ${b.name}` + (skipped.length ? ` (${skipped.join(', ')})` : '') };
    }
    skipped.push(`${b.pkg?.replace('@tensorflow/', '') ?? b.name} ${status}`);
  }
  throw new GanError(`no tfjs backend is available (${skipped.join(', ')})`);
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

/** What is installed here; native packages are only found, not loaded (loading one registers it). */
export function probeBackends(): Availability {
  const available: Availability = {};
  for (const b of BACKENDS) available[b.name] = !b.pkg || installed(b.pkg) ? true : 'not installed';
  return available;
}

async function load(info: BackendInfo): Promise<void> {
  if (info.pkg) await import(info.pkg);
  if (info.name === 'wasm') (await import('./kernels/index.js')).registerWasmKernels();
  if (!(await tf.setBackend(info.tfName))) throw new Error(`tf.setBackend('${info.tfName}') failed`);
}

/**
 * Loads the chosen backend; a native one that is installed but fails to load (no libtensorflow, no CUDA)
 * is reported and the next one is tried, unless it was forced.
 */
export async function initBackend(forced?: string, available: Availability = probeBackends()): Promise<BackendChoice> {
  tf.env().set('PROD', true); // no "install tfjs-node" banner, no debug checks in the hot loop
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
