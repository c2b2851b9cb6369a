// Signs that a run has collapsed, said once per episode: D(G(z)) near 0 for a long stretch (D rejects every
// fake and G no longer learns from it), or the preview faces growing alike (mode collapse: G makes one face).
export class CollapseWatch {
  private lowSince?: number;
  private warnedLow = false;
  private peak = 0;
  private warnedAlike = false;

  constructor(private readonly stretch = 500, private readonly floor = 0.01, private readonly drop = 0.3) {}

  /** After each step, with its D(G(z)); a warning when it has stayed below the floor for the whole stretch. */
  step(step: number, dFake: number): string | undefined {
    if (!(dFake < this.floor)) {
      this.lowSince = undefined;
      this.warnedLow = false;
      return undefined;
    }
    this.lowSince ??= step;
    if (this.warnedLow || step - this.lowSince + 1 < this.stretch) return undefined;
    this.warnedLow = true;
    return `warning: D(G(z)) has stayed below ${this.floor} for ${step - this.lowSince + 1} steps (since step ${this.lowSince}): ` +
      'D rejects every fake, so G learns little; the run may have collapsed (a lower learning rate, --augment or another --loss may help)';
  }

  /** At each preview, with the faces' diversity; a warning when it falls below a fraction of its best so far. */
  preview(step: number, diversity: number): string | undefined {
    this.peak = Math.max(this.peak, diversity);
    if (diversity > this.peak * (this.drop + 0.2)) this.warnedAlike = false; // recovered
    if (this.warnedAlike || diversity >= this.peak * this.drop) return undefined;
    this.warnedAlike = true;
    return `warning: the preview faces at step ${step} are much alike (diversity ${diversity.toFixed(1)}, down from ${this.peak.toFixed(1)}): ` +
      'G may be collapsing onto a few faces';
  }
}

/** How much faces differ: the standard deviation of each pixel value across the n faces, averaged (0..127.5). */
export function diversity(pixels: Uint8Array, n: number): number {
  const size = pixels.length / n;
  let total = 0;
  for (let p = 0; p < size; p++) {
    let sum = 0;
    let sq = 0;
    for (let i = 0; i < n; i++) {
      const v = pixels[i * size + p];
      sum += v;
      sq += v * v;
    }
    total += Math.sqrt(Math.max(0, sq / n - (sum / n) ** 2));
  }
  return total / size;
}
