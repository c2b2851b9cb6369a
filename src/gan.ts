// The GAN being trained: its architecture and loss, both networks, their optimizers, and the moving average of
// G that samples come from.
import * as tf from '@tensorflow/tfjs';
import { Adam } from './adam.js';
import { loadCheckpoint } from './checkpoint.js';
import type { TrainConfig } from './config.js';
import { LOSS_FUNCTIONS, type Loss } from './losses.js';
import { ARCHITECTURES, type Architecture } from './model.js';
import { Rng } from './rng.js';

/** The two networks and their optimizers. */
export interface Gan {
  config: TrainConfig;
  arch: Architecture;
  loss: Loss;
  G: tf.LayersModel;
  D: tf.LayersModel;
  gVars: tf.Variable[];
  dVars: tf.Variable[];
  optG: Adam;
  optD: Adam;
  /** A moving average of G's weights (when c.ema > 0): smoother faces to sample from than G itself. */
  ema?: tf.LayersModel;
  /** Whether the average's BatchNorm statistics fit its current weights. */
  emaStats?: boolean;
}

export function createGan(c: TrainConfig, models?: { G: tf.LayersModel; D: tf.LayersModel; ema?: tf.LayersModel }): Gan {
  const arch = ARCHITECTURES[c.arch];
  const G = models?.G ?? arch.generator(c, c.seed * 1000);
  const D = models?.D ?? arch.discriminator(c, c.seed * 1000);
  const trainable = (m: tf.LayersModel) => m.trainableWeights.map((w) => w.read() as tf.Variable);
  const gVars = trainable(G);
  const dVars = trainable(D);
  const adam = (lr: number) => ({ lr, beta1: c.beta1, beta2: c.beta2, eps: 1e-8 });
  let ema = models?.ema;
  if (c.ema > 0 && !ema) {
    ema = arch.generator(c, c.seed * 1000);
    ema.setWeights(G.getWeights());
  }
  return { config: c, arch, loss: LOSS_FUNCTIONS[c.loss], G, D, gVars, dVars, optG: new Adam(gVars, adam(c.lrG)), optD: new Adam(dVars, adam(c.lrD)), ema };
}

/**
 * ema ← d·ema + (1-d)·G after each step, with d warming up as min(decay, (1+t)/(10+t)) so early averages
 * do not drag the random initial weights along. Only the trainable weights are averaged: the BatchNorm
 * statistics are set by `sampler` when the average is used.
 */
export function updateEma(gan: Gan, decay: number, step: number): void {
  if (!gan.ema) return;
  const d = Math.min(decay, (1 + step) / (10 + step));
  tf.tidy(() => gan.ema!.trainableWeights.forEach((e, i) => e.write(e.read().mul(d).add(gan.G.trainableWeights[i].read().mul(1 - d)))));
  gan.emaStats = false;
}

/**
 * Sets every BatchNorm's moving mean and variance to those of its input over the latents z ("standing
 * statistics", as BigGAN samples its averaged generator): sampling z then gives what training mode gives.
 * It runs the generator as training does, so it works on any layer graph the architecture trains.
 */
export function standingStatistics(arch: Architecture, G: tf.LayersModel, z: tf.Tensor2D): void {
  tf.tidy(() => {
    arch.generate(G, z, { batch: z.shape[0], momentum: 0 });
  });
}

/** Standing statistics over 128 fixed latents. */
function standFixed(arch: Architecture, G: tf.LayersModel): void {
  const latent = (G.inputs[0].shape as number[])[1];
  const z = tf.tensor2d(new Rng(0, 'standing').normals(128 * latent), [128, latent]);
  standingStatistics(arch, G, z);
  z.dispose();
}

/**
 * The generator to sample from: the moving average when there is one. G's BatchNorm statistics belong to
 * G's weights, not to their average (sampling the average with them gives washed-out faces), so the
 * average gets standing statistics first, once per update.
 */
export function sampler(gan: Gan): tf.LayersModel {
  if (!gan.ema) return gan.G;
  if (!gan.emaStats) standFixed(gan.arch, gan.ema);
  gan.emaStats = true;
  return gan.ema;
}

/** The generator to sample from in a checkpoint: its moving average when it has one (and `ema` allows). */
export async function loadSampler(dir: string, ema = true): Promise<{ G: tf.LayersModel; ema: boolean }> {
  const ck = await loadCheckpoint(dir, {});
  const useEma = ema && ck.ema !== undefined;
  (useEma ? ck.G : ck.ema)?.dispose();
  if (useEma) standFixed(ARCHITECTURES[ck.state.config.arch], ck.ema!); // the same statistics again, or right ones for older checkpoints
  return { G: useEma ? ck.ema! : ck.G, ema: useEma };
}

export function disposeGan(gan: Gan): void {
  gan.G.dispose();
  gan.D.dispose();
  gan.ema?.dispose();
  gan.optG.dispose();
  gan.optD.dispose();
}

/** The GAN of a checkpoint, optimizers included, ready to train on. */
export async function restoreGan(c: TrainConfig, dir: string): Promise<Gan> {
  const ck = await loadCheckpoint(dir);
  const gan = createGan(c, { G: ck.G, D: ck.D!, ema: ck.ema });
  gan.optG.load(ck.optimizer.tG, ck.optimizer.tensors, 'g');
  gan.optD.load(ck.optimizer.tD, ck.optimizer.tensors, 'd');
  tf.dispose(Object.values(ck.optimizer.tensors));
  return gan;
}

/** The most floats one sum across threads carries: the gradients of the larger network. */
export function gradientSize(gan: Gan): number {
  return Math.max(...[gan.gVars, gan.dVars].map((vs) => vs.reduce((n, v) => n + v.size, 0)));
}
