// What GPUs this machine offers gan: the adapters Dawn (the `webgpu` package) reports, and whether the CUDA
// and cuDNN libraries that tfjs-node-gpu's libtensorflow 2.9 loads are there. Dawn is asked in a child process:
// a machine without a driver costs a message (Dawn prints its warnings straight to stderr), a broken driver
// cannot take the command down with it, and nothing of Dawn stays loaded in a command that does not use it.
import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The requests a GPU adapter is looked for with, as WebGPU's requestAdapter options. */
const REQUESTS = {
  'high-performance': { powerPreference: 'high-performance' },
  'low-power': { powerPreference: 'low-power' },
  fallback: { forceFallbackAdapter: true },
} as const;
export type AdapterRequest = keyof typeof REQUESTS;

export interface Adapter {
  /** The requests that returned it. */
  requests: AdapterRequest[];
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
  /** The API Dawn drives it through: Vulkan, Metal or D3D12. */
  api: string;
  /** A CPU implementation (SwiftShader, llvmpipe/lavapipe, WARP): correct, and far slower than our wasm kernels. */
  software: boolean;
}

export interface AdapterReport {
  adapters: Adapter[];
  /** Dawn's warnings, one line each: why there is no adapter when there is none. */
  messages: string[];
  /** Why Dawn could not be asked at all. */
  error?: string;
}

// Dawn's Node binding drives one API per platform unless DAWNNODE_BACKEND says otherwise (its GPU.cpp).
const DAWN_API: Record<string, string> = { linux: 'Vulkan', darwin: 'Metal', win32: 'D3D12' };
const API_NAMES: Record<string, string> = { vulkan: 'Vulkan', vk: 'Vulkan', metal: 'Metal', d3d12: 'D3D12', d3d: 'D3D12',
  d3d11: 'D3D11', opengl: 'OpenGL', gl: 'OpenGL', opengles: 'OpenGL ES', gles: 'OpenGL ES', null: 'null' };

export function dawnApi(env = process.env, platform = process.platform): string {
  const forced = env.DAWNNODE_BACKEND?.toLowerCase();
  return (forced && API_NAMES[forced]) || DAWN_API[platform] || platform;
}

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render/i;

/** Whether an adapter's info (read field by field: they are getters) names a CPU implementation. */
export function isSoftware(info: Pick<Adapter, 'vendor' | 'architecture' | 'device' | 'description' | 'isFallbackAdapter'>): boolean {
  return info.isFallbackAdapter || SOFTWARE.test([info.vendor, info.architecture, info.device, info.description].join(' '));
}

/** One line for an adapter: "NVIDIA GeForce RTX 4090 (nvidia, Vulkan)". */
export function describeAdapter(a: Adapter): string {
  const name = [a.device, a.description].filter((s, i, all) => s && all.indexOf(s) === i).join(', ') || 'unnamed adapter';
  return `${name} (${[a.vendor, a.architecture].filter(Boolean).join(' ') || 'unknown vendor'}, ${a.api})`;
}

/** The first line of each of Dawn's warnings on stderr, without the source locations. */
function dawnMessages(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('Warning: ')).map((l) => l.slice('Warning: '.length).trim())
    .filter((l, i, all) => all.indexOf(l) === i);
}

const HERE = fileURLToPath(import.meta.url);

/** Asks Dawn, in a child process, for an adapter with each request; never throws. */
export function probeAdapters(timeoutMs = 30_000): Promise<AdapterReport> {
  return new Promise((resolve) => {
    execFile(process.execPath, [HERE], { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      const messages = dawnMessages(stderr);
      const last = stdout.trim().split('\n').at(-1) ?? '';
      if (!err && last.startsWith('{')) {
        const r = JSON.parse(last) as { adapters: Adapter[]; error?: string };
        return resolve({ adapters: r.adapters, messages, ...(r.error ? { error: r.error } : {}) });
      }
      const why = err?.killed ? `Dawn did not answer within ${timeoutMs / 1000} s`
        : `the adapter probe failed (${err?.signal ?? `exit ${err?.code}`}): ${(stderr.trim().split('\n').at(-1) ?? '') || 'no message'}`;
      resolve({ adapters: [], messages, error: why });
    });
  });
}

