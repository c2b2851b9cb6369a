// The webgpu tests run on SwiftShader, the Vulkan driver on the CPU that Debian's chromium package ships:
// correct, and far too slow for anything but tiny models. Without it (or without the Vulkan loader) they say
// so and are skipped.
import * as fs from 'node:fs';
import { probeBackends } from '../src/backend.js';

export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const INSTALL = 'apt-get install chromium libvulkan1, as .ci/run does';

/** Environment that makes Dawn see SwiftShader only. */
export const SWIFTSHADER_ENV = { VK_ICD_FILENAMES: SWIFTSHADER_ICD };

/** Points this process's Vulkan loader at SwiftShader, before Dawn loads; returns why webgpu cannot run here. */
export async function useSwiftShader(): Promise<string | undefined> {
  if (!fs.existsSync(SWIFTSHADER_ICD)) return `no SwiftShader driver at ${SWIFTSHADER_ICD} (${INSTALL})`;
  Object.assign(process.env, SWIFTSHADER_ENV);
  const status = (await probeBackends('webgpu')).available.webgpu;
  return typeof status === 'string' ? `webgpu does not run on SwiftShader here: ${status} (${INSTALL})` : undefined;
}
