// TensorBoard event files, read back by an independent decoder: test/tfevents.py, with its own CRC32C and
// Google's protobuf classes that protoc makes from TensorBoard's own .proto files (test/proto/).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fsDefault, * as fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { mock, test } from 'node:test';
import sharp from 'sharp';
import { GanError } from '../src/errors.js';
import { encodeImage, grid } from '../src/images.js';
import { openEvents } from '../src/tensorboard.js';
import { tempDir } from './fixtures.js';
import { ROOT } from './helpers.js';

const PROTOS = ['event', 'summary', 'histogram', 'tensor', 'tensor_shape', 'types', 'resource_handle']
  .map((p) => `tensorboard/compat/proto/${p}.proto`);

/** protoc's Python classes for TensorBoard's .proto files, and a python3 that has google.protobuf to run
 * them; or why not. */
function decoder(): { python: string; classes: string } | string {
  const runs = (cmd: string, args: string[]) => spawnSync(cmd, args, { timeout: 30_000 }).status === 0;
  const python = ['/usr/bin/python3', 'python3'].find((p) => runs(p, ['-c', 'import google.protobuf']));
  const protoc = runs('protoc', ['--version']);
  if (!python || !protoc) {
    const missing = [protoc ? '' : 'protoc', python ? '' : 'a python3 with google.protobuf'].filter(Boolean).join(' and ');
    return `needs ${missing} to decode event files (Debian: apt-get install protobuf-compiler python3-protobuf, as .ci/run does)`;
  }
  const classes = tempDir('gan-tfproto-');
  const r = spawnSync('protoc', ['-I', path.join(ROOT, 'test', 'proto'), `--python_out=${classes}`, ...PROTOS], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  // packages of their own, so that an installed tensorboard package cannot stand in for them
  for (const dir of ['tensorboard', 'tensorboard/compat', 'tensorboard/compat/proto']) fs.writeFileSync(path.join(classes, dir, '__init__.py'), '');
  return { python, classes };
}
const DECODER = decoder();

interface Value {
  tag: string;
  kind: string;
  simple_value?: number;
  image?: { height: number; width: number; colorspace: number; png: string };
}
interface Event {
  wall_time: number;
  step: number;
  what: string;
  unknown_fields: boolean;
  writer?: string;
  file_version?: string;
  session_status?: string;
  values?: Value[];
}
interface Decoded {
  file: string;
  events: Event[];
  torn_bytes: number;
}

/** The events of each file (exits non-zero on any bad CRC), and the checker's CRC32C of "123456789". */
function decode(files: string[]): { crc32c_check: number; files: Decoded[] } {
  const { python, classes } = DECODER as Exclude<typeof DECODER, string>;
  const r = spawnSync(python, [path.join(ROOT, 'test', 'tfevents.py'), classes, ...files], { encoding: 'utf8', timeout: 60_000, maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

const eventFiles = (dir: string) => fs.readdirSync(dir).filter((f) => f.startsWith('events.out.tfevents.')).sort().map((f) => path.join(dir, f));

/** A preview-like grid of random pixels, wider than high, and its PNG. */
async function randomGrid(n: number, res: number) {
  const img = grid(Uint8Array.from({ length: n * res * res * 3 }, () => Math.floor(Math.random() * 256)), n, res, Math.ceil(n / 2));
  return { img, png: await encodeImage(img, '.png') };
}

test('an events file reads back, while it is still open, with TensorBoard\'s .proto: CRCs, file_version, scalars and an image', async (t) => {
  if (typeof DECODER === 'string') return t.skip(DECODER);
  const dir = tempDir();
  const { img, png } = await randomGrid(6, 6);
  const t0 = Date.now() / 1000;
  const events = openEvents(path.join(dir, 'run'));
  const scalars = (step: number) => ({ d_loss: 1 / (step + 3), g_loss: 2 + step / 7, 'D(x)': 0.9 });
  events.image(0, 'previews', png);
  for (let step = 1; step <= 3; step++) events.scalars(step, scalars(step));
  events.image(3, 'previews', png);
  assert.throws(() => events.image(3, 'previews', Buffer.from('not a png')), /not a PNG/);
  const t1 = Date.now() / 1000;

  assert.match(path.basename(events.file), new RegExp(`^events\\.out\\.tfevents\\.\\d{10}\\.${os.hostname().replace(/\W/g, '\\$&')}$`));
  const seconds = Number(path.basename(events.file).split('.')[3]);
  assert.ok(seconds >= Math.floor(t0) && seconds <= t1, `${seconds} in [${t0}, ${t1}]`);
  const read = decode([events.file]); // before close(): TensorBoard reads runs while they train
  events.close();

  assert.equal(read.crc32c_check, 0xe3069283, 'the checker\'s CRC32C of "123456789"');
  const [{ events: ev, torn_bytes }] = read.files;
  assert.equal(torn_bytes, 0);
  assert.equal(ev.length, 2 + 1 + 3 + 1);
  assert.ok(ev.every((e) => !e.unknown_fields));
  assert.ok(ev.every((e) => e.wall_time >= t0 - 0.001 && e.wall_time <= t1 + 0.001), 'wall times');
  assert.deepEqual([ev[0].what, ev[0].file_version, ev[0].writer, ev[0].step], ['file_version', 'brain.Event:2', 'gan', 0]);
  assert.deepEqual([ev[1].what, ev[1].session_status, ev[1].step], ['session_log', 'START', 0]);

  const scalarEvents = ev.filter((e) => e.values?.[0].kind === 'simple_value');
  assert.deepEqual(scalarEvents.map((e) => e.step), [1, 2, 3]);
  for (const e of scalarEvents) {
    assert.deepEqual(e.values, Object.entries(scalars(e.step)).map(([tag, v]) => ({ tag, kind: 'simple_value', simple_value: Math.fround(v) })));
  }
  const images = ev.filter((e) => e.values?.[0].kind === 'image');
  assert.deepEqual(images.map((e) => [e.step, e.values!.length, e.values![0].tag]), [[0, 1, 'previews'], [3, 1, 'previews']]);
  for (const e of images) {
    const { height, width, colorspace, png: encoded } = e.values![0].image!;
    assert.deepEqual([height, width, colorspace], [img.height, img.width, 3]);
    const { data, info } = await sharp(Buffer.from(encoded, 'base64')).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height, info.channels], [img.width, img.height, 3]);
    assert.ok(Buffer.from(img.data).equals(data), 'the image decodes to the grid\'s pixels');
  }
});

interface Point {
  step: number;
  file: number; // index in name order
  value: number | string;
}

/**
 * Each tag's values as TensorBoard keeps them from a run's files, read in name order as it reads them.
 * 'python', its Python loader (backend/event_processing/plugin_event_accumulator.py): with file_version 2,
 * a SessionLog START, but a run's first, drops every value at or after its step. 'rust', its Rust loader
 * (data/server/reservoir.rs): each new value drops its own tag's values at or after its step.
 */
function tensorboardView(files: Decoded[], loader: 'python' | 'rust'): Record<string, Point[]> {
  const view: Record<string, Point[]> = {};
  let started = false;
  files.forEach(({ events }, file) => {
    for (const e of events) {
      if (loader === 'python' && e.session_status === 'START') {
        if (started) for (const tag in view) view[tag] = view[tag].filter((p) => p.step < e.step);
        started = true;
      }
      for (const v of e.values ?? []) {
        const points = (view[v.tag] ??= []);
        if (loader === 'rust') view[v.tag] = points.filter((p) => p.step < e.step);
        view[v.tag].push({ step: e.step, file, value: v.simple_value ?? v.image!.png });
      }
    }
  });
  return view;
}

test('a resumed run appends a new file, whose values replace the orphans after the checkpoint in TensorBoard\'s view', async (t) => {
  if (typeof DECODER === 'string') return t.skip(DECODER);
  const dir = tempDir();
  const [before, after] = [await randomGrid(4, 4), await randomGrid(4, 4)];
  const first = openEvents(dir);
  first.image(0, 'previews', before.png);
  for (let step = 1; step <= 10; step++) {
    first.scalars(step, { d_loss: step + 0.25 });
    if (step % 5 === 0) first.image(step, 'previews', before.png);
  }
  assert.throws(() => first.scalars(9, { d_loss: 0 }), /step 9 goes back before step 10/);
  first.close(); // stopped at step 10; its last checkpoint was at step 6

  const second = openEvents(dir, { resumedAt: 6 });
  assert.throws(() => second.scalars(6, { d_loss: 0 }), /step 6 goes back before step 7 \(resumed at 6\)/);
  for (let step = 7; step <= 12; step++) {
    second.scalars(step, { d_loss: step + 0.5 });
    if (step % 5 === 0) second.image(step, 'previews', after.png);
  }
  second.close();

  const files = eventFiles(dir);
  assert.deepEqual(files, [first.file, second.file], 'two files, in the order they were written');
  const seconds = files.map((f) => Number(path.basename(f).split('.')[3]));
  assert.ok(seconds[1] > seconds[0], `${seconds}: the new file sorts after the old one even within one second`);
  const read = decode(files).files;
  assert.deepEqual(read[1].events.slice(0, 2).map((e) => [e.what, e.step, e.session_status]),
    [['file_version', 0, undefined], ['session_log', 7, 'START']]);

  const expected = {
    d_loss: Array.from({ length: 12 }, (_, i) => i + 1).map((step) => step <= 6 ? { step, file: 0, value: step + 0.25 } : { step, file: 1, value: step + 0.5 }),
    previews: [{ step: 0, file: 0, value: before.png }, { step: 5, file: 0, value: before.png }, { step: 10, file: 1, value: after.png }]
      .map((p) => ({ ...p, value: p.value.toString('base64') })),
  };
  assert.deepEqual(tensorboardView(read, 'python'), expected);
  assert.deepEqual(tensorboardView(read, 'rust'), expected);
  // the START is what makes the Python loader drop the orphans: without it, the curve would go back
  const withoutStart = tensorboardView(read.map((f) => ({ ...f, events: f.events.filter((e) => e.what !== 'session_log') })), 'python');
  assert.deepEqual(withoutStart.d_loss.map((p) => p.step), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 7, 8, 9, 10, 11, 12]);
});

test('a failed or short write (disk full) is a GanError that names the file, which keeps its whole records', async (t) => {
  if (typeof DECODER === 'string') return t.skip(DECODER);
  const dir = tempDir();
  const writeSync = fs.writeSync;
  const failing = (how: (fd: number, data: Uint8Array) => number) => {
    mock.method(fsDefault, 'writeSync', how);
    syncBuiltinESMExports(); // the module's `import * as fs` sees the mock too
  };
  const cases: [string, (fd: number, data: Uint8Array) => number, RegExp][] = [
    ['short', (fd, data) => writeSync(fd, data.subarray(0, data.length >> 1)), /: \d+ of \d+ bytes written \(disk full\?\)$/],
    ['ENOSPC', () => { throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }); }, /no space left on device/],
  ];
  for (const [name, how, message] of cases) {
    const events = openEvents(path.join(dir, name));
    events.scalars(1, { d_loss: 1 });
    const whole = fs.statSync(events.file).size;
    failing(how);
    try {
      assert.throws(() => events.scalars(2, { d_loss: 2 }), (e: Error) => {
        assert.ok(e instanceof GanError, name);
        assert.ok(e.message.startsWith(`could not write ${events.file}: `), e.message);
        assert.match(e.message, message);
        return true;
      });
    } finally {
      mock.restoreAll();
      syncBuiltinESMExports();
    }
    assert.equal(fs.statSync(events.file).size, whole, `${name}: cut back to its whole records`);
    assert.throws(() => events.scalars(3, { d_loss: 3 }), /is closed/);
    const [read] = decode([events.file]).files;
    assert.equal(read.torn_bytes, 0);
    assert.deepEqual(read.events.map((e) => [e.what, e.step]), [['file_version', 0], ['session_log', 0], ['summary', 1]]);
  }
});

