// `gan timelapse`: a run's preview grids in step order as an animation, to watch its faces form, each frame
// labelled with its step; optionally only some of the 64 faces.
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { writeFileAtomic } from './atomic.js';
import { readState } from './checkpoint.js';
import { GanError } from './errors.js';
import { encodeAnimation, grid, type RawImage } from './images.js';
import { findCheckpoint } from './runs.js';
import { checkOut, PREVIEW_SEEDS } from './sample.js';

export interface TimelapseOptions {
  run?: string;
  out: string; // .gif or .webp
  seeds?: [number, number]; // first and last preview seed to show (default: all 64)
  size?: number; // pixels per face (default: the previews', at most 64)
  frames?: number; // at most this many previews, evenly spaced, the first and last included (default 60)
  delay?: number; // ms per frame
  root?: string; // checkpoints folder
}

const LABEL = 20; // pixels of the band under each frame that holds its step

/** A run's previews, oldest first. */
function previews(runDir: string): { file: string; step: number }[] {
  const dir = path.join(runDir, 'previews');
  const found = fs.existsSync(dir) ? fs.readdirSync(dir).map((f) => ({ f, m: /^step-(\d+)\.png$/.exec(f) })) : [];
  return found.filter(({ m }) => m).map(({ f, m }) => ({ file: path.join(dir, f), step: Number(m![1]) })).sort((a, b) => a.step - b.step);
}

/** At most n of the items, evenly spaced, the first and the last included. */
function spread<T>(items: T[], n: number): T[] {
  if (items.length <= n) return items;
  return Array.from(new Set(Array.from({ length: n }, (_, i) => Math.round((i * (items.length - 1)) / (n - 1))))).map((i) => items[i]);
}

/**
 * The faces of seeds first..last from a preview: previews are `grid`s of PREVIEW_SEEDS in rows of cols with
 * 2-pixel borders, enlarged by a whole factor (train.ts) that the file's width gives away.
 */
function cutFaces(img: RawImage, res: number, first: number, last: number, file: string): { faces: Uint8Array; px: number; scale: number } {
  const cols = Math.ceil(Math.sqrt(PREVIEW_SEEDS.length));
  const scale = img.width / (cols * (res + 2) + 2);
  if (!Number.isInteger(scale) || img.height !== img.width) throw new GanError(`${file} is not a preview grid of ${res}px faces`);
  const px = res * scale;
  const faces = new Uint8Array((last - first + 1) * px * px * 3);
  for (let seed = first, o = 0; seed <= last; seed++) {
    const left = (2 + (seed % cols) * (res + 2)) * scale;
    const top = (2 + Math.floor(seed / cols) * (res + 2)) * scale;
    for (let y = 0; y < px; y++, o += px * 3) faces.set(img.data.subarray(((top + y) * img.width + left) * 3, ((top + y) * img.width + left + px) * 3), o);
  }
  return { faces, px, scale };
}

/** One frame: the faces in a grid, enlarged or reduced to `size` pixels each, the step written in a band under it. */
async function frame(faces: Uint8Array, n: number, px: number, scale: number, size: number, step: number): Promise<RawImage> {
  const g = grid(faces, n, px, undefined, 2 * scale);
  const width = Math.round((g.width * size) / px);
  const height = Math.round((g.height * size) / px);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${LABEL}">` +
    `<text x="6" y="${LABEL - 6}" font-family="DejaVu Sans, sans-serif" font-size="13" fill="#d8d8d8">step ${step}</text></svg>`;
  let s = sharp(g.data, { raw: { width: g.width, height: g.height, channels: 3 } });
  if (size !== px) s = sharp(await s.resize(width, height, { kernel: 'lanczos3' }).raw().toBuffer(), { raw: { width, height, channels: 3 } });
  const data = await s.extend({ bottom: LABEL, background: { r: g.data[0], g: g.data[0], b: g.data[0] } }) // the border's grey
    .composite([{ input: Buffer.from(svg), left: 0, top: height }])
    .removeAlpha().raw().toBuffer();
  return { data, width, height: height + LABEL };
}

export async function timelapse(o: TimelapseOptions): Promise<{ file: string; run: string; steps: number[] }> {
  const ext = checkOut(o.out, ['.gif', '.webp']);
  const [first, last] = o.seeds ?? [0, PREVIEW_SEEDS.length - 1];
  if (!(Number.isInteger(first) && Number.isInteger(last) && 0 <= first && first <= last && last < PREVIEW_SEEDS.length)) {
    throw new GanError(`\`seeds\` must be a range of the previews' seeds, within 0..${PREVIEW_SEEDS.length - 1} (got ${first}..${last})`);
  }
  const check = (v: number | undefined, name: string, lo: number, hi: number) => {
    if (v !== undefined && !(Number.isInteger(v) && v >= lo && v <= hi)) throw new GanError(`\`${name}\` must be from ${lo} to ${hi} (got ${v})`);
  };
  check(o.size, 'size', 8, 1024);
  check(o.frames, 'frames', 2, 1000);
  check(o.delay, 'delay', 10, 10_000);
  const ck = findCheckpoint(o.run, undefined, o.root);
  const res = readState(ck.dir).config.res;
  const shots = spread(previews(path.dirname(ck.dir)), o.frames ?? 60);
  if (shots.length === 0) throw new GanError(`run ${ck.run} has no previews yet`);

  const frames: RawImage[] = [];
  for (const { file, step } of shots) { // one at a time: a run's previews can be large
    const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const { faces, px, scale } = cutFaces({ data, width: info.width, height: info.height }, res, first, last, file);
    frames.push(await frame(faces, last - first + 1, px, scale, o.size ?? Math.min(px, 64), step));
  }
  if (frames.some((f) => f.width !== frames[0].width || f.height !== frames[0].height)) {
    throw new GanError(`the previews of run ${ck.run} differ in size`);
  }
  const steps = shots.map((s) => s.step);
  const about = `gan timelapse: run ${ck.run}, steps ${steps[0]} to ${steps.at(-1)}, seeds ${first}..${last}`;
  writeFileAtomic(o.out, await encodeAnimation(frames, ext, 1, o.delay ?? 250, about));
  return { file: o.out, run: ck.run, steps };
}
