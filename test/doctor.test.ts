// `gan doctor` on a machine without a GPU: every backend named with its status, and never a failure.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { BACKENDS } from '../src/backend.js';
import type { DoctorReport } from '../src/doctor.js';
import { tempDir } from './fixtures.js';
import { BIN } from './helpers.js';
import { SWIFTSHADER_ENV, SWIFTSHADER_ICD } from './swiftshader.js';

function doctor(args: string[], env: Record<string, string>) {
  const r = spawnSync(process.execPath, [BIN, 'doctor', ...args], { cwd: tempDir(), encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });
  assert.equal(r.status, 0, `gan doctor ${args.join(' ')} exited ${r.status} (${r.signal ?? ''}): ${r.stderr}`);
  return r;
}

test('gan doctor --json with no Vulkan driver names every backend, why it cannot be used, and what train would use', () => {
  const r = JSON.parse(doctor(['--json'], { VK_ICD_FILENAMES: '/nonexistent/icd.json' }).stdout) as DoctorReport;
  assert.equal(r.node, process.version);
  assert.ok(r.cpus >= 1 && r.memoryGiB > 0);
  assert.deepEqual(r.backends.map((b) => b.name), BACKENDS.map((b) => b.name));
  for (const b of r.backends) {
    assert.equal(typeof b.installed, 'boolean');
    assert.equal(typeof b.usable, 'boolean');
    if (!b.usable) assert.ok(b.why, `${b.name}: why it cannot be used`);
    if (!b.installed) assert.match(b.install!, /npm install/);
  }
  const webgpu = r.backends.find((b) => b.name === 'webgpu')!;
  assert.equal(webgpu.usable, false);
  if (webgpu.installed) assert.match(webgpu.why!, /^no GPU adapter/);
  assert.deepEqual(r.gpu.adapters, []);
  assert.ok(r.backends.find((b) => b.name === 'cpu')!.usable);
  assert.ok(r.cuda.libraries.some((l) => l.name.includes('cudnn')), 'the CUDA libraries are listed');
  const chosen = r.backends.find((b) => b.name === r.train.backend);
  assert.ok(chosen?.usable, `gan train would use a usable backend: ${JSON.stringify(r.train)}`);
  assert.match(r.train.line!, new RegExp(`^backend ${r.train.backend}`));
});

test('gan doctor on SwiftShader reports the software adapter and does not pick it', (t) => {
  if (!fs.existsSync(SWIFTSHADER_ICD)) return t.skip(`no SwiftShader driver at ${SWIFTSHADER_ICD} (apt-get install chromium libvulkan1, as .ci/run does)`);
  const r = JSON.parse(doctor(['--json'], SWIFTSHADER_ENV).stdout) as DoctorReport;
  const webgpu = r.backends.find((b) => b.name === 'webgpu')!;
  if (!webgpu.installed) return t.skip('the optional webgpu packages are not installed');
  if (r.gpu.adapters.length === 0) return t.skip(`Dawn finds no adapter on SwiftShader here: ${r.gpu.messages.join('; ')} (is libvulkan1 installed?)`);
  assert.equal(r.gpu.adapters[0].software, true);
  assert.match(r.gpu.adapters[0].description, /SwiftShader/);
  assert.deepEqual({ usable: webgpu.usable, software: webgpu.software }, { usable: false, software: true });
  assert.notEqual(r.train.backend, 'webgpu');
  assert.match(r.train.line!, /webgpu: only a software adapter/);
  const text = doctor([], SWIFTSHADER_ENV).stdout;
  assert.match(text, /^ {2}webgpu {4}only a software adapter, .*SwiftShader.*: --backend webgpu forces it$/m);
  assert.match(text, /^GPU adapters \(Dawn, through Vulkan\):\n {2}.*SwiftShader driver.*, software, fallback adapter \[high-performance/m);
  assert.match(text, /^gan train would use: backend /m);
});
