// From seeds to faces. A seed's latent comes from our own seeded generator (src/rng.ts), not tfjs's, so a
// seed is the same face on every backend; previews use seeds 0..63, so `gan sample --seed 5` is the sixth
// face of every preview grid.
import * as tf from '@tensorflow/tfjs';
import { toPixels } from './images.js';
import { Rng } from './rng.js';

export const PREVIEW_SEEDS = Array.from({ length: 64 }, (_, i) => i);

/** z for one seed. */
export function latentOf(seed: number, size: number): Float32Array {
  return new Rng(seed, 'z').normals(size);
}

/** z for several seeds, [n, size]. */
export function latents(seeds: number[], size: number): tf.Tensor2D {
  const z = new Float32Array(seeds.length * size);
  seeds.forEach((s, i) => z.set(latentOf(s, size), i * size));
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
export async function sampleSeeds(G: tf.LayersModel, seeds: number[]): Promise<Uint8Array> {
  const z = latents(seeds, (G.inputs[0].shape as number[])[1]);
  const pixels = await generate(G, z);
  z.dispose();
  return pixels;
}
