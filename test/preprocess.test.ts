import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import type { GanError } from '../src/errors.js';
import { cropBox } from '../src/data/decode.js';
import { preprocess } from '../src/data/preprocess.js';
import { BLUE, loadCache, RED, tempDir, writeFixtures } from './fixtures.js';
import { gan, ganHere, messages } from './helpers.js';

const RES = 16;

function pixelAt(pixels: Uint8Array, index: number, x: number, y: number): number[] {
  const i = (index * RES * RES + y * RES + x) * 3;
  return Array.from(pixels.subarray(i, i + 3));
}

test('crop boxes: centred square, and CelebA\'s 108x108 box scaled with the image', () => {
  assert.deepEqual(cropBox(80, 60, 'center'), { left: 10, top: 0, width: 60, height: 60 });
  assert.deepEqual(cropBox(178, 218, 'celeba'), { left: 35, top: 55, width: 108, height: 108 });
  assert.deepEqual(cropBox(89, 109, 'celeba'), { left: 17, top: 27, width: 54, height: 54 });
  assert.deepEqual(cropBox(40, 40, 'celeba'), { left: 8, top: 8, width: 24, height: 24 });
});

test('preprocess caches exactly the good images, with the right pixels, and lists the bad ones', async () => {
  const src = tempDir();
  const out = path.join(tempDir(), 'cache');
  const { good, bad } = await writeFixtures(src);
  const r = await preprocess(src, { res: RES, crop: 'center', out, quiet: true });
  assert.equal(r.cached, good.length);
  assert.equal(r.skipped, bad.length);
  assert.equal(r.cacheHit, false);

  const set = loadCache(out);
  assert.equal(set.count, good.length);
  assert.equal(set.pixels.length, good.length * RES * RES * 3);
  const bySource = new Map(set.manifest.sources.map((s) => [s.path, s]));
  for (const name of good) {
    const s = bySource.get(name)!;
    assert.equal(s.skipped, undefined, name);
    const [r0, g0, b0] = pixelAt(set.pixels, s.index!, RES / 2, RES / 2);
    if (name === 'rotated.jpg') {
      const near = (got: number[], c: typeof RED) => Math.abs(got[0] - c.r) + Math.abs(got[1] - c.g) + Math.abs(got[2] - c.b) < 30;
      assert.ok(near(pixelAt(set.pixels, s.index!, RES / 2, 2), RED) && near(pixelAt(set.pixels, s.index!, RES / 2, RES - 3), BLUE),
        `${name} is turned as its EXIF orientation says: red on top, blue below`);
    } else if (name === 'gray.png') {
      assert.ok(r0 === g0 && g0 === b0, `${name} stays gray: ${[r0, g0, b0]}`);
    } else if (name === 'cmyk.jpg') {
      assert.ok(Math.abs(r0 - RED.r) < 15 && g0 < 60 && b0 < 60, `${name} stays red: ${[r0, g0, b0]}`);
    } else {
      // a solid colour stays that colour, whatever the format, alpha or bit depth
      for (const [got, want] of [[r0, RED.r], [g0, RED.g], [b0, RED.b]]) assert.ok(Math.abs(got - want) <= 2, `${name}: ${[r0, g0, b0]}`);
    }
  }
  const skippedTxt = fs.readFileSync(path.join(out, 'skipped.txt'), 'utf8');
  for (const name of bad) {
    assert.ok(bySource.get(name)!.skipped, `${name} has a reason`);
    assert.match(skippedTxt, new RegExp(`^${name.replace('.', '\\.')}\\t.+`, 'm'));
  }
  assert.match(bySource.get('truncated.jpg')!.skipped!, /premature end|truncat/i);
  assert.match(bySource.get('empty.jpg')!.skipped!, /empty/);

  // A rerun on the unchanged folder is a cache hit and decodes nothing.
  const again = await preprocess(src, { res: RES, crop: 'center', out, quiet: true });
  assert.equal(again.cacheHit, true);
  assert.equal(again.processed, 0);
  assert.ok(again.seconds < 1);

  // A changed file is decoded again (and only it), with its new pixels; an added one joins the cache.
  await sharp({ create: { width: 80, height: 60, channels: 3, background: { r: 10, g: 220, b: 30 } } }).jpeg({ quality: 95 })
    .toFile(path.join(src, 'rgb.jpg'));
  fs.utimesSync(path.join(src, 'rgb.jpg'), new Date(), new Date(Date.now() + 5000));
  fs.copyFileSync(path.join(src, 'a.gif'), path.join(src, 'added.gif'));
  const third = await preprocess(src, { res: RES, crop: 'center', out, quiet: true });
  assert.equal(third.cacheHit, false);
  assert.equal(third.processed, 2);
  assert.equal(third.cached, good.length + 1);
  const after = loadCache(out);
  const rgb = after.manifest.sources.find((s) => s.path === 'rgb.jpg')!;
  const [r1, g1] = pixelAt(after.pixels, rgb.index!, RES / 2, RES / 2);
  assert.ok(r1 < 40 && g1 > 190, `rgb.jpg was reprocessed: ${[r1, g1]}`);
  const gray = after.manifest.sources.find((s) => s.path === 'gray.png')!;
  assert.deepEqual(pixelAt(after.pixels, gray.index!, 3, 3), pixelAt(set.pixels, bySource.get('gray.png')!.index!, 3, 3));
  // only the shards the manifest names are left
  const shards = fs.readdirSync(out).filter((f) => f.startsWith('shard-'));
  assert.deepEqual(shards, after.manifest.shards.map((s) => s.file));
});

