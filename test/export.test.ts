import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { initBackend } from '../src/backend.js';
import { loadModel } from '../src/checkpoint.js';
import { deconvPads } from '../src/export/onnx.js';
import { serve } from '../src/export/serve.js';
import { loadSampler } from '../src/gan.js';
import { findCheckpoint } from '../src/runs.js';
import { latents, sampleSeeds } from '../src/sample.js';
import { tempDir } from './fixtures.js';
import { assertOneLineErrors, BIN, exitOf, gan, ganHere, messages, waitFor } from './helpers.js';
import { tinyRun } from './tiny.js';

let work: string;

before(async () => {
  await initBackend(process.env.GAN_TEST_BACKEND);
  work = tempDir();
  process.chdir(work);
  await tinyRun('tiny', { ema: 0.9 }); // a moving average: its standing statistics must travel with the export
});

const gen = async (...args: string[]) => (await ganHere(args, work)).status;

test('tfjs \'same\' padding of a stride-2, kernel-4 transposed convolution is one pixel each side in ONNX terms', () => {
  assert.deepEqual(deconvPads(4, 4, 2, 'same'), { out: 8, pads: [1, 1] });
  assert.deepEqual(deconvPads(1, 4, 1, 'valid'), { out: 4, pads: [0, 0] });
  assert.deepEqual(deconvPads(5, 3, 2, 'same'), { out: 10, pads: [0, 1] }); // odd total: the larger half after, as TensorFlow
});

test('gan export --onnx: onnxruntime runs it and matches the generator within 1e-4, BatchNorm folded away', async (t) => {
  const file = path.join(work, 'G.onnx');
  assert.equal(await gen('export', '--run', 'tiny', '--onnx', file), 0);
  const { G } = await loadSampler(findCheckpoint('tiny').dir);
  const latent = (G.inputs[0].shape as number[])[1];

  const graph = onnxProto.onnx.ModelProto.decode(fs.readFileSync(file)).graph!;
  assert.deepEqual(graph.node!.map((n) => n.opType),
    ['Reshape', 'ConvTranspose', 'Relu', 'ConvTranspose', 'Relu', 'ConvTranspose', 'Tanh', 'Transpose']);

  const session = await ort.InferenceSession.create(file);
  for (const seeds of [[42], [1, 2, 3]]) {
    const z = latents(seeds, latent);
    const want = tf.tidy(() => (G.apply(z, { training: false }) as tf.Tensor).dataSync());
    const out = (await session.run({ z: new ort.Tensor('float32', z.dataSync() as Float32Array, [seeds.length, latent]) })).images;
    z.dispose();
    assert.deepEqual(out.dims, [seeds.length, 16, 16, 3], 'NHWC');
    const got = out.data as Float32Array;
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
    t.diagnostic(`onnxruntime vs tfjs, ${seeds.length} faces: largest difference ${worst.toExponential(1)}`);
    assert.ok(worst < 1e-4, `off by ${worst}`);
    assert.ok(Math.max(...want) - Math.min(...want) > 0.01, 'a face, not a constant');
  }
  await session.release();
  G.dispose();
});

test('gan export --web writes the page, tfjs\'s bundles and the generator with its standing statistics', async () => {
  const dir = path.join(work, 'site');
  assert.equal(await gen('export', '--run', 'tiny', '--web', dir), 0);
  for (const f of ['index.html', 'page.js', 'style.css', 'latent.js', 'rng.js', 'tf.min.js', 'tf-backend-webgpu.min.js', 'about.json',
    'model/model.json', 'model/weights.bin']) assert.ok(fs.existsSync(path.join(dir, f)), f);
  const { G } = await loadSampler(findCheckpoint('tiny').dir);
  const latent = (G.inputs[0].shape as number[])[1];
  const about = JSON.parse(fs.readFileSync(path.join(dir, 'about.json'), 'utf8'));
  assert.deepEqual(about, { generatedBy: 'gan export', run: 'tiny', step: 4, ema: true, res: 16, latent });
  assert.doesNotMatch(fs.readFileSync(path.join(dir, 'latent.js'), 'utf8'), /sourceMappingURL/);

  // the exported model alone (no standing statistics recomputed) makes gan sample's faces
  const exported = await loadModel(path.join(dir, 'model'));
  assert.deepEqual(await sampleSeeds(exported, [3, 42]), await sampleSeeds(G, [3, 42]));
  const { G: raw } = await loadSampler(findCheckpoint('tiny').dir, false);
  assert.notDeepEqual(await sampleSeeds(exported, [3]), await sampleSeeds(raw, [3]), 'the moving average, not G');
  [exported, G, raw].forEach((m) => m.dispose());

  // the page's modules draw gan sample's latents: they are gan's own, compiled
  const page = await import(path.join(dir, 'latent.js'));
  const z = latents([42], latent);
  assert.deepEqual(page.latentOf(42, latent), z.dataSync());
  z.dispose();

  // again over an earlier export: replaced whole
  fs.writeFileSync(path.join(dir, 'stale.txt'), 'x');
  assert.equal(await gen('export', '--run', 'tiny', '--no-ema', '--web', dir), 0);
  assert.ok(!fs.existsSync(path.join(dir, 'stale.txt')));
  assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'about.json'), 'utf8')).ema, false);
});