test('gan train writes an events file: the losses at every step and the preview grid at every preview', async (t) => {
  if (typeof DECODER === 'string') return t.skip(DECODER);
  const { initBackend } = await import('../src/backend.js');
  const { train } = await import('../src/train.js');
  const { disposeGan } = await import('../src/gan.js');
  await initBackend(process.env.GAN_TEST_BACKEND);
  const r = await train({ res: 16, run: 'events', checkpointsDir: tempDir(), maxSteps: 3, threads: 1, quiet: true,
    overrides: { width: 4, batch: 4, epochs: 1, previewEvery: 2, checkpointEvery: 100 } });
  disposeGan(r.gan);
  const [file] = decode(eventFiles(r.runDir)).files;
  const summaries = file.events.filter((e) => e.what === 'summary');
  const losses = fs.readFileSync(path.join(r.runDir, 'losses.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(',').map(Number));
  const scalar = (tag: string) => summaries.flatMap((e) => (e.values ?? []).filter((v) => v.tag === tag).map((v) => [e.step, v.simple_value]));
  // float32 in the file: the CSV's float64 rounded
  assert.deepEqual(scalar('loss/D'), losses.map((l) => [l[0], Math.fround(l[2])]));
  assert.deepEqual(scalar('loss/G'), losses.map((l) => [l[0], Math.fround(l[3])]));
  assert.deepEqual(scalar('D/real D(x)').map(([s]) => s), [1, 2, 3]);
  // previews at steps 0 and 2, and the last step's: each image the PNG written beside it
  const images = summaries.flatMap((e) => (e.values ?? []).filter((v) => v.image).map((v) => ({ step: e.step, png: Buffer.from(v.image!.png, 'base64') })));
  assert.deepEqual(images.map((i) => i.step), [0, 2, 3]);
  for (const { step, png } of images) {
    assert.ok(png.equals(fs.readFileSync(path.join(r.runDir, 'previews', `step-${String(step).padStart(8, '0')}.png`))), `preview of step ${step}`);
  }
});