test('shards written while decoding hold the same images in the same order, also when a rerun reuses some', async () => {
  const src = tempDir();
  const { good } = await writeFixtures(src);
  // enough files for several chunks (of 32) to go to each thread
  for (let i = 0; i < 300; i++) fs.copyFileSync(path.join(src, good[i % good.length]), path.join(src, `copy-${i}-${path.basename(good[i % good.length])}`));
  const whole = await preprocess(src, { res: RES, crop: 'center', out: path.join(tempDir(), 'cache'), quiet: true });
  // each file's size and time, as the decoding threads read them
  for (const s of whole.manifest.sources) {
    const st = fs.statSync(path.join(src, s.path));
    assert.deepEqual([s.size, s.mtimeMs], [st.size, st.mtimeMs], s.path);
  }
  // the same cache from this thread alone, and from this one and three workers
  for (const threads of [1, 4]) {
    const other = await preprocess(src, { res: RES, crop: 'center', out: path.join(tempDir(), 'cache'), quiet: true, threads });
    // (libvips keeps one error message buffer per process: with threads failing at once, a skip reason's
    // wording can vary, so only whether a file was skipped is compared)
    const reasonless = (m: typeof whole.manifest) => m.sources.map((s) => ({ ...s, skipped: s.skipped !== undefined }));
    assert.deepEqual(reasonless(other.manifest), reasonless(whole.manifest), `${threads} threads`);
    assert.deepEqual(loadCache(other.dir).pixels, loadCache(whole.dir).pixels, `${threads} threads`);
  }
  const out = path.join(tempDir(), 'cache');
  const split = await preprocess(src, { res: RES, crop: 'center', out, quiet: true, shardFiles: 3 });
  assert.ok(split.manifest.shards.length > 2, `${split.manifest.shards.length} shards`);
  assert.equal(split.manifest.shards.reduce((n, s) => n + s.count, 0), split.cached);
  assert.deepEqual(split.manifest.sources, whole.manifest.sources);
  assert.deepEqual(loadCache(out).pixels, loadCache(whole.dir).pixels);

  // One changed file: the other shards' images come from the old cache, in their places.
  const changed = split.manifest.sources.find((s) => s.index !== undefined)!.path;
  fs.utimesSync(path.join(src, changed), new Date(), new Date(Date.now() + 5000));
  const rerun = await preprocess(src, { res: RES, crop: 'center', out, quiet: true, shardFiles: 3 });
  assert.equal(rerun.processed, 1);
  assert.deepEqual(loadCache(out).pixels, loadCache(whole.dir).pixels);
  assert.deepEqual(fs.readdirSync(out).filter((f) => f.startsWith('shard-')).sort(), rerun.manifest.shards.map((s) => s.file).sort());
});

