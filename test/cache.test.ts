// The image cache as training reads it: past 4 GiB, from memory and from files; a manifest checked before it
// is trusted; a fingerprint of the pixels; a cache folder of its own for each source folder.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { CACHE_FORMAT, openCache, type Manifest } from '../src/data/cache.js';
import { openDataset, toFloatBatch } from '../src/data/dataset.js';
import { preprocess } from '../src/data/preprocess.js';
import { GanError } from '../src/errors.js';
import { tempDir, writeFixtures } from './fixtures.js';
import { ganHere, messages } from './helpers.js';

const RES = 16;
const SIZE = RES * RES * 3;

/** A recognisable image for index i. */
const imageOf = (i: number) => Uint8Array.from({ length: SIZE }, (_, j) => (i * 7 + j * 13 + 1) & 255);

/** A cache written by hand: shard files of the given counts, as sparse files (made to size, nothing written). */
function sparseCache(counts: number[]): string {
  const dir = tempDir();
  const shards = counts.map((count, k) => ({ file: `shard-test-${k}.u8`, count, sha256: '0'.repeat(64) }));
  for (const s of shards) {
    fs.writeFileSync(path.join(dir, s.file), '');
    fs.truncateSync(path.join(dir, s.file), s.count * SIZE);
  }
  const count = counts.reduce((a, b) => a + b, 0);
  const m: Manifest = { format: CACHE_FORMAT, res: RES, crop: 'center', source: dir, count, fingerprint: 'test', shards, sources: [], updated: '' };
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(m));
  return dir;
}

/** Writes imageOf(i) at global index i of the cache's shards. */
function put(dir: string, counts: number[], i: number): void {
  let k = 0;
  let first = 0;
  while (i >= first + counts[k]) first += counts[k++];
  const fd = fs.openSync(path.join(dir, `shard-test-${k}.u8`), 'r+');
  fs.writeSync(fd, imageOf(i), 0, SIZE, (i - first) * SIZE);
  fs.closeSync(fd);
}

test('a batch read across the 4 GiB boundary of a sparse cache is right, from the shard files and from memory', () => {
  // Shard 0 is 4 GiB + 57 KB (its own offsets pass 2^32), shard 1 starts past 2^32 bytes into the data set.
  const boundary = Math.floor(2 ** 32 / SIZE); // the image that straddles byte 2^32
  const counts = [boundary + 75, 300];
  const dir = sparseCache(counts);
  const known = [boundary - 2, boundary - 1, boundary, boundary + 1, boundary + 74, boundary + 75, boundary + 76, boundary + 374];
  for (const i of known) put(dir, counts, i);
  assert.ok(fs.statSync(path.join(dir, 'shard-test-0.u8')).size > 2 ** 32);
  const batch = [boundary + 75, 0, boundary, boundary + 374, boundary - 1, boundary + 1, boundary + 76, boundary - 2, boundary + 74, 5];
  const want = new Uint8Array(batch.length * SIZE);
  batch.forEach((i, n) => known.includes(i) && want.set(imageOf(i), n * SIZE)); // the rest was never written: zeros

  // every shard from its file; then shard 1 in memory (shard 0 is over the bound: from its file)
  for (const memory of [0, 300 * SIZE]) {
    const cache = openCache(dir, memory);
    try {
      assert.equal(cache.count, boundary + 375);
      assert.deepEqual(cache.read(batch), want, `memory bound ${memory}`);
      const floats = toFloatBatch(cache, batch);
      assert.equal(floats[0], Math.fround(want[0] / 127.5 - 1));
      assert.equal(floats.at(-1), Math.fround(want.at(-1)! / 127.5 - 1));
      assert.throws(() => cache.read([boundary + 375]), RangeError);
    } finally {
      cache.close();
    }
  }
});

test('a small cache is held in memory shard by shard within the bound, and reads the same from files', async () => {
  const src = tempDir();
  await writeFixtures(src);
  const out = path.join(tempDir(), 'cache');
  const r = await preprocess(src, { res: RES, crop: 'center', out, quiet: true, shardFiles: 4 });
  assert.ok(r.manifest.shards.length >= 3);
  const all = Array.from({ length: r.cached }, (_, i) => r.cached - 1 - i);
  const reads = [0, 2 * 4 * SIZE, Infinity].map((memory) => {
    const cache = openCache(out, memory);
    try {
      return cache.read(all);
    } finally {
      cache.close();
    }
  });
  assert.deepEqual(reads[1], reads[0]);
  assert.deepEqual(reads[2], reads[0]);
  // Shards read from files are held open: a cache rewritten meanwhile (new shards, the old ones removed)
  // does not pull them away.
  const cache = openCache(out, 0);
  fs.utimesSync(path.join(src, 'gray.png'), new Date(), new Date(Date.now() + 5000));
  const again = await preprocess(src, { res: RES, crop: 'center', out, quiet: true, shardFiles: 5 });
  assert.ok(again.manifest.shards.every((s) => !r.manifest.shards.some((old) => old.file === s.file)), 'every shard is new');
  assert.deepEqual(cache.read(all), reads[0]);
  cache.close();
});

