// `gan doctor`: what gan sees on this machine, and what it would train on. It only looks: no GPU, no driver
// and no optional package is an answer, never an error.
import * as os from 'node:os';
import { BACKENDS, initBackend, probeBackends, releaseBackend, type BackendName } from './backend.js';
import { describeAdapter, dawnApi, probeCuda, probeVulkan, type AdapterReport, type CudaReport, type VulkanReport } from './gpu.js';

export interface BackendReport {
  name: BackendName;
  installed: boolean;
  usable: boolean;
  /** What it runs on (a GPU backend). */
  on?: string;
  /** A software adapter: usable only when forced. */
  software?: boolean;
  /** Why it cannot be used, and how to install it when it is missing. */
  why?: string;
  install?: string;
}

export interface DoctorReport {
  node: string;
  platform: string;
  arch: string;
  cpus: number;
  cpu: string;
  memoryGiB: number;
  /** Best first, as `gan train` considers them. */
  backends: BackendReport[];
  /** What Dawn reports, through the API it uses here (Vulkan, Metal, D3D12). */
  gpu: AdapterReport & { api: string };
  vulkan?: VulkanReport;
  cuda: CudaReport;
  /** The backend line `gan train` would print, or why it could not start. */
  train: { backend?: BackendName; line?: string; warning?: string; error?: string };
}

export async function doctor(): Promise<DoctorReport> {
  const probe = await probeBackends();
  const backends = BACKENDS.map((b): BackendReport => {
    const status = probe.available[b.name] ?? 'not installed';
    const installed = (probe.missing[b.name] ?? []).length === 0;
    const usable = status === true || (typeof status === 'object' && !status.software);
    return {
      name: b.name, installed, usable,
      ...(typeof status === 'object' ? { on: status.on, ...(status.software ? { software: true, why: 'software adapter (--backend webgpu forces it)' } : {}) } : {}),
      ...(typeof status === 'string' ? { why: status } : {}),
      ...(installed ? {} : { install: b.install }),
    };
  });
  const gpu = { api: dawnApi(), ...(probe.adapters ?? { adapters: [], messages: [], error: 'the webgpu packages are not installed' }) };
  let train: DoctorReport['train'];
  try {
    const choice = await initBackend(undefined, probe.available);
    train = { backend: choice.name, line: choice.line, ...(choice.warning ? { warning: choice.warning } : {}) };
  } catch (e) {
    train = { error: (e as Error).message };
  } finally {
    releaseBackend();
  }
  return {
    node: process.version, platform: process.platform, arch: process.arch, cpus: os.availableParallelism(), cpu: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1), backends, gpu,
    ...(process.platform === 'linux' ? { vulkan: probeVulkan() } : {}),
    cuda: probe.cuda ?? probeCuda(), train,
  };
}

const GPU_DRIVERS: Record<string, string> = {
  linux: 'its Vulkan driver (NVIDIA: the proprietary driver; AMD, Intel: mesa-vulkan-drivers) and the Vulkan loader, libvulkan1',
  darwin: 'Metal, part of macOS',
  win32: 'its vendor\'s driver (D3D12)',
};

/** The report for a person: one section per question. */
export function formatDoctor(r: DoctorReport): string {
  const lines = [`node ${r.node} on ${r.platform} ${r.arch}: ${r.cpus} cores (${r.cpu}), ${r.memoryGiB} GiB memory`, '', 'backends, best first:'];
  const width = Math.max(...r.backends.map((b) => b.name.length));
  for (const b of r.backends) {
    const state = b.usable ? `usable${b.on ? ` on ${b.on}` : ''}`
      : !b.installed ? `not installed: ${b.install}`
        : b.software ? `only a software adapter, ${b.on}: --backend ${b.name} forces it` : `installed, not usable: ${b.why}`;
    lines.push(`  ${b.name.padEnd(width)}  ${state}`);
  }
  lines.push('', `GPU adapters (Dawn, through ${r.gpu.api}):`);
  for (const a of r.gpu.adapters) {
    lines.push(`  ${describeAdapter(a)}${a.software ? ', software' : ''}${a.isFallbackAdapter ? ', fallback adapter' : ''} [${a.requests.join(', ')}]`);
  }
  if (!r.gpu.adapters.length) lines.push(`  none${r.gpu.error ? `: ${r.gpu.error}` : ''}`);
  for (const m of r.gpu.messages) lines.push(`  Dawn: ${m}`);
  if (r.vulkan) {
    lines.push(`  Vulkan loader: ${r.vulkan.loader ?? 'libvulkan.so.1 not found (Debian/Ubuntu: apt install libvulkan1)'}`);
    lines.push(`  Vulkan drivers${r.vulkan.override ? ' (from VK_ICD_FILENAMES/VK_DRIVER_FILES)' : ''}: ${r.vulkan.drivers.join(', ') || 'none installed'}`);
  }
  if (!r.gpu.adapters.some((a) => !a.software)) lines.push(`  for a GPU: ${GPU_DRIVERS[r.platform] ?? 'a GPU driver with Vulkan, Metal or D3D12'}`);
  lines.push('', 'CUDA and cuDNN (for tfjs-node-gpu: libtensorflow 2.9 needs CUDA 11.2 and cuDNN 8.1):');
  lines.push(`  NVIDIA GPUs: ${r.cuda.gpus.join(', ') || 'none found'}`);
  for (const l of r.cuda.libraries) lines.push(`  ${l.name}: ${l.path ? `${l.path}${l.version ? ` (${l.version})` : ''}` : 'not found'}`);
  if (r.cuda.usable !== true) lines.push(`  ${r.cuda.usable}`);
  lines.push('', `gan train would use: ${r.train.line ?? `nothing: ${r.train.error}`}`);
  if (r.train.warning) lines.push(`  ${r.train.warning}`);
  return lines.join('\n') + '\n';
}
