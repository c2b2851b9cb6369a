// A user's bad day with a folder of images: odd names, files that vanish or cannot be read, a decoder that
// did not load, huge files, a preprocess killed half-way. None of it breaks a later run.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import * as zlib from 'node:zlib';
import sharp from 'sharp';
import { readManifest } from '../src/data/cache.js';
import { preprocess } from '../src/data/preprocess.js';
import { loadCache, tempDir, writeFixtures } from './fixtures.js';
import { BIN, exitOf, ganHere, ROOT, waitFor } from './helpers.js';

const RES = 16;

/** `count` small plain JPEGs, f000.jpg.., each its own colour. */
async function jpegs(dir: string, count: number, side = 40): Promise<string[]> {
  const names = Array.from({ length: count }, (_, i) => `f${String(i).padStart(4, '0')}.jpg`);
  await Promise.all(names.map((name, i) =>
    sharp({ create: { width: side, height: side, channels: 3, background: { r: i % 256, g: 255 - (i % 256), b: 40 } } }).jpeg().toFile(path.join(dir, name))));
  return names;
}

/** A script run by `node` that imports the library from dist/ (its arguments: process.argv.slice(2)). */
function script(body: string): string {
  const file = path.join(tempDir(), 'script.mjs');
  const lib = (p: string) => JSON.stringify(pathToFileURL(path.join(ROOT, 'dist', 'src', p)).href);
  fs.writeFileSync(file, body.replace(/@lib\(([\w/.]+)\)/g, (_, p: string) => lib(p)));
  return file;
}

test('a file whose name is not UTF-8 is skipped with a reason, run after run, and never breaks preprocess or train of the folder', async () => {
  const work = tempDir();
  const src = path.join(work, 'faces');
  fs.mkdirSync(src);
  await writeFixtures(src);
  // M\xfcller.jpg: "Müller" in Latin-1, as a name made on another system arrives
  fs.copyFileSync(path.join(src, 'rgb.jpg'), Buffer.concat([Buffer.from(path.join(src, 'M')), Buffer.from([0xfc]), Buffer.from('ller.jpg')]));
  for (const run of [1, 2]) {
    const r = await ganHere(['preprocess', 'faces', '--res', '16'], work);
    assert.equal(r.status, 0, `run ${run}: ${r.stderr}`);
  }
  const m = readManifest(path.join(work, 'data', 'faces-16'))!;
  assert.deepEqual(m.sources.find((s) => s.path.startsWith('M'))!, { path: 'M\\xfcller.jpg', size: 0, mtimeMs: 0, skipped: 'its name is not UTF-8: rename it' });
  assert.match(fs.readFileSync(path.join(work, 'data', 'faces-16', 'skipped.txt'), 'utf8'), /^M\\xfcller\.jpg\tits name is not UTF-8: rename it$/m);
  const t = await ganHere(['train', '--data', 'faces', '--res', '16', '--width', '4', '--batch', '4', '--epochs', '1', '--threads', '1',
    '--preview-every', '1000', '--checkpoint-every', '1000'], work);
  assert.equal(t.status, 0, t.stderr);
});

test('a file deleted between listing and reading is skipped, and the next run goes on without it', async () => {
  const src = tempDir();
  const names = await jpegs(src, 100);
  const out = path.join(tempDir(), 'cache');
  // This thread alone decodes, 32 files between two turns of the event loop, and the folder is listed before
  // the first: the last file goes while the first ones are decoded.
  const running = preprocess(src, { res: RES, crop: 'center', out, quiet: true, threads: 1 });
  fs.rmSync(path.join(src, names[99]));
  const r = await running;
  assert.equal(r.cached, 99);
  const gone = r.manifest.sources.find((s) => s.path === names[99])!;
  assert.match(gone.skipped!, /ENOENT/);
  assert.equal(gone.retry, true, 'tried again if it comes back');
  const again = await preprocess(src, { res: RES, crop: 'center', out, quiet: true });
  assert.equal(again.processed, 0);
  assert.equal(again.cached, 99);
  assert.equal(again.manifest.sources.length, 99);
  assert.deepEqual(again.manifest.shards, r.manifest.shards, 'the same images: the shard is kept as it is');
});