test('gan serve\'s server: the page with JavaScript types, nothing outside its folder', async () => {
  const dir = path.join(work, 'served');
  assert.equal(await gen('export', '--run', 'tiny', '--web', dir), 0);
  fs.writeFileSync(path.join(work, 'secret.txt'), 'not for the web');
  const { server, url } = await serve(dir, 0);
  try {
    const get = (p: string) => fetch(url + p, { signal: AbortSignal.timeout(10_000) });
    const index = await get('');
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-type')!, /text\/html/);
    assert.match(await index.text(), /New face/);
    assert.match((await get('page.js')).headers.get('content-type')!, /text\/javascript/);
    const weights = await get('model/weights.bin');
    assert.deepEqual(new Uint8Array(await weights.arrayBuffer()), new Uint8Array(fs.readFileSync(path.join(dir, 'model', 'weights.bin'))));
    for (const bad of ['../secret.txt', '%2e%2e/secret.txt', 'model/../../secret.txt', 'nope.js', '%E0%A4%A']) {
      assert.equal((await get(bad)).status, 404, bad);
    }
  } finally {
    server.close();
  }
  await assert.rejects(serve(work, 0), /has no index.html/);
});

test('gan serve prints its URL, serves, and stops on Ctrl-C with exit 0', async () => {
  const dir = path.join(work, 'served2');
  assert.equal(await gen('export', '--run', 'tiny', '--web', dir), 0);
  const child = spawn(process.execPath, [BIN, 'serve', dir, '--port', '0'], { cwd: work });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const exited = exitOf(child, 30_000);
  await waitFor(() => /http:\/\/\S+/.test(err), 'gan serve to print its URL', 20_000);
  const url = /http:\/\/\S+/.exec(err)![0];
  assert.equal((await fetch(url, { signal: AbortSignal.timeout(10_000) })).status, 200);
  child.kill('SIGINT');
  assert.equal(await exited, 0, err);
});

test('export errors: one line, exit 2 (in this process, and once as a command)', async () => {
  fs.mkdirSync(path.join(work, 'mine'), { recursive: true });
  fs.writeFileSync(path.join(work, 'mine', 'notes.txt'), 'keep me');
  const cases: [string[], RegExp][] = [
    [['export', '--run', 'tiny'], /say what to export: --web \(a folder\), --onnx \(a .onnx file\), or both/],
    [['export', '--run', 'tiny', '--web', 'mine'], /exists and is not an earlier export/],
    [['export', '--run', 'tiny', '--onnx', 'G.pt'], /--onnx must end in .onnx/],
    [['export', '--run', 'tiny', '--onnx', 'no/such/G.onnx'], /folder of --onnx does not exist/],
    [['export', '--run', 'nope', '--onnx', 'G.onnx'], /no run named "nope"/],
    [['serve', 'mine'], /has no index.html/],
    [['serve', 'served', '--port', '70000'], /--port must be from 0 to 65535/],
  ];
  await assertOneLineErrors(cases, work);
  assert.equal(fs.readFileSync(path.join(work, 'mine', 'notes.txt'), 'utf8'), 'keep me');
  const r = gan(cases[1][0], work);
  assert.equal(r.status, 2);
  assert.match(messages(r).join('\n'), cases[1][1]);
});
