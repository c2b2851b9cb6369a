// Adam (PyTorch's form), with the bias corrections computed in double precision from the step count alone.
// tf.train.adam keeps running products of beta1 and beta2 in float32 and rebuilds them with pow() on load,
// so a resumed run would drift from an unbroken one in the last bits; here resume is bit-exact.
import * as tf from '@tensorflow/tfjs';
import { fused } from './fused.js';

export interface AdamConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
}

export class Adam {
  /** Updates done so far. */
  t = 0;
  readonly m: tf.Variable[];
  readonly v: tf.Variable[];

  constructor(readonly vars: tf.Variable[], readonly c: AdamConfig) {
    this.m = vars.map((w) => tf.variable(tf.zerosLike(w), false));
    this.v = vars.map((w) => tf.variable(tf.zerosLike(w), false));
  }

  /** One update with gradients in the order of `vars`. */
  apply(grads: tf.Tensor[]): void {
    this.t += 1;
    const { lr, beta1, beta2, eps } = this.c;
    const bc1 = 1 - beta1 ** this.t;
    const bc2 = Math.sqrt(1 - beta2 ** this.t);
    // PyTorch: w -= lr/bc1 * m / (sqrt(v)/bc2 + eps); the same with numerator and denominator times bc2.
    const step = (lr / bc1) * bc2;
    tf.tidy(() => {
      grads.forEach((g, i) => {
        const [w, m, v] = [this.vars[i], this.m[i], this.v[i]];
        const next = fused('GanAdam', { w, m, v, g }, { beta1, beta2, step, eps: eps * bc2 }, () => {
          const m2 = m.mul(beta1).add(g.mul(1 - beta1));
          const v2 = v.mul(beta2).add(g.square().mul(1 - beta2));
          return [w.sub(m2.mul(step).div(v2.sqrt().add(eps * bc2))), m2, v2];
        });
        [w, m, v].forEach((t, k) => t.assign(next[k]));
      });
    });
  }

  /** Named tensors for a checkpoint. */
  state(prefix: string): tf.NamedTensorMap {
    const out: tf.NamedTensorMap = {};
    this.m.forEach((m, i) => (out[`${prefix}/m/${i}`] = m));
    this.v.forEach((v, i) => (out[`${prefix}/v/${i}`] = v));
    return out;
  }

  load(t: number, tensors: tf.NamedTensorMap, prefix: string): void {
    this.t = t;
    this.m.forEach((m, i) => m.assign(tensors[`${prefix}/m/${i}`]));
    this.v.forEach((v, i) => v.assign(tensors[`${prefix}/v/${i}`]));
  }

  dispose(): void {
    tf.dispose([...this.m, ...this.v]);
  }
}
