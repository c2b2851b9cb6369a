// Built-in faces: a deterministic generator of simple synthetic portraits (face shape, skin tone, hair,
// eyes, brows, nose, mouth, clothes, background), drawn at any resolution. They let `gan train` run on a
// fresh clone with no download, and the tests use the same images.
import { Rng } from '../rng.js';

type RGB = [number, number, number];

const SKIN: RGB[] = [[255, 224, 196], [241, 194, 160], [224, 172, 125], [198, 134, 90], [141, 85, 54], [92, 58, 38]];
const HAIR: RGB[] = [[20, 16, 14], [60, 38, 24], [110, 70, 40], [200, 160, 90], [160, 60, 30], [170, 170, 170]];

function mix(a: RGB, b: RGB, t: number): RGB {
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

function jitter(rng: Rng, c: RGB, amount: number): RGB {
  return c.map((v) => Math.min(255, Math.max(0, v + (rng.uniform() - 0.5) * 2 * amount))) as RGB;
}

/** Inside an axis-aligned ellipse centred at (cx, cy) with radii (rx, ry). */
function inEllipse(x: number, y: number, cx: number, cy: number, rx: number, ry: number): boolean {
  const dx = (x - cx) / rx;
  const dy = (y - cy) / ry;
  return dx * dx + dy * dy <= 1;
}

interface Face {
  bgTop: RGB; bgBottom: RGB; skin: RGB; hair: RGB; shirt: RGB; iris: RGB; lips: RGB;
  cx: number; cy: number; rx: number; ry: number;
  hairVolume: number; fringe: number; longHair: boolean;
  eyeDx: number; eyeY: number; eyeR: number; browY: number;
  noseLen: number; mouthY: number; mouthW: number; smile: number;
}

function randomFace(seed: number): Face {
  const r = new Rng(seed, 'face');
  const u = (lo: number, hi: number) => lo + (hi - lo) * r.uniform();
  const pick = <T>(xs: T[]) => xs[r.int(xs.length)];
  const skinA = pick(SKIN);
  const skinB = pick(SKIN);
  return {
    bgTop: jitter(r, [u(40, 230), u(40, 230), u(40, 230)], 0),
    bgBottom: jitter(r, [u(40, 230), u(40, 230), u(40, 230)], 0),
    skin: jitter(r, mix(skinA, skinB, r.uniform()), 12),
    hair: jitter(r, pick(HAIR), 15),
    shirt: [u(20, 235), u(20, 235), u(20, 235)],
    iris: pick<RGB>([[60, 40, 25], [40, 90, 140], [70, 110, 60], [30, 30, 30]]),
    lips: jitter(r, [185, 85, 85], 25),
    cx: u(-0.06, 0.06), cy: u(-0.02, 0.08), rx: u(0.42, 0.52), ry: u(0.56, 0.68),
    hairVolume: u(1.05, 1.25), fringe: u(0.35, 0.75), longHair: r.uniform() < 0.4,
    eyeDx: u(0.17, 0.23), eyeY: u(-0.14, -0.05), eyeR: u(0.05, 0.08), browY: u(0.08, 0.12),
    noseLen: u(0.1, 0.17), mouthY: u(0.25, 0.34), mouthW: u(0.1, 0.18), smile: u(-0.02, 0.05),
  };
}

/** The colour of the face at (x, y) in [-1, 1]² (y down). Painter's order, back to front. */
function shade(f: Face, x: number, y: number): RGB {
  const t = (y + 1) / 2;
  let c = mix(f.bgTop, f.bgBottom, t);
  const hairRy = f.ry * f.hairVolume;
  const hairCy = f.cy - f.ry * 0.12;
  if (inEllipse(x, y, f.cx, hairCy, f.rx * f.hairVolume, hairRy) && (y < f.cy || f.longHair)) c = f.hair;
  if (f.longHair && Math.abs(x - f.cx) < f.rx * f.hairVolume && y > f.cy && y < f.cy + f.ry * 1.1) c = f.hair;
  if (inEllipse(x, y, f.cx, 1.15, 0.85, 0.45)) c = f.shirt; // shoulders
  if (Math.abs(x - f.cx) < f.rx * 0.45 && y > f.cy && y < 0.85) c = mix(f.skin, [0, 0, 0], 0.15); // neck
  if (inEllipse(x, y, f.cx, f.cy, f.rx, f.ry)) {
    const dx = (x - f.cx) / f.rx;
    const dy = (y - f.cy) / f.ry;
    c = mix(f.skin, [0, 0, 0], 0.22 * (dx * dx + dy * dy)); // rounder look: darker towards the edge
    const fy = f.cy - f.ry + f.fringe * f.ry * 0.9; // fringe line, curved
    if (y < fy - 0.15 * dx * dx * f.ry && inEllipse(x, y, f.cx, hairCy, f.rx * f.hairVolume, hairRy)) c = f.hair;
    for (const side of [-1, 1]) {
      const ex = f.cx + side * f.eyeDx;
      const ey = f.cy + f.eyeY;
      if (inEllipse(x, y, ex, ey, f.eyeR * 1.6, f.eyeR)) c = [245, 245, 240];
      if (inEllipse(x, y, ex, ey, f.eyeR * 0.8, f.eyeR * 0.8)) c = f.iris;
      if (inEllipse(x, y, ex, ey, f.eyeR * 0.35, f.eyeR * 0.35)) c = [10, 10, 10];
      if (inEllipse(x, y, ex, ey - f.browY, f.eyeR * 1.9, f.eyeR * 0.35)) c = mix(f.hair, [0, 0, 0], 0.3);
    }
    const noseTop = f.cy + f.eyeY + 0.03;
    if (Math.abs(x - f.cx) < 0.018 && y > noseTop && y < noseTop + f.noseLen) c = mix(c, [0, 0, 0], 0.25);
    if (inEllipse(x, y, f.cx, noseTop + f.noseLen, 0.05, 0.025)) c = mix(f.skin, [0, 0, 0], 0.3);
    const my = f.cy + f.mouthY + f.smile * (1 - ((x - f.cx) / f.mouthW) ** 2);
    if (Math.abs(x - f.cx) < f.mouthW && Math.abs(y - my) < 0.03) c = f.lips;
  }
  return c;
}

/** One face as RGB uint8 [res, res, 3], anti-aliased with 2×2 samples per pixel, with a little grain as photos have. */
export function renderFace(seed: number, res: number, out = new Uint8Array(res * res * 3), offset = 0): Uint8Array {
  const f = randomFace(seed);
  const grain = new Rng(seed, 'grain');
  const sub = [0.25, 0.75];
  for (let py = 0; py < res; py++) {
    for (let px = 0; px < res; px++) {
      let r = 0, g = 0, b = 0;
      for (const sy of sub) {
        for (const sx of sub) {
          const c = shade(f, ((px + sx) / res) * 2 - 1, ((py + sy) / res) * 2 - 1);
          r += c[0]; g += c[1]; b += c[2];
        }
      }
      const i = offset + (py * res + px) * 3;
      const n = (grain.uniform() - 0.5) * 12;
      out[i] = Math.min(255, Math.max(0, Math.round(r / 4 + n + (grain.uniform() - 0.5) * 6)));
      out[i + 1] = Math.min(255, Math.max(0, Math.round(g / 4 + n + (grain.uniform() - 0.5) * 6)));
      out[i + 2] = Math.min(255, Math.max(0, Math.round(b / 4 + n + (grain.uniform() - 0.5) * 6)));
    }
  }
  return out;
}

/** `count` faces (seeds first..first+count-1) as one uint8 buffer of shape [count, res, res, 3]. */
export function renderFaces(count: number, res: number, first = 0): Uint8Array {
  const out = new Uint8Array(count * res * res * 3);
  for (let i = 0; i < count; i++) renderFace(first + i, res, out, i * res * res * 3);
  return out;
}