test('an unreadable subfolder and an unreadable file are skipped and listed, not fatal, and read once they can be', async (t) => {
  // Run as root, permissions stop nothing: then gan runs as the user nobody (uid 65534), whom they stop.
  const asRoot = process.getuid?.() === 0;
  const nobody = { uid: 65534, gid: 65534 };
  const readable = `for (const f of ${JSON.stringify([BIN, path.join(ROOT, 'dist/src/cli.js'), path.join(ROOT, 'node_modules/sharp/package.json')])}) require('fs').accessSync(f)`;
  if (asRoot && spawnSync(process.execPath, ['-e', readable], nobody).status !== 0) {
    return t.skip(`running as root, in a checkout the user nobody cannot read (${ROOT}): nothing here can be made unreadable`);
  }
  const work = tempDir();
  const src = path.join(work, 'faces');
  fs.mkdirSync(path.join(src, 'locked'), { recursive: true });
  const { good } = await writeFixtures(src);
  fs.copyFileSync(path.join(src, 'rgb.jpg'), path.join(src, 'locked', 'x.jpg'));
  fs.copyFileSync(path.join(src, 'rgb.jpg'), path.join(src, 'secret.jpg'));
  if (asRoot) for (const f of [work, ...(fs.readdirSync(work, { recursive: true }) as string[]).map((f) => path.join(work, f))]) fs.chownSync(f, nobody.uid, nobody.gid);
  const run = () => {
    const o: SpawnSyncOptions = { cwd: work, encoding: 'utf8', timeout: 120_000, ...(asRoot ? nobody : {}) };
    const r = spawnSync(process.execPath, [BIN, 'preprocess', 'faces', '--res', '16'], o);
    assert.equal(r.status, 0, String(r.stderr));
    return String(r.stderr);
  };
  fs.chmodSync(path.join(src, 'locked'), 0o000);
  fs.chmodSync(path.join(src, 'secret.jpg'), 0o000);
  const first = run();
  assert.match(first, new RegExp(`${good.length} images cached, 6 skipped`)); // 4 bad files
  const skipped = fs.readFileSync(path.join(work, 'data', 'faces-16', 'skipped.txt'), 'utf8');
  assert.match(skipped, /^locked\/\tEACCES: permission denied/m);
  assert.match(skipped, /^secret\.jpg\tEACCES: permission denied/m);
  fs.chmodSync(path.join(src, 'locked'), 0o755);
  fs.chmodSync(path.join(src, 'secret.jpg'), 0o644);
  const second = run();
  assert.match(second, new RegExp(`${good.length + 2} images cached, 4 skipped in \\S+ \\(2 decoded`));
});

test('a decoder that failed to load is not a permanent skip: the next run decodes those files', async () => {
  // gan as installed, but without native/jpeg.wasm
  const app = tempDir();
  fs.cpSync(path.join(ROOT, 'dist', 'src'), path.join(app, 'dist', 'src'), { recursive: true });
  for (const f of ['dist/resize.wasm', 'dist/conv.wasm', 'bin/gan.js', 'package.json']) fs.cpSync(path.join(ROOT, f), path.join(app, f));
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(app, 'node_modules'));
  fs.mkdirSync(path.join(app, 'native'));
  const work = tempDir();
  const src = path.join(work, 'faces');
  fs.mkdirSync(src);
  await jpegs(src, 3);
  await sharp({ create: { width: 40, height: 40, channels: 3, background: { r: 1, g: 2, b: 3 } } }).png().toFile(path.join(src, 'p.png'));
  const run = () => spawnSync(process.execPath, [path.join(app, 'bin', 'gan.js'), 'preprocess', 'faces', '--res', '16'], { cwd: work, encoding: 'utf8', timeout: 120_000 });
  const first = run();
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stderr, /1 images cached, 3 skipped/);
  assert.match(fs.readFileSync(path.join(work, 'data', 'faces-16', 'skipped.txt'), 'utf8'), /^f0000\.jpg\tthe JPEG decoder did not load: ENOENT/m);
  fs.cpSync(path.join(ROOT, 'native', 'jpeg.wasm'), path.join(app, 'native', 'jpeg.wasm'));
  const second = run();
  assert.match(second.stderr, /4 images cached, 0 skipped in \S+ \(3 decoded/);
});

