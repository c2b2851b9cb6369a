// `gan export --web DIR`: a folder any static web server shows as a page that makes faces. It holds the
// page (web/ in this package), the generator in the tfjs layers format, tfjs's browser bundles (so the page
// works offline) and the compiled latent.js and rng.js that `gan sample` draws its latents with.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as tf from '@tensorflow/tfjs';
import { tempPath, writeFileAtomic } from '../atomic.js';
import { saveModel } from '../checkpoint.js';
import { GanError } from '../errors.js';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/src/export
const require = createRequire(import.meta.url);

/** What the page shows about its generator (about.json); also marks a folder as an export. */
export interface About {
  generatedBy: 'gan export';
  run: string;
  step: number;
  ema: boolean; // the moving average of G (with standing BatchNorm statistics), or G itself
  res: number;
  latent: number;
}

/** Files copied as they are: [source, name in the folder]. */
function staticFiles(): [string, string][] {
  const web = path.resolve(here, '../../../web');
  return [
    ...fs.readdirSync(web).map((f): [string, string] => [path.join(web, f), f]),
    [require.resolve('@tensorflow/tfjs/dist/tf.min.js'), 'tf.min.js'], // cpu and webgl backends
    [require.resolve('@tensorflow/tfjs-backend-webgpu/dist/tf-backend-webgpu.min.js'), 'tf-backend-webgpu.min.js'],
  ];
}

/** Our compiled modules for the browser, without their source-map comments (the maps stay behind). */
const SHARED_MODULES = ['latent.js', 'rng.js'];

function isExport(dir: string): boolean {
  try {
    return (JSON.parse(fs.readFileSync(path.join(dir, 'about.json'), 'utf8')) as About).generatedBy === 'gan export';
  } catch {
    return false;
  }
}

/**
 * Writes the page into `dir`: built in a temporary folder beside it and renamed into place, so the folder is
 * whole or absent. An earlier export there is replaced; any other folder that is not empty is refused.
 */
export async function writeWebPage(G: tf.LayersModel, dir: string, about: Omit<About, 'generatedBy'>): Promise<void> {
  if (fs.existsSync(dir) && (!fs.statSync(dir).isDirectory() || (fs.readdirSync(dir).length > 0 && !isExport(dir)))) {
    throw new GanError(`\`web\` ${dir} exists and is not an earlier export: choose a new or empty folder`);
  }
  const parent = path.dirname(path.resolve(dir));
  if (!fs.existsSync(parent)) throw new GanError(`the folder of \`web\` does not exist: ${parent}`);
  const tmp = tempPath(path.resolve(dir));
  try {
    fs.mkdirSync(tmp);
    for (const [src, name] of staticFiles()) fs.copyFileSync(src, path.join(tmp, name));
    for (const name of SHARED_MODULES) {
      const js = fs.readFileSync(path.join(here, '..', name), 'utf8').replace(/\n\/\/# sourceMappingURL=.*\n?$/, '\n');
      fs.writeFileSync(path.join(tmp, name), js);
    }
    await saveModel(G, path.join(tmp, 'model'));
    writeFileAtomic(path.join(tmp, 'about.json'), JSON.stringify({ generatedBy: 'gan export', ...about }, null, 1));
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}
