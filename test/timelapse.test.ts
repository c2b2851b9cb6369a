import assert from 'node:assert/strict';
import * as path from 'node:path';
import { before, test } from 'node:test';
import sharp from 'sharp';
import { initBackend } from '../src/backend.js';
import { timelapse } from '../src/timelapse.js';
import { tempDir } from './fixtures.js';
import { assertOneLineErrors, ganHere } from './helpers.js';
import { tinyRun } from './tiny.js';

let work: string;
const PREVIEWS = ['step-00000000.png', 'step-00000002.png', 'step-00000004.png'];
const FACE = 128; // a 16 px face in a preview (enlarged 8 times)
const LABEL = 20;

before(async () => {
  await initBackend(process.env.GAN_TEST_BACKEND);
  work = tempDir();
  process.chdir(work);
  await tinyRun('tiny', { steps: 4, previewEvery: 2 });
});

const preview = (f: string) => path.join(work, 'checkpoints', 'tiny', 'previews', f);

test('gan timelapse --seeds: those faces of every preview, in step order, exactly, each frame labelled with its step', async () => {
  const out = path.join(work, 'faces.webp');
  const r = await ganHere(['timelapse', '--run', 'tiny', '--seeds', '3..4', '--size', String(FACE), '--out', out], work);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /3 previews of run tiny, steps 0 to 4/);
  const meta = await sharp(out, { animated: true }).metadata();
  assert.equal(meta.pages, 3);
  const border = 16; // 2 px, enlarged as the faces
  assert.equal(meta.width, 2 * (FACE + border) + border);
  assert.equal(meta.pageHeight, FACE + 2 * border + LABEL);
  const bands: Buffer[] = [];
  for (let i = 0; i < 3; i++) {
    const page = await sharp(out, { page: i }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const region = (left: number, top: number, width: number, height: number) =>
      sharp(page.data, { raw: { width: page.info.width, height: page.info.height, channels: 3 } }).extract({ left, top, width, height }).raw().toBuffer();
    for (const [seed, left] of [[3, border], [4, 2 * border + FACE]]) {
      const want = await sharp(preview(PREVIEWS[i])).extract({ left: (2 + seed * 18) * 8, top: 16, width: FACE, height: FACE }).removeAlpha().raw().toBuffer();
      assert.deepEqual(await region(left, border, FACE, FACE), want, `frame ${i}, seed ${seed}`);
    }
    bands.push(await region(0, meta.pageHeight! - LABEL, meta.width!, LABEL));
  }
  assert.ok(Math.max(...bands[0]) > 150, 'the step is written in light text');
  assert.notDeepEqual(bands[0], bands[1]);
  assert.notDeepEqual(bands[1], bands[2]);
});

test('gan timelapse: the whole grid as a GIF; --frames keeps the first and last previews', async () => {
  const gif = path.join(work, 'all.gif');
  assert.equal((await ganHere(['timelapse', '--run', 'tiny', '--size', '16', '--out', gif], work)).status, 0);
  const meta = await sharp(gif, { animated: true }).metadata();
  assert.equal(meta.pages, 3);
  assert.equal(meta.width, 8 * 18 + 2);
  assert.equal(meta.pageHeight, 8 * 18 + 2 + LABEL);
  const two = await timelapse({ run: 'tiny', frames: 2, out: path.join(work, 'two.webp') });
  assert.deepEqual(two.steps, [0, 4]);
  const m2 = await sharp(two.file, { animated: true }).metadata();
  assert.equal(m2.pages, 2);
  assert.equal(m2.width, (8 * 18 + 2) * 4, 'faces at most 64 px by default');
});

test('timelapse errors: one line, exit 2', async () => {
  const cases: [string[], RegExp][] = [
    [['timelapse', '--run', 'tiny', '--seeds', '60..70', '--out', 'x.gif'], /--seeds must be a range of the previews' seeds, within 0..63/],
    [['timelapse', '--run', 'tiny', '--seeds', '5', '--out', 'x.gif'], /--seeds must be a range such as 0..7/],
    [['timelapse', '--run', 'tiny', '--out', 'x.png'], /--out must end in .gif, .webp/],
    [['timelapse', '--run', 'tiny', '--frames', '1', '--out', 'x.gif'], /--frames must be from 2/],
    [['timelapse', '--run', 'nope', '--out', 'x.gif'], /no run named "nope"/],
  ];
  await assertOneLineErrors(cases, work);
});