/** A real PNG of width×height black pixels, 1 bit each (small to write, 4 bytes a pixel once decoded). */
function hugePng(file: string, width: number, height: number): void {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(zlib.crc32(body), 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([1, 0, 0, 0, 0], 8); // 1 bit, grey, deflate, no filter, not interlaced
  const rows = Buffer.alloc(height * (1 + Math.ceil(width / 8))); // each row: filter 0, then zeros
  fs.writeFileSync(file, Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), chunk('IHDR', header),
    chunk('IDAT', zlib.deflateSync(rows)), chunk('IEND', Buffer.alloc(0))]));
}

test('a video and a 16000x16000 PNG are skipped without being read whole, in bounded memory', async () => {
  const measure = script(`import { preprocess } from @lib(data/preprocess.js);
    const r = await preprocess(process.argv[2], { res: 16, crop: 'center', out: process.argv[3], quiet: true, threads: 2 });
    console.log(JSON.stringify({ rss: process.resourceUsage().maxRSS * 1024, skipped: r.manifest.sources.filter((s) => s.skipped) }));`);
  const peak = (folder: string) => {
    const r = spawnSync(process.execPath, [measure, folder, path.join(tempDir(), 'cache')], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as { rss: number; skipped: { path: string; skipped: string }[] };
  };
  const plain = tempDir();
  await jpegs(plain, 64);
  const base = peak(plain);
  const odd = tempDir();
  fs.cpSync(plain, odd, { recursive: true });
  hugePng(path.join(odd, 'huge.png'), 16000, 16000);
  const video = path.join(odd, 'movie.mp4');
  fs.writeFileSync(video, Buffer.from('000000206674797069736f6d0000020069736f6d69736f32617663316d703431', 'hex'));
  fs.truncateSync(video, 2 ** 30); // 1 GiB, sparse
  const got = peak(odd);
  assert.deepEqual(got.skipped.map((s) => s.path), ['huge.png', 'movie.mp4']);
  assert.match(got.skipped[0].skipped, /^over the 50-megapixel limit: scale it down$/);
  assert.match(got.skipped[1].skipped, /unsupported image format/);
  const extra = got.rss - base.rss;
  assert.ok(extra < 100 * 2 ** 20, `peak memory grew by ${(extra / 2 ** 20).toFixed(0)} MB (from ${(base.rss / 2 ** 20).toFixed(0)} MB)`);
});

test('a preprocess killed half-way (as for memory) keeps the shards it wrote, and the rerun goes on from them', async () => {
  const src = tempDir();
  const [name] = await jpegs(src, 1, 600);
  for (let i = 1; i < 600; i++) fs.linkSync(path.join(src, name), path.join(src, `g${String(i).padStart(4, '0')}.jpg`));
  const out = path.join(tempDir(), 'cache');
  const child = spawn(process.execPath, [script(`import { preprocess } from @lib(data/preprocess.js);
    await preprocess(process.argv[2], { res: 16, crop: 'center', out: process.argv[3], quiet: true, threads: 1, shardFiles: 20 });`), src, out], { stdio: 'ignore' });
  const exited = exitOf(child);
  await waitFor(() => fs.existsSync(path.join(out, 'manifest.json')), 'the first shard');
  child.kill('SIGKILL');
  await exited;
  assert.equal(child.signalCode, 'SIGKILL', 'killed before it finished');
  const kept = loadCache(out);
  assert.ok(kept.count >= 20 && kept.count < 600, `${kept.count} images kept`);
  assert.ok(kept.manifest.shards.length > 0);
  const rest = await preprocess(src, { res: RES, crop: 'center', out, quiet: true, shardFiles: 20 });
  assert.equal(rest.processed, 600 - kept.count);
  const whole = await preprocess(src, { res: RES, crop: 'center', out: path.join(tempDir(), 'cache'), quiet: true, shardFiles: 20 });
  assert.deepEqual(loadCache(out).pixels, loadCache(whole.dir).pixels);
  assert.equal(rest.manifest.fingerprint, whole.manifest.fingerprint);
});
