// The GAN being trained: both networks, their optimizers, and the moving average of G that samples come from.
import * as tf from '@tensorflow/tfjs';
import { Adam } from './adam.js';
import { loadCheckpoint } from './checkpoint.js';
import type { TrainConfig } from './config.js';
import { buildDiscriminator, buildGenerator } from './model.js';

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
 * do not drag the random initial weights along; BatchNorm's moving statistics are copied.
 */
export function updateEma(gan: Gan, decay: number, step: number): void {
  if (!gan.ema) return;
  const d = Math.min(decay, (1 + step) / (10 + step));
  tf.tidy(() => gan.ema!.weights.forEach((e, i) => {
    const w = gan.G.weights[i].read();
    e.write(e.trainable ? e.read().mul(d).add(w.mul(1 - d)) : w.clone());
  }));
}

/** The generator to sample from: the moving average when there is one. */
export const sampler = (gan: Gan): tf.LayersModel => gan.ema ?? gan.G;

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
