import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, test } from 'node:test';
import sharp from 'sharp';
import { initBackend } from '../src/backend.js';
import { listCheckpoints } from '../src/checkpoint.js';
import { sampleToFile, interpolateToFile } from '../src/sample.js';
import { disposeGan } from '../src/gan.js';
import { train } from '../src/train.js';
import { tempDir } from './fixtures.js';
import { assertOneLineErrors, gan, ganHere, messages } from './helpers.js';

let work: string;
const RES = 16;

before(async () => {
  await initBackend(process.env.GAN_TEST_BACKEND);
  work = tempDir();
  process.chdir(work);
  // Tiny runs with two checkpoints, so sampling has something to load; the older one keeps a moving average.
  for (const [run, ema] of [['older', 0.9], ['tiny', 0]] as const) {
    const r = await train({ res: RES, run, maxSteps: 4, overrides: { width: 4, batch: 4, epochs: 1, checkpointEvery: 2, previewEvery: 100, ema }, quiet: true });
    disposeGan(r.gan);
  }
});

const raw = async (file: string) => (await sharp(file).raw().toBuffer({ resolveWithObject: true }));

test('the same seed gives a byte-identical PNG, another seed a different face', async () => {
  const a = path.join(work, 'a.png');
  const b = path.join(work, 'b.png');
  const c = path.join(work, 'c.png');
  // one face from a fresh process, the same again and another in this one
  assert.equal(gan(['sample', '--run', 'tiny', '--seed', '42', '--out', a], work).status, 0);
  assert.equal((await ganHere(['sample', '--run', 'tiny', '--seed', '42', '--out', b], work)).status, 0);
  assert.equal((await ganHere(['sample', '--run', 'tiny', '--seed', '43', '--out', c], work)).status, 0);
  assert.ok(fs.readFileSync(a).equals(fs.readFileSync(b)), 'byte-identical');
  const [pa, pc] = [await raw(a), await raw(c)];
  assert.equal(pa.info.width, RES);
  assert.notDeepEqual(pa.data, pc.data);
  // the default run is the most recently updated one; an older checkpoint gives another face
  const d = await sampleToFile({ seed: 42, out: path.join(work, 'd.png') });
  assert.equal(d.run, 'tiny');
  assert.ok(fs.readFileSync(d.file).equals(fs.readFileSync(a)));
  const e = await sampleToFile({ seed: 42, run: 'tiny', checkpoint: 2, out: path.join(work, 'e.png') });
  assert.equal(e.step, 2);
  assert.notDeepEqual((await raw(e.file)).data, pa.data);
});

test('--no-ema samples G itself: another face where the run keeps a moving average, the same where it does not', async () => {
  for (const [run, kept] of [['older', true], ['tiny', false]] as const) {
    const average = await sampleToFile({ seed: 7, run, out: path.join(work, `${run}-average.png`) });
    const itself = await sampleToFile({ seed: 7, run, out: path.join(work, `${run}-itself.png`), ema: false });
    const [a, g] = [(await raw(average.file)).data, (await raw(itself.file)).data];
    if (kept) assert.notDeepEqual(a, g, run);
    else assert.deepEqual(a, g, run);
  }
});

test('a grid of n faces has the right size, the seeds in its metadata, and each face as sampled alone', async () => {
  const out = path.join(work, 'grid.png');
  const w = await sampleToFile({ seed: 42, n: 6, run: 'tiny', out, size: 32 });
  assert.deepEqual(w.seeds, [42, 43, 44, 45, 46, 47]);
  const meta = await sharp(out).metadata();
  // 3 columns x 2 rows of 32 px faces with 2 px borders (scaled with the faces)
  assert.equal(meta.width, (3 * (RES + 2) + 2) * 2);
  assert.equal(meta.height, (2 * (RES + 2) + 2) * 2);
  assert.match(meta.xmp!.toString(), /seeds 42,43,44,45,46,47/);
  const g = await sampleToFile({ seed: 42, n: 4, run: 'tiny', out: path.join(work, 'grid4.png') });
  const single = await raw((await sampleToFile({ seed: 45, run: 'tiny', out: path.join(work, 's45.png') })).file);
  const cell = await sharp(g.file).extract({ left: 2 + RES + 2, top: 2 + RES + 2, width: RES, height: RES }).raw().toBuffer();
  assert.deepEqual(cell, single.data, 'seed 45 in the grid is the face of seed 45 alone (eval-mode BatchNorm)');
});

