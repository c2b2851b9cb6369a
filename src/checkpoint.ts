// Checkpoints: checkpoints/<run>/ckpt-<step>/ holds G and D (and G's moving average, when kept) in the tfjs
// layers format (model.json + weights.bin, loadable by tf.loadLayersModel anywhere), both optimizers' state, and state.json (step,
// epoch, seed, config, data fingerprint). It is written into a temporary folder and renamed into place, so
// a kill at any moment leaves only whole checkpoints; leftovers of an interrupted write are never loaded.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { tempPath, writeFileAtomic } from './atomic.js';
import type { TrainConfig } from './config.js';
import { GanError } from './errors.js';

export interface CheckpointState {
  step: number;
  epoch: number; // epochs completed
  config: TrainConfig;
  data: string; // name of the data it trains on
  dataDir?: string; // its cache folder
  fingerprint: string; // of that data
  time: string;
  losses?: { d: number; g: number };
}

interface StateFile extends CheckpointState {
  optimizer: { tG: number; tD: number; specs: tf.io.WeightsManifestEntry[] };
}

export interface Checkpoint {
  dir: string;
  step: number;
}

const NAME = /^ckpt-(\d+)$/;

export function checkpointDir(runDir: string, step: number): string {
  return path.join(runDir, `ckpt-${String(step).padStart(8, '0')}`);
}

/** Whole checkpoints of a run, oldest first. */
export function listCheckpoints(runDir: string): Checkpoint[] {
  if (!fs.existsSync(runDir)) return [];
  return fs.readdirSync(runDir)
    .map((f) => ({ f, m: NAME.exec(f) }))
    .filter(({ f, m }) => m && fs.existsSync(path.join(runDir, f, 'state.json')))
    .map(({ f, m }) => ({ dir: path.join(runDir, f), step: Number(m![1]) }))
    .sort((a, b) => a.step - b.step);
}

/** Writes a layers model as model.json + weights.bin into `dir`, each file atomically. */
export async function saveModel(model: tf.LayersModel, dir: string): Promise<void> {
  await model.save(tf.io.withSaveHandler(async (a) => {
    const weights = new Uint8Array(tf.io.CompositeArrayBuffer.join(a.weightData!));
    writeFileAtomic(path.join(dir, 'weights.bin'), weights);
    writeFileAtomic(path.join(dir, 'model.json'), JSON.stringify({
      format: 'layers-model',
      generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
      convertedBy: null,
      modelTopology: a.modelTopology,
      weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }],
    }));
    return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(a) };
  }));
}

/** Loads a layers model saved by saveModel (or by tfjs-node's file:// handler). */
export async function loadModel(dir: string): Promise<tf.LayersModel> {
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const manifest = json.weightsManifest as tf.io.WeightsManifestConfig;
  const weightData = Uint8Array.from(fs.readFileSync(path.join(dir, manifest[0].paths[0]))).buffer;
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: manifest[0].weights, weightData }));
}

export interface Trainables {
  G: tf.LayersModel;
  D: tf.LayersModel;
  ema?: tf.LayersModel;
  optimizerState(): { tG: number; tD: number; tensors: tf.NamedTensorMap };
}

/** Writes a checkpoint of `step` (a no-op if it exists) and keeps only the newest `keep`. */
export async function saveCheckpoint(runDir: string, t: Trainables, state: CheckpointState, keep: number): Promise<string> {
  const final = checkpointDir(runDir, state.step);
  if (fs.existsSync(path.join(final, 'state.json'))) return final;
  const tmp = tempPath(final);
  await saveModel(t.G, path.join(tmp, 'generator'));
  await saveModel(t.D, path.join(tmp, 'discriminator'));
  if (t.ema) await saveModel(t.ema, path.join(tmp, 'generator_ema'));
  const opt = t.optimizerState();
  const { data, specs } = await tf.io.encodeWeights(opt.tensors);
  writeFileAtomic(path.join(tmp, 'optimizer.bin'), new Uint8Array(data));
  const file: StateFile = { ...state, optimizer: { tG: opt.tG, tD: opt.tD, specs } };
  writeFileAtomic(path.join(tmp, 'state.json'), JSON.stringify(file, null, 1)); // last: marks it whole
  fs.rmSync(final, { recursive: true, force: true });
  fs.renameSync(tmp, final);
  const all = listCheckpoints(runDir);
  for (const old of all.slice(0, Math.max(0, all.length - keep))) fs.rmSync(old.dir, { recursive: true, force: true });
  return final;
}

/** Removes what an interrupted checkpoint write left behind. */
export function removeLeftovers(runDir: string): void {
  if (!fs.existsSync(runDir)) return;
  for (const f of fs.readdirSync(runDir)) {
    if (f.startsWith('.ckpt-') && f.includes('.tmp-')) fs.rmSync(path.join(runDir, f), { recursive: true, force: true });
  }
}

export function readState(dir: string): CheckpointState {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as StateFile;
  } catch (e) {
    throw new GanError(`checkpoint ${dir} is unreadable (${(e as Error).message})`);
  }
}

export interface LoadedCheckpoint {
  state: CheckpointState;
  G: tf.LayersModel;
  D?: tf.LayersModel;
  ema?: tf.LayersModel;
  optimizer: { tG: number; tD: number; tensors: tf.NamedTensorMap };
}

export async function loadCheckpoint(dir: string, parts: { D?: boolean; optimizer?: boolean } = { D: true, optimizer: true }): Promise<LoadedCheckpoint> {
  try {
    const state = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as StateFile;
    const G = await loadModel(path.join(dir, 'generator'));
    const D = parts.D ? await loadModel(path.join(dir, 'discriminator')) : undefined;
    const emaDir = path.join(dir, 'generator_ema');
    const ema = fs.existsSync(emaDir) ? await loadModel(emaDir) : undefined;
    let tensors: tf.NamedTensorMap = {};
    if (parts.optimizer) {
      const bin = Uint8Array.from(fs.readFileSync(path.join(dir, 'optimizer.bin'))).buffer;
      tensors = tf.io.decodeWeights(bin, state.optimizer.specs);
    }
    const { optimizer, ...rest } = state;
    return { state: rest, G, D, ema, optimizer: { tG: optimizer.tG, tD: optimizer.tD, tensors } };
  } catch (e) {
    throw new GanError(`checkpoint ${dir} is unreadable or corrupt (${(e as Error).message.split('\n')[0]})`);
  }
}

