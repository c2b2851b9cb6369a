// The exported page in a real browser: Debian's headless Chromium (apt-get install chromium; .ci/run does),
// driven by playwright-core, which downloads no browser of its own.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { Server } from 'node:http';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import sharp from 'sharp';
import { initBackend } from '../src/backend.js';
import { exportRun } from '../src/export/index.js';
import { serve } from '../src/export/serve.js';
import { interpolateToFile, sampleToFile } from '../src/sample.js';
import { tempDir } from './fixtures.js';
import { tinyRun } from './tiny.js';

const CHROMIUM = '/usr/bin/chromium';
const missing = fs.existsSync(CHROMIUM) ? undefined : `${CHROMIUM} not found: apt-get install -y chromium (.ci/run installs it)`;
const WAIT = 30_000; // every wait in the browser has this deadline
const RES = 16;

let work: string;
let site: string;
let url: string;
let server: Server | undefined;
let browser: BrowserContext | undefined;

before(async () => {
  if (missing) return;
  await initBackend(process.env.GAN_TEST_BACKEND);
  work = tempDir();
  process.chdir(work);
  await tinyRun('tiny', { ema: 0.9 });
  site = path.join(work, 'site');
  await exportRun({ run: 'tiny', web: site });
  ({ server, url } = await serve(site, 0));
  browser = await chromium.launchPersistentContext(tempDir('gan-chromium-'), {
    executablePath: CHROMIUM,
    headless: true,
    timeout: WAIT,
    acceptDownloads: true,
    // root needs --no-sandbox; the rest keeps Chromium off the (closed) network and quick to start
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--disable-quic'],
  });
  browser.setDefaultTimeout(WAIT);
});

after(async () => {
  await browser?.close();
  server?.close();
});

/** RGB of the canvas once it shows the face of `key` (the page's #seed=... state). */
async function canvasFace(page: Page, key: string): Promise<Uint8Array> {
  await page.waitForFunction((k) => document.getElementById('face')?.dataset.face === k, key, { timeout: WAIT });
  const rgba = await page.evaluate(() => {
    const c = document.getElementById('face') as HTMLCanvasElement;
    return Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data);
  });
  assert.equal(rgba.length, RES * RES * 4);
  return Uint8Array.from(rgba.filter((_, i) => i % 4 !== 3));
}

const rgbOf = async (file: string) => new Uint8Array(await sharp(file).removeAlpha().raw().toBuffer());

/** `gan sample`'s face, as RGB. */
async function sampled(seed: number, trunc?: number): Promise<Uint8Array> {
  return rgbOf((await sampleToFile({ run: 'tiny', seed, trunc, out: path.join(work, `sample-${seed}-${trunc}.png`) })).file);
}

function differences(a: Uint8Array, b: Uint8Array): { worst: number; count: number } {
  assert.equal(a.length, b.length);
  let worst = 0, count = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    worst = Math.max(worst, d);
    if (d) count++;
  }
  return { worst, count };
}

function within(levels: number, got: Uint8Array, want: Uint8Array, what: string): void {
  const { worst, count } = differences(got, want);
  assert.ok(worst <= levels, `${what}: ${count} of ${got.length} values differ, by up to ${worst} levels (allowed ${levels})`);
}

test('on the cpu backend the page shows gan sample\'s faces within one level: seeds, truncation, walk, the URL, the download',
  { skip: missing, timeout: 180_000 }, async (t) => {
    const page = await browser!.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${url}?backend=cpu#seed=42`);
    const first = await canvasFace(page, 'seed=42');
    const { worst, count } = differences(first, await sampled(42));
    t.diagnostic(`cpu backend, seed 42: ${count} of ${first.length} values differ from gan sample, by up to ${worst}`);
    within(1, first, await sampled(42), 'seed 42');
    assert.ok(differences(await sampled(7), await sampled(42)).worst > 4, 'another seed\'s face would fail these checks');
    assert.equal(await page.evaluate(() => document.body.dataset.backend), 'cpu');
    assert.match(await page.textContent('#backend') ?? '', /on the CPU/);
    assert.match(await page.textContent('#about') ?? '', /Run tiny, step 4, 16×16, moving average/);

    // a seed in the URL, as a shared link opens it
    await page.evaluate(() => (location.hash = '#seed=7'));
    within(1, await canvasFace(page, 'seed=7'), await sampled(7), 'seed 7 from the URL');
    assert.equal(await page.inputValue('#seed'), '7');
    await page.evaluate(() => (location.hash = '#seed=7&psi=0.5'));
    within(1, await canvasFace(page, 'seed=7&psi=0.5'), await sampled(7, 0.5), 'seed 7, truncation 0.5');
    await page.evaluate(() => (location.hash = '#seed=42&to=7&t=0.5'));
    const walk = await interpolateToFile({ run: 'tiny', from: 42, to: 7, steps: 3, out: path.join(work, 'walk.png') });
    const middle = new Uint8Array(await sharp(walk.file).extract({ left: 2 + RES + 2, top: 2, width: RES, height: RES }).raw().toBuffer());
    within(1, await canvasFace(page, 'seed=42&to=7&t=0.5'), middle, 'halfway from seed 42 to seed 7');

    // the controls: a new face puts its seed in the URL; the truncation slider too
    await page.click('#new');
    await page.waitForFunction(() => /^#seed=\d+$/.test(location.hash), null, { timeout: WAIT }); // the walk is gone
    const seed = Number((await page.evaluate(() => location.hash)).slice('#seed='.length));
    within(1, await canvasFace(page, `seed=${seed}`), await sampled(seed), `new face, seed ${seed}`);
    assert.equal(await page.inputValue('#seed'), String(seed));
    await page.fill('#psi', '0.5');
    within(1, await canvasFace(page, `seed=${seed}&psi=0.5`), await sampled(seed, 0.5), `seed ${seed} at psi 0.5 from the slider`);
    assert.equal(await page.evaluate(() => location.hash), `#seed=${seed}&psi=0.5`);

    // the download is the canvas, pixel for pixel
    const shown = await canvasFace(page, `seed=${seed}&psi=0.5`);
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: WAIT }), page.click('#download')]);
    assert.equal(download.suggestedFilename(), `face-seed-${seed}-psi-0.5.png`);
    const file = path.join(work, 'download.png');
    await download.saveAs(file);
    assert.equal((await sharp(file).metadata()).format, 'png');
    assert.deepEqual(await rgbOf(file), shown);
    assert.deepEqual(errors, []);
    await page.close();
  });

test('with no backend asked for, headless Chromium picks one and stays within a few levels of gan sample',
  { skip: missing, timeout: 120_000 }, async (t) => {
    const page = await browser!.newPage();
    await page.goto(`${url}#seed=42`);
    const got = await canvasFace(page, 'seed=42');
    const backend = await page.evaluate(() => document.body.dataset.backend);
    const { worst, count } = differences(got, await sampled(42));
    t.diagnostic(`headless Chromium (--disable-gpu) runs the page on ${backend}: ${count} of ${got.length} values differ from gan sample, by up to ${worst}`);
    within(backend === 'cpu' ? 1 : 4, got, await sampled(42), `seed 42 on ${backend}`);
    await page.close();
  });

test('opened as a file, the page says to serve it', { skip: missing, timeout: 60_000 }, async () => {
  const page = await browser!.newPage();
  await page.goto(`file://${path.join(site, 'index.html')}`);
  assert.match(await page.textContent('#about') ?? '', /through a web server: npx gan serve/);
  await page.close();
});
