// From seeds to faces. A seed's latent comes from our own seeded generator (src/rng.ts, drawn in
// src/latent.ts, which the exported web page shares), not tfjs's, so a seed is the same face on every
// backend; previews use seeds 0..63, so `gan sample --seed 5` is the sixth face of every preview grid.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { writeFileAtomic } from './atomic.js';
import { loadSampler } from './gan.js';
import { GanError } from './errors.js';
import { encodeAnimation, encodeImage, grid, STILL_FORMATS, toPixels } from './images.js';
import { isTruncation, latentOf, slerp, truncate } from './latent.js';
import { findCheckpoint } from './runs.js';

export { latentOf, slerp };

export const PREVIEW_SEEDS = Array.from({ length: 64 }, (_, i) => i);

/** z for several seeds, [n, size], truncated by psi (1: not at all). */
export function latents(seeds: number[], size: number, psi = 1): tf.Tensor2D {
  const z = new Float32Array(seeds.length * size);
  seeds.forEach((s, i) => z.set(truncate(latentOf(s, size), psi), i * size));
  return tf.tensor2d(z, [seeds.length, size]);
}

/** Faces for latents z [n, size], as uint8 RGB [n, res, res, 3]. BatchNorm in eval mode (moving stats), so a
 * face does not depend on what else is in the batch. */
export async function generate(G: tf.LayersModel, z: tf.Tensor2D): Promise<Uint8Array> {
  const images = tf.tidy(() => G.apply(z, { training: false }) as tf.Tensor4D);
  const pixels = await toPixels(images);
  images.dispose();
  return pixels;
}

/** Faces for seeds. */
export async function sampleSeeds(G: tf.LayersModel, seeds: number[], psi = 1): Promise<Uint8Array> {
  const z = latents(seeds, (G.inputs[0].shape as number[])[1], psi);
  const pixels = await generate(G, z);
  z.dispose();
  return pixels;
}

export interface OutputOptions {
  run?: string;
  checkpoint?: number | 'best';
  out: string;
  size?: number; // pixels per face; default the model's resolution
  root?: string; // checkpoints folder
  ema?: boolean; // the moving average of G when the run keeps one (default), or G itself
}

/** The extension of an output file the command can write (one of `formats`), in a folder that exists. */
export function checkOut(out: string, formats: string[], setting = 'out'): string {
  const ext = path.extname(out).toLowerCase();
  if (!formats.includes(ext)) throw new GanError(`\`${setting}\` must end in ${formats.join(', ')} (got "${path.basename(out)}")`);
  const dir = path.dirname(path.resolve(out));
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new GanError(`the folder of \`${setting}\` does not exist: ${dir}`);
  return ext;
}

/** The generator to sample from, as the options pick it: run, checkpoint, moving average or not. */
export async function openGenerator(o: Omit<OutputOptions, 'out'>) {
  if (o.size !== undefined && !(Number.isInteger(o.size) && o.size >= 1 && o.size <= 4096)) {
    throw new GanError(`\`size\` must be a whole number of pixels from 1 to 4096 (got ${o.size})`);
  }
  const ck = findCheckpoint(o.run, o.checkpoint, o.root);
  const { G, ema } = await loadSampler(ck.dir, o.ema);
  const res = (G.outputs[0].shape as number[])[1];
  return { ...ck, G, ema, res, scale: (o.size ?? res) / res };
}

export interface Written {
  file: string;
  run: string;
  step: number;
  seeds: number[];
}

/**
 * One face (n = 1) or a grid of n faces of consecutive seeds, recorded in the image's XMP metadata; `trunc`
 * is the truncation psi (see latent.ts).
 */
export async function sampleToFile(o: OutputOptions & { seed: number; n?: number; trunc?: number }): Promise<Written> {
  const ext = checkOut(o.out, STILL_FORMATS);
  const n = o.n ?? 1;
  if (!Number.isInteger(n) || n < 1 || n > 1024) throw new GanError(`\`n\` must be from 1 to 1024 (got ${n})`);
  const psi = o.trunc ?? 1;
  if (!isTruncation(psi)) throw new GanError(`\`trunc\` must be from 0 (the average face) to 1 (no truncation) (got ${psi})`);
  const g = await openGenerator(o);
  const seeds = Array.from({ length: n }, (_, i) => o.seed + i);
  const pixels = await sampleSeeds(g.G, seeds, psi);
  g.G.dispose();
  const img = n === 1 ? { data: pixels, width: g.res, height: g.res } : grid(pixels, n, g.res);
  const about = `gan sample: run ${g.run}, step ${g.step}, seeds ${seeds.join(',')}` + (n > 1 ? ' (row by row)' : '') +
    (psi === 1 ? '' : `, truncation ${psi}`);
  writeFileAtomic(o.out, await encodeImage(img, ext, g.scale, about));
  return { file: o.out, run: g.run, step: g.step, seeds };
}

/** A walk from one seed's face to another's: animated GIF/WebP, or a PNG strip. */
export async function interpolateToFile(o: OutputOptions & { from: number; to: number; steps?: number; delayMs?: number }): Promise<Written> {
  const ext = checkOut(o.out, ['.gif', '.webp', '.png']);
  const steps = o.steps ?? 16;
  if (!Number.isInteger(steps) || steps < 2 || steps > 512) throw new GanError(`\`steps\` must be from 2 to 512 (got ${steps})`);
  const g = await openGenerator(o);
  const size = (g.G.inputs[0].shape as number[])[1];
  const [a, b] = [latentOf(o.from, size), latentOf(o.to, size)];
  const z = new Float32Array(steps * size);
  for (let i = 0; i < steps; i++) z.set(slerp(a, b, i / (steps - 1)), i * size);
  const zt = tf.tensor2d(z, [steps, size]);
  const pixels = await generate(g.G, zt);
  zt.dispose();
  g.G.dispose();
  const frame = g.res * g.res * 3;
  const about = `gan interpolate: run ${g.run}, step ${g.step}, seed ${o.from} to seed ${o.to}, ${steps} steps`;
  const bytes = ext === '.png'
    ? await encodeImage(grid(pixels, steps, g.res, steps), ext, g.scale, about)
    : await encodeAnimation(Array.from({ length: steps }, (_, i) => ({ data: pixels.subarray(i * frame, (i + 1) * frame), width: g.res, height: g.res })),
      ext, g.scale, o.delayMs ?? 120, about);
  writeFileAtomic(o.out, bytes);
  return { file: o.out, run: g.run, step: g.step, seeds: [o.from, o.to] };
}
