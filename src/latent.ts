// Latents from seeds, with no dependency but the seeded RNG: `gan export --web` ships this file (compiled)
// and rng.js to the browser, so the page draws, walks and truncates exactly the latents `gan sample` does.
import { Rng } from './rng.js';

/** z for one seed. */
export function latentOf(seed: number, size: number): Float32Array {
  return new Rng(seed, 'z').normals(size);
}

/** Spherical interpolation between two latents, t in [0, 1]; t = 0 and 1 give a and b exactly. */
export function slerp(a: Float32Array, b: Float32Array, t: number): Float32Array {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  const omega = Math.acos(Math.min(1, Math.max(-1, dot / Math.sqrt(na * nb))));
  const so = Math.sin(omega);
  const [wa, wb] = so < 1e-6 ? [1 - t, t] : [Math.sin((1 - t) * omega) / so, Math.sin(t * omega) / so];
  return a.map((v, i) => wa * v + wb * b[i]);
}

/**
 * The truncation trick by scaling toward the mean: z·psi (z's mean is 0). Resampling the components beyond
 * a threshold would change a face in jumps as psi moves, and every face of a seed at once; scaling moves it
 * smoothly toward the average face (psi 0), so a slider is a continuous walk, and psi 1 is z itself.
 */
export function truncate(z: Float32Array, psi: number): Float32Array {
  return psi === 1 ? z : z.map((v) => v * psi);
}

/** Whether psi is a truncation `truncate` takes: from 0 (the average face) to 1 (none). */
export function isTruncation(psi: number): boolean {
  return Number.isFinite(psi) && psi >= 0 && psi <= 1;
}
