// Checkpoints: checkpoints/<run>/ckpt-<step>/ holds G and D (and G's moving average, when kept) in the tfjs
// layers format (model.json + weights.bin, loadable by tf.loadLayersModel anywhere), both optimizers' state, and state.json (step,
// epoch, seed, config, data fingerprint). It is written into a temporary folder and renamed into place, so
// a kill at any moment leaves only whole checkpoints; leftovers of an interrupted write are never loaded.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { tempPath, writeFileAtomic } from './atomic.js';
import { savedConfig, type TrainConfig } from './config.js';
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

/** A run's checkpoints, oldest first: the whole ones, and the damaged ones with what is wrong with each. */
export function scanCheckpoints(runDir: string): { whole: Checkpoint[]; damaged: (Checkpoint & { why: string })[] } {
  const all = (fs.existsSync(runDir) ? fs.readdirSync(runDir) : [])
    .map((f) => ({ f, m: NAME.exec(f) }))
    .filter(({ m }) => m)
    .map(({ f, m }) => ({ dir: path.join(runDir, f), step: Number(m![1]), why: damage(path.join(runDir, f)) }))
    .sort((a, b) => a.step - b.step);
  return {
    whole: all.filter((c) => c.why === undefined).map(({ dir, step }) => ({ dir, step })),
    damaged: all.filter((c): c is Checkpoint & { why: string } => c.why !== undefined),
  };
}

/** Whole checkpoints of a run, oldest first. */
export function listCheckpoints(runDir: string): Checkpoint[] {
  return scanCheckpoints(runDir).whole;
}

/** Moves a damaged checkpoint out of the way (kept for a look, never loaded); returns its new name. */
export function setAside(c: Checkpoint): string {
  const to = path.join(path.dirname(c.dir), `damaged-${path.basename(c.dir)}-${Date.now().toString(36)}`);
  fs.renameSync(c.dir, to);
  return to;
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1 };

/** Bytes of the weights that `specs` declare. */
function declaredBytes(specs: tf.io.WeightsManifestEntry[]): number {
  return specs.reduce((n, s) => {
    if (!(s.dtype in DTYPE_BYTES) || s.quantization || !s.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new Error(`weight ${s.name}: unsupported entry`);
    return n + DTYPE_BYTES[s.dtype] * s.shape.reduce((a, b) => a * b, 1);
  }, 0);
}

/** `name` inside `dir`; a name that leads out of it (a checkpoint from elsewhere may say anything) is refused. */
function inside(dir: string, name: unknown): string {
  const rel = typeof name === 'string' ? path.relative(dir, path.resolve(dir, name)) : '..';
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) throw new Error(`${JSON.stringify(name)} is not a file inside ${dir}`);
  return path.join(dir, rel);
}

/** A file's bytes, once its size is what the manifest declares (nothing is allocated for a file of another size). */
function readExactly(file: string, bytes: number): Uint8Array {
  const size = fs.statSync(file).size;
  if (size !== bytes) throw new Error(`${path.basename(file)} has ${size} bytes, not the ${bytes} its manifest declares`);
  return fs.readFileSync(file);
}

/** A saved model's model.json, with its weight files checked: inside the folder, of the declared size. */
function modelFiles(dir: string): { topology: tf.io.ModelJSON['modelTopology']; specs: tf.io.WeightsManifestEntry[]; files: string[]; bytes: number } {
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON;
  const groups = json.weightsManifest;
  if (!json.modelTopology || !Array.isArray(groups) || groups.length === 0) throw new Error(`${dir}/model.json has no topology or weights manifest`);
  const specs = groups.flatMap((g) => g.weights);
  const files = groups.flatMap((g) => g.paths.map((p) => inside(dir, p)));
  const bytes = declaredBytes(specs);
  const sizes = files.reduce((n, f) => n + fs.statSync(f).size, 0);
  if (sizes !== bytes) throw new Error(`${dir}: the weight files have ${sizes} bytes, not the ${bytes} model.json declares`);
  return { topology: json.modelTopology, specs, files, bytes };
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

/** Loads a layers model saved by saveModel (or by tfjs-node's file:// handler), its files checked first. */
export async function loadModel(dir: string): Promise<tf.LayersModel> {
  const m = modelFiles(dir);
  const weightData = Buffer.concat(m.files.map((f) => fs.readFileSync(f)));
  if (weightData.length !== m.bytes) throw new Error(`${dir}: the weight files changed while being read`);
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: m.topology, weightSpecs: m.specs, weightData: Uint8Array.from(weightData).buffer }));
}

export interface Trainables {
  G: tf.LayersModel;
  D: tf.LayersModel;
  ema?: tf.LayersModel;
  optimizerState(): { tG: number; tD: number; tensors: tf.NamedTensorMap };
}

/**
 * Writes a checkpoint of `step` (a no-op if a whole one exists) and keeps only the newest `keep`, and the one
 * at step `alsoKeep` (the best so far). A checkpoint that did not write whole (a full disk) is not renamed into
 * place, and then nothing older is removed.
 */