test('manifest.json naming a shard outside its folder, or sizes that do not add up, is refused before anything is read', async () => {
  const dir = sparseCache([10]);
  fs.writeFileSync(path.join(path.dirname(dir), 'outside.u8'), new Uint8Array(10 * SIZE));
  const m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;
  const cases: [Partial<Manifest>, RegExp][] = [
    [{ shards: [{ ...m.shards[0], file: '../outside.u8' }] }, /names a shard that is not a file of its folder \("\.\.\/outside\.u8"\)/],
    [{ shards: [{ ...m.shards[0], file: path.join(path.dirname(dir), 'outside.u8') }] }, /not a file of its folder/],
    [{ shards: [{ ...m.shards[0], file: 'shard-test-0.u8/../../outside.u8' }] }, /not a file of its folder/],
    [{ count: 1e12, shards: [{ ...m.shards[0], count: 1e12 }] }, /shard-test-0\.u8 has the wrong size/],
    [{ count: 11 }, /counts 11 images but its shards hold 10/],
    [{ res: 1e9 }, /impossible res/],
    [{ format: 1 }, /made by another version of gan/],
  ];
  for (const [change, message] of cases) {
    fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ ...m, ...change }));
    assert.throws(() => openCache(dir).close(), (e: Error) => e instanceof GanError && message.test(e.message), JSON.stringify(change));
  }
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ ...m, shards: [{ ...m.shards[0], file: '../outside.u8' }] }));
  const r = await ganHere(['train', '--data', dir, '--res', '16'], tempDir());
  assert.equal(r.status, 2, r.stderr);
  assert.deepEqual(messages(r), [`gan: cache ${dir}: manifest.json names a shard that is not a file of its folder ("../outside.u8"): run gan preprocess again`]);
});

test('the data fingerprint does not change when the images are copied without their modification times', async () => {
  const a = tempDir();
  await writeFixtures(a);
  const b = path.join(tempDir(), 'copy');
  fs.cpSync(a, b, { recursive: true }); // cp -r: new modification times
  for (const f of fs.readdirSync(b, { recursive: true }) as string[]) fs.utimesSync(path.join(b, f), new Date(2001, 1, 1), new Date(2001, 1, 1));
  const open = async (folder: string, res = RES) => {
    const out = path.join(tempDir(), 'cache');
    await preprocess(folder, { res, crop: 'center', out, quiet: true });
    const ds = await openDataset(out, res, { crop: 'center' });
    ds.close();
    return ds.fingerprint;
  };
  const fa = await open(a);
  assert.equal(await open(b), fa, 'same images, other times and place');
  assert.notEqual(await open(a, 32), fa, 'other pixels');
  fs.rmSync(path.join(b, 'gray.png'));
  assert.notEqual(await open(b), fa, 'one image fewer');
});

test('two folders with the same name in different places do not overwrite each other\'s cache', async () => {
  const work = tempDir();
  for (const place of ['a', 'b']) {
    fs.mkdirSync(path.join(work, place, 'faces'), { recursive: true });
    await writeFixtures(path.join(work, place, 'faces'));
  }
  fs.rmSync(path.join(work, 'b', 'faces', 'gray.png'));
  const first = await ganHere(['preprocess', 'a/faces', '--res', '16'], work);
  assert.equal(first.status, 0, first.stderr);
  const second = await ganHere(['preprocess', 'b/faces', '--res', '16'], work);
  assert.equal(second.status, 0, second.stderr);
  assert.doesNotMatch(second.stderr, /cache hit/);
  const dirs = fs.readdirSync(path.join(work, 'data'));
  assert.equal(dirs.length, 2, dirs.join(' '));
  assert.ok(dirs.includes('faces-16') && dirs.some((d) => /^faces-[0-9a-f]{8}-16$/.test(d)), dirs.join(' '));
  for (const place of ['a', 'b', 'a']) {
    const again = await ganHere(['preprocess', `${place}/faces`, '--res', '16'], work);
    assert.match(again.stderr, /cache hit/, `${place}: ${again.stderr}`);
  }
});
