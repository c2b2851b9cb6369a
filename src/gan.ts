// The GAN being trained: both networks, their optimizers, and the moving average of G that samples come from.
import * as tf from '@tensorflow/tfjs';
import { Adam } from './adam.js';
import { loadCheckpoint } from './checkpoint.js';
import type { TrainConfig } from './config.js';
import { buildDiscriminator, buildGenerator } from './model.js';
import { Rng } from './rng.js';

/** The two networks and their optimizers. */
export interface Gan {
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
  const G = models?.G ?? buildGenerator(c, c.seed * 1000);
  const D = models?.D ?? buildDiscriminator(c, c.seed * 1000);
  const trainable = (m: tf.LayersModel) => m.trainableWeights.map((w) => w.read() as tf.Variable);
  const gVars = trainable(G);
  const dVars = trainable(D);
  const adam = (lr: number) => ({ lr, beta1: c.beta1, beta2: c.beta2, eps: 1e-8 });
  let ema = models?.ema;
  if (c.ema > 0 && !ema) {
    ema = buildGenerator(c, c.seed * 1000);
    ema.setWeights(G.getWeights());
  }
  return { G, D, gVars, dVars, optG: new Adam(gVars, adam(c.lrG)), optD: new Adam(dVars, adam(c.lrD)), ema };
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
 * Sets every BatchNorm's moving mean and variance to those of its input over the latents z, layer by layer
 * ("standing statistics", as BigGAN samples its averaged generator): sampling z then gives what training
 * mode gives.
 */
export function standingStatistics(model: tf.LayersModel, z: tf.Tensor2D): void {
  tf.tidy(() => {
    let x: tf.Tensor = z;
    for (const layer of model.layers) {
      if (layer.getClassName() === 'BatchNormalization') {
        const { mean, variance } = tf.moments(x, [0, 1, 2]);
        const [, , movingMean, movingVariance] = layer.weights; // gamma, beta, moving mean, moving variance
        movingMean.write(mean);
        movingVariance.write(variance);
      }
      x = layer.apply(x, { training: false }) as tf.Tensor;
    }
  });
}

/**
 * The generator to sample from: the moving average when there is one. G's BatchNorm statistics belong to
 * G's weights, not to their average (sampling the average with them gives washed-out faces), so the
 * average gets standing statistics first, once per update.
 */
export function sampler(gan: Gan): tf.LayersModel {
  if (!gan.ema) return gan.G;
  if (!gan.emaStats) standFixed(gan.ema);
  gan.emaStats = true;
  return gan.ema;
}

/** Standing statistics over 128 fixed latents. */
function standFixed(model: tf.LayersModel): void {
  const latent = (model.inputs[0].shape as number[])[1];
  const z = tf.tensor2d(new Rng(0, 'standing').normals(128 * latent), [128, latent]);
  standingStatistics(model, z);
  z.dispose();
}

/** The generator to sample from in a checkpoint: its moving average when it has one (and `ema` allows). */
export async function loadSampler(dir: string, ema = true): Promise<{ G: tf.LayersModel; ema: boolean }> {
  const ck = await loadCheckpoint(dir, {});
  const useEma = ema && ck.ema !== undefined;
  (useEma ? ck.G : ck.ema)?.dispose();
  if (useEma) standFixed(ck.ema!); // the same statistics again, or right ones for checkpoints holding G's
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

/** The most floats one allReduce carries: the gradients of the larger network. */
export function gradientSize(gan: Gan): number {
  return Math.max(...[gan.gVars, gan.dVars].map((vs) => vs.reduce((n, v) => n + v.size, 0)));
}