test('a cache whose shard was cut short is refused, not trusted, and preprocess rebuilds it', async () => {
  const src = tempDir();
  const out = path.join(tempDir(), 'cache');
  await writeFixtures(src);
  const r = await preprocess(src, { res: RES, crop: 'center', out, quiet: true });
  const whole = loadCache(out).pixels;
  const shard = path.join(out, r.manifest.shards[0].file);
  fs.truncateSync(shard, 100);
  assert.throws(() => loadCache(out), /wrong size/);
  const again = await preprocess(src, { res: RES, crop: 'center', out, quiet: true });
  assert.equal(again.cacheHit, false);
  assert.equal(again.processed, r.cached + r.skipped);
  assert.deepEqual(loadCache(out).pixels, whole);
});

test('a stopped preprocess keeps what it decoded, and the same command goes on from there', async () => {
  const src = tempDir();
  // plain JPEGs, decoded on this thread alone: 32 between two turns of the event loop, where the stop lands
  for (let i = 0; i < 300; i++) {
    const colour = { r: i % 256, g: 255 - (i % 256), b: 40 };
    await sharp({ create: { width: 40, height: 40, channels: 3, background: colour } }).jpeg().toFile(path.join(src, `f${String(i).padStart(3, '0')}.jpg`));
  }
  const whole = await preprocess(src, { res: RES, crop: 'center', out: path.join(tempDir(), 'cache'), quiet: true });
  const out = path.join(tempDir(), 'cache');
  const ctl = new AbortController();
  setTimeout(() => ctl.abort(), 0);
  await assert.rejects(preprocess(src, { res: RES, crop: 'center', out, quiet: true, threads: 1, shardFiles: 50, signal: ctl.signal }),
    (e: GanError) => e.exitCode === 130 && /^stopped: \d+ of 300 files decoded/.test(e.message));
  const partial = loadCache(out);
  assert.ok(partial.count > 0 && partial.count < 300, `${partial.count} images kept`);
  const rest = await preprocess(src, { res: RES, crop: 'center', out, quiet: true, shardFiles: 50 });
  assert.equal(rest.processed, 300 - partial.count);
  assert.deepEqual(rest.manifest.sources.map((s) => s.path), whole.manifest.sources.map((s) => s.path));
  assert.deepEqual(loadCache(out).pixels, loadCache(whole.dir).pixels);
});

test('gan preprocess: exit 0 with a count of skipped files, fast rerun, one-line errors with exit 2', async () => {
  const work = tempDir();
  const src = path.join(work, 'faces');
  fs.mkdirSync(src);
  const { good, bad } = await writeFixtures(src);
  const first = gan(['preprocess', src, '--res', '16'], work);
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stderr, new RegExp(`${good.length} images cached, ${bad.length} skipped`));
  assert.ok(fs.existsSync(path.join(work, 'data', 'faces-16', 'manifest.json')));
  const again = await ganHere(['preprocess', src, '--res', '16'], work);
  assert.equal(again.status, 0);
  assert.match(again.stderr, /cache hit/);

  const empty = path.join(work, 'empty');
  fs.mkdirSync(empty);
  const onlyBad = path.join(work, 'bad');
  fs.mkdirSync(onlyBad);
  fs.writeFileSync(path.join(onlyBad, 'x.jpg'), 'nope');
  for (const args of [
    ['preprocess', path.join(work, 'missing')],
    ['preprocess', empty],
    ['preprocess', onlyBad],
    ['preprocess', src, '--res', '0'],
    ['preprocess', src, '--res', '63'],
    ['preprocess', src, '--res', 'big'],
    ['preprocess', src, '--crop', 'square'],
    ['preprocess', src, '--backend', 'node-gpu'],
  ]) {
    const r = await ganHere(args, work);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(messages(r).length, 1, `${args.join(' ')} says one line: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});
