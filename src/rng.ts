// Seeded random numbers that do not depend on the backend, so a seed means the same thing everywhere.
// Streams are derived from (seed, ...keys), e.g. (seed, step, 'latentD'), which makes every random draw of
// training a pure function of the seed and the step: resuming needs no RNG state beyond the step.

/** 32-bit mix of several integers (murmur3 finaliser over a running hash). */
function hash(...keys: (number | string)[]): number {
  let h = 0x9e3779b9;
  for (const k of keys) {
    const parts = typeof k === 'number' ? [k >>> 0, Math.floor(k / 2 ** 32) >>> 0] : [...k].map((c) => c.charCodeAt(0));
    for (const p of parts) {
      h = Math.imul(h ^ p, 0x85ebca6b);
      h ^= h >>> 13;
      h = Math.imul(h, 0xc2b2ae35);
      h ^= h >>> 16;
    }
  }
  return h >>> 0;
}

/** sfc32: small, fast, and good enough for shuffles and latents. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare: number | undefined;

  constructor(...keys: (number | string)[]) {
    this.a = hash(...keys, 1);
    this.b = hash(...keys, 2);
    this.c = hash(...keys, 3);
    this.d = 1;
    for (let i = 0; i < 12; i++) this.uint32();
  }

  uint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.uint32() / 2 ** 32;
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    const u = 1 - this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  normals(n: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal();
    return out;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** A random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): Uint32Array {
    const p = new Uint32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [p[i], p[j]] = [p[j], p[i]];
    }
    return p;
  }
}