/** The child's side: create a Dawn instance, ask it with each request, print one JSON line. */
async function listAdapters(): Promise<{ adapters: Adapter[]; error?: string }> {
  let webgpu: typeof import('webgpu');
  try {
    webgpu = await import('webgpu');
  } catch (e) {
    return { adapters: [], error: `the webgpu package does not load here: ${(e as Error).message.split('\n')[0]}` };
  }
  const gpu = webgpu.create([]);
  const found = new Map<string, Adapter>();
  for (const [request, options] of Object.entries(REQUESTS) as [AdapterRequest, GPURequestAdapterOptions][]) {
    const adapter = await gpu.requestAdapter(options);
    if (!adapter) continue;
    const i = adapter.info;
    const fields = { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description,
      isFallbackAdapter: (i as { isFallbackAdapter?: boolean }).isFallbackAdapter === true };
    const key = JSON.stringify(fields);
    const known = found.get(key);
    if (known) known.requests.push(request);
    else found.set(key, { requests: [request], ...fields, api: dawnApi(), software: isSoftware(fields) });
  }
  return { adapters: [...found.values()] };
}

if (process.argv[1] && path.resolve(process.argv[1]) === HERE) {
  process.stdout.write(JSON.stringify(await listAdapters()) + '\n');
}

/** Linux: the Vulkan loader and the drivers (ICD manifests) it would load, for the doctor to show. */
export interface VulkanReport {
  loader?: string;
  drivers: string[];
  /** VK_ICD_FILENAMES or VK_DRIVER_FILES, which replace the search when set. */
  override?: string;
}

const ICD_DIRS = ['/usr/local/share/vulkan/icd.d', '/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d'];

export function probeVulkan(env = process.env): VulkanReport {
  const loader = findLibraries(['libvulkan.so.1'], 'linux', env).get('libvulkan.so.1');
  const override = env.VK_DRIVER_FILES || env.VK_ICD_FILENAMES;
  const drivers = override ? override.split(':').filter(Boolean)
    : ICD_DIRS.filter((d) => fs.existsSync(d)).flatMap((d) => fs.readdirSync(d).filter((f) => f.endsWith('.json')).map((f) => path.join(d, f)));
  return { ...(loader ? { loader } : {}), drivers, ...(override ? { override } : {}) };
}

// ---- CUDA, for tfjs-node-gpu --------------------------------------------------------------------------

/** The libraries libtensorflow 2.9.1 (tfjs-node-gpu 4.22) opens, built against CUDA 11.2 and cuDNN 8.1: when
 * any is missing it logs a warning and runs on the CPU, so they are looked for before it is chosen. */
const CUDA_LIBRARIES: Record<string, { what: string; names: string[] }> = {
  linux: { what: 'CUDA 11 and cuDNN 8', names: ['libcuda.so.1', 'libcudart.so.11.0', 'libcublas.so.11', 'libcublasLt.so.11', 'libcufft.so.10',
    'libcurand.so.10', 'libcusolver.so.11', 'libcusparse.so.11', 'libcudnn.so.8'] },
  win32: { what: 'CUDA 11 and cuDNN 8', names: ['nvcuda.dll', 'cudart64_110.dll', 'cublas64_11.dll', 'cublasLt64_11.dll', 'cufft64_10.dll',
    'curand64_10.dll', 'cusolver64_11.dll', 'cusparse64_11.dll', 'cudnn64_8.dll'] },
};

export interface CudaLibrary {
  name: string;
  /** Where the dynamic loader finds it; absent when it does not. */
  path?: string;
  /** From the file the name links to (libcudnn.so.8 -> libcudnn.so.8.9.7: 8.9.7), where it says. */
  version?: string;
}