export async function saveCheckpoint(runDir: string, t: Trainables, state: CheckpointState, keep: number, alsoKeep?: number): Promise<string> {
  const final = checkpointDir(runDir, state.step);
  if (fs.existsSync(final) && damage(final) === undefined) return final;
  const tmp = tempPath(final);
  try {
    await saveModel(t.G, path.join(tmp, 'generator'));
    await saveModel(t.D, path.join(tmp, 'discriminator'));
    if (t.ema) await saveModel(t.ema, path.join(tmp, 'generator_ema'));
    const opt = t.optimizerState();
    const { data, specs } = await tf.io.encodeWeights(opt.tensors);
    writeFileAtomic(path.join(tmp, 'optimizer.bin'), new Uint8Array(data));
    const file: StateFile = { ...state, optimizer: { tG: opt.tG, tD: opt.tD, specs } };
    writeFileAtomic(path.join(tmp, 'state.json'), JSON.stringify(file, null, 1));
    const why = damage(tmp);
    if (why) throw new Error(`the checkpoint did not write whole (${why})`);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  fs.rmSync(final, { recursive: true, force: true });
  fs.renameSync(tmp, final);
  const all = listCheckpoints(runDir);
  for (const old of all.slice(0, Math.max(0, all.length - keep))) {
    if (old.step !== alsoKeep) fs.rmSync(old.dir, { recursive: true, force: true });
  }
  return final;
}

/** The run's best checkpoint by Fréchet distance (kept besides the newest ones), when it is there and whole. */
export function readBest(runDir: string): { step: number; frechet: number } | undefined {
  try {
    const best = JSON.parse(fs.readFileSync(path.join(runDir, 'best.json'), 'utf8')) as { step: number; frechet: number };
    return Number.isSafeInteger(best.step) && typeof best.frechet === 'number' && damage(checkpointDir(runDir, best.step)) === undefined ? best : undefined;
  } catch {
    return undefined;
  }
}

export function writeBest(runDir: string, best: { step: number; frechet: number }): void {
  writeFileAtomic(path.join(runDir, 'best.json'), JSON.stringify(best));
}

/** Removes what an interrupted checkpoint write left behind. */
export function removeLeftovers(runDir: string): void {
  if (!fs.existsSync(runDir)) return;
  for (const f of fs.readdirSync(runDir)) {
    if (f.startsWith('.ckpt-') && f.includes('.tmp-')) fs.rmSync(path.join(runDir, f), { recursive: true, force: true });
  }
}

/** state.json, checked: its step, its config (as a fresh run's would be) and its optimizer's manifest. */
function readStateFile(dir: string): StateFile {
  const state = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as StateFile;
  if (typeof state !== 'object' || state === null || !Number.isSafeInteger(state.step) || state.step < 0) throw new Error('state.json has no step');
  if (!Array.isArray(state.optimizer?.specs)) throw new Error('state.json has no optimizer manifest');
  return { ...state, config: savedConfig(state.config) };
}

/** What is wrong with the checkpoint in `dir`, or undefined when it is whole: every file there, each as its manifest says. */
export function damage(dir: string): string | undefined {
  try {
    const state = readStateFile(dir);
    for (const part of ['generator', 'discriminator', 'generator_ema']) {
      if (part !== 'generator_ema' || fs.existsSync(path.join(dir, part))) modelFiles(path.join(dir, part));
    }
    const size = fs.statSync(path.join(dir, 'optimizer.bin')).size;
    if (size !== declaredBytes(state.optimizer.specs)) throw new Error(`optimizer.bin has ${size} bytes, not the ${declaredBytes(state.optimizer.specs)} state.json declares`);
    return undefined;
  } catch (e) {
    return (e as Error).message.split('\n')[0].replace(`${dir}/`, '').replace(`${dir}: `, '');
  }
}

export function readState(dir: string): CheckpointState {
  try {
    const { optimizer: _, ...state } = readStateFile(dir);
    return state;
  } catch (e) {
    throw new GanError(`checkpoint ${dir} is unreadable (${(e as Error).message.split('\n')[0]})`);
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
    const { optimizer, ...state } = readStateFile(dir);
    const G = await loadModel(path.join(dir, 'generator'));
    const D = parts.D ? await loadModel(path.join(dir, 'discriminator')) : undefined;
    const emaDir = path.join(dir, 'generator_ema');
    const ema = fs.existsSync(emaDir) ? await loadModel(emaDir) : undefined;
    let tensors: tf.NamedTensorMap = {};
    if (parts.optimizer) {
      const bin = readExactly(path.join(dir, 'optimizer.bin'), declaredBytes(optimizer.specs));
      tensors = tf.io.decodeWeights(Uint8Array.from(bin).buffer, optimizer.specs);
    }
    return { state, G, D, ema, optimizer: { tG: optimizer.tG, tD: optimizer.tD, tensors } };
  } catch (e) {
    throw new GanError(`checkpoint ${dir} is unreadable or corrupt (${(e as Error).message.split('\n')[0]})`);
  }
}