test('an interpolation of k steps has k frames whose ends are the two seeds\' faces', async () => {
  const k = 5;
  const strip = await interpolateToFile({ from: 42, to: 7, steps: k, run: 'tiny', out: path.join(work, 'walk.png') });
  const ends = await Promise.all([42, 7].map(async (seed) =>
    (await raw((await sampleToFile({ seed, run: 'tiny', out: path.join(work, `end${seed}.png`) })).file)).data));
  const frame = (i: number) => sharp(strip.file).extract({ left: 2 + i * (RES + 2), top: 2, width: RES, height: RES }).raw().toBuffer();
  assert.deepEqual(await frame(0), ends[0]);
  assert.deepEqual(await frame(k - 1), ends[1]);
  assert.notDeepEqual(await frame(2), ends[0]);
  for (const ext of ['gif', 'webp']) {
    const r = await ganHere(['interpolate', '--run', 'tiny', '--from', '42', '--to', '7', '--steps', String(k), '--out', `walk.${ext}`], work);
    assert.equal(r.status, 0, r.stderr);
    const meta = await sharp(path.join(work, `walk.${ext}`), { animated: true }).metadata();
    assert.equal(meta.pages, k);
    assert.equal(meta.pageHeight, RES);
  }
});

test('--trunc: psi 1 is the face without it, byte for byte; psi 0 the one average face of every seed; psi 0.5 between', async () => {
  const file = (name: string) => path.join(work, `trunc-${name}.png`);
  const run = async (name: string, ...args: string[]) => {
    const r = await ganHere(['sample', '--run', 'tiny', '--out', file(name), ...args], work);
    assert.equal(r.status, 0, r.stderr);
    return (await raw(file(name))).data;
  };
  const plain = await run('plain', '--seed', '42');
  await run('one', '--seed', '42', '--trunc', '1');
  assert.ok(fs.readFileSync(file('one')).equals(fs.readFileSync(file('plain'))));
  const half = await run('half', '--seed', '42', '--trunc', '0.5');
  const zero = await run('zero', '--seed', '42', '--trunc', '0');
  assert.deepEqual(await run('zero43', '--seed', '43', '--trunc', '0'), zero);
  assert.notDeepEqual(half, plain);
  assert.notDeepEqual(half, zero);
  assert.match((await sharp(file('half')).metadata()).xmp!.toString(), /seeds 42, truncation 0.5/);
  for (const [psi, why] of [['1.5', /--trunc must be from 0 \(the average face\) to 1/], ['-0.1', /--trunc must be from 0/], ['x', /--trunc must be a number/]] as const) {
    const r = await ganHere(['sample', '--run', 'tiny', '--trunc', psi, '--out', file('bad')], work);
    assert.equal(r.status, 2);
    assert.match(messages(r).join('\n'), why);
  }
});

test('gan runs lists the runs, also as JSON', async () => {
  const r = await ganHere(['runs', '--json'], work);
  assert.equal(r.status, 0);
  const runs = JSON.parse(r.stdout);
  assert.deepEqual(runs.map((x: { name: string }) => x.name), ['tiny', 'older']);
  assert.equal(runs[0].step, 4);
  assert.equal(runs[0].res, RES);
  assert.deepEqual(runs[0].checkpoints, listCheckpoints(path.join('checkpoints', 'tiny')).map((c) => c.step));
  assert.ok(fs.existsSync(path.join(work, runs[0].preview)));
  const table = await ganHere(['runs'], work);
  assert.match(table.stdout, /^tiny\s+16px\s+step 4/m);
});

test('sample errors: one line, exit 2, no stack trace', async () => {
  const empty = tempDir();
  fs.mkdirSync(path.join(work, 'broken', 'ckpt-00000001', 'generator'), { recursive: true });
  fs.writeFileSync(path.join(work, 'broken', 'ckpt-00000001', 'state.json'), '{"step": 1, "config": {"res": 16}, "time": "2000"}');
  fs.writeFileSync(path.join(work, 'broken', 'ckpt-00000001', 'generator', 'model.json'), '{"modelTopology": ');
  fs.cpSync(path.join(work, 'broken'), path.join(work, 'checkpoints', 'broken'), { recursive: true });
  const cases: [string[], string, RegExp][] = [
    [['sample', '--seed', '1', '--out', 'x.png'], empty, /no runs yet/],
    [['sample', '--run', 'nope', '--out', 'x.png'], work, /no run named "nope"/],
    [['sample', '--run', 'tiny', '--checkpoint', '3', '--out', 'x.png'], work, /no checkpoint at step 3/],
    [['sample', '--run', 'broken', '--out', 'x.png'], work, /corrupt/],
    [['sample', '--run', 'tiny', '--seed', '4.5', '--out', 'x.png'], work, /--seed must be an integer/],
    [['sample', '--run', 'tiny', '--seed', 'abc', '--out', 'x.png'], work, /--seed must be an integer/],
    [['sample', '--run', 'tiny', '--out', 'no/such/folder/x.png'], work, /folder of --out does not exist/],
    [['sample', '--run', 'tiny', '--out', 'x.bmp'], work, /--out must end in/],
    [['interpolate', '--run', 'tiny', '--from', '1', '--to', '2', '--out', 'x.txt'], work, /--out must end in/],
    [['interpolate', '--run', 'tiny', '--from', '1', '--to', '2', '--steps', '1', '--out', 'x.gif'], work, /--steps/],
  ];
  for (const [args, cwd, why] of cases) await assertOneLineErrors([[args, why]], cwd);
});