export interface CudaReport {
  /** The NVIDIA GPUs the kernel driver lists (Linux: /proc/driver/nvidia/gpus). */
  gpus: string[];
  libraries: CudaLibrary[];
  /** true, or why tfjs-node-gpu would not train on the GPU here. */
  usable: true | string;
}

/** Where the dynamic loader finds each of `names`: LD_LIBRARY_PATH, then its cache (Linux); PATH and System32
 * (Windows). */
export function findLibraries(names: string[], platform = process.platform, env = process.env): Map<string, string> {
  const found = new Map<string, string>();
  const dirs = (platform === 'win32' ? env.PATH ?? env.Path ?? '' : env.LD_LIBRARY_PATH ?? '').split(path.delimiter).filter(Boolean);
  if (platform === 'win32') dirs.push(path.join(env.SystemRoot ?? 'C:\\Windows', 'System32'));
  for (const name of names) {
    const dir = dirs.find((d) => fs.existsSync(path.join(d, name)));
    if (dir) found.set(name, path.join(dir, name));
  }
  if (platform === 'linux') {
    const cache = ['/sbin/ldconfig', '/usr/sbin/ldconfig'].map((l) => spawnSync(l, ['-p'], { encoding: 'utf8' })).find((r) => r.status === 0);
    for (const m of cache?.stdout.matchAll(/^\s*(\S+) \(([^)]*)\) => (\S+)$/gm) ?? []) {
      if (names.includes(m[1]) && !found.has(m[1]) && (process.arch !== 'x64' || m[2].includes('x86-64'))) found.set(m[1], m[3]);
    }
  }
  return found;
}

function versionOf(file: string): string | undefined {
  try {
    return /\.so\.(\d+(?:\.\d+)+)$/.exec(fs.realpathSync(file))?.[1];
  } catch {
    return undefined;
  }
}

function nvidiaGpus(): string[] {
  const dir = '/proc/driver/nvidia/gpus';
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).map((bus) => {
    const info = fs.readFileSync(path.join(dir, bus, 'information'), 'utf8');
    return /^Model:\s*(.+)$/m.exec(info)?.[1].trim() ?? bus;
  });
}

/** Whether tfjs-node-gpu's libtensorflow would find CUDA 11, cuDNN 8 and a GPU here. */
export function probeCuda(platform = process.platform, env = process.env): CudaReport {
  const wanted = CUDA_LIBRARIES[platform];
  if (!wanted) return { gpus: [], libraries: [], usable: `tfjs-node-gpu has no CUDA build for ${platform}` };
  const paths = findLibraries(wanted.names, platform, env);
  const libraries = wanted.names.map((name) => {
    const file = paths.get(name);
    const version = file && versionOf(file);
    return { name, ...(file ? { path: file } : {}), ...(version ? { version } : {}) };
  });
  const gpus = platform === 'linux' ? nvidiaGpus() : [];
  const missing = libraries.filter((l) => !l.path).map((l) => l.name);
  const cudnn = libraries.find((l) => l.name.includes('cudnn'))?.version;
  const list = missing.length <= 3 ? missing.join(', ') : `${missing.slice(0, 2).join(', ')} and ${missing.length - 2} more`;
  let usable: true | string = true;
  if (missing.includes(wanted.names[0])) usable = `no NVIDIA driver (${wanted.names[0]} not found)`;
  else if (missing.length) usable = `${list} not found (libtensorflow 2.9 needs ${wanted.what})`;
  else if (platform === 'linux' && gpus.length === 0) usable = 'no NVIDIA GPU (/proc/driver/nvidia/gpus lists none)';
  else if (cudnn && compareVersions(cudnn, '8.1') < 0) usable = `cuDNN ${cudnn} is older than the 8.1 libtensorflow 2.9 was built with`;
  return { gpus, libraries, usable };
}

function compareVersions(a: string, b: string): number {
  const [x, y] = [a, b].map((v) => v.split('.').map(Number));
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d) return d;
  }
  return 0;
}
