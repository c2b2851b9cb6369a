// One GAN iteration, the algorithm alone: (1) update D on a real and a fake batch, (2) update G. The
// architecture says how G and D run, the loss what each minimises; with threads, each runs this on its slice
// of the batch and `across` adds up what must be whole-batch (BatchNorm's sums, the gradients, the figures).
import * as tf from '@tensorflow/tfjs';
import { augment } from './augment.js';
import type { Gan } from './gan.js';
import type { SumAcross, Training } from './layers.js';

/** One step's batch (or this thread's slice of it) as tensors. */
export interface Batch {
  real: tf.Tensor4D; // images in [-1, 1]
  zD: tf.Tensor2D; // latents of the fakes D learns from
  zG: tf.Tensor2D; // latents of the fakes G learns from
  /** Differentiable-augmentation draws for each batch D judges (src/augment.ts), when augmenting. */
  aug?: { real: Float32Array; fake: Float32Array; gen: Float32Array };
  size: number; // images in the whole batch, over all threads
}

/** Returns [D loss, G loss, D(x), D(G(z))] (D(·): D's mean probability of "real"), this thread's share of each. */
export function trainStep(gan: Gan, b: Batch, across?: SumAcross): tf.Tensor1D {
  const { G, D, arch, loss } = gan;
  const t: Training = { batch: b.size, across };
  const mean = (x: tf.Tensor) => tf.div(tf.sum(x), b.size); // this thread's share of a whole-batch mean
  const judge = (x: tf.Tensor4D, draws?: Float32Array) => arch.discriminate(D, draws ? augment(x, draws) : x, t);
  return tf.tidy(() => {
    // (1) Update D: real images should score "real", G's fakes "fake". The fakes are made outside the
    // gradient function, so nothing flows back into G (PyTorch's fake.detach()).
    const fake = arch.generate(G, b.zD, t);
    let logits: tf.Tensor[] = [];
    const d = tf.variableGrads(() => {
      logits = [judge(b.real, b.aug?.real), judge(fake, b.aug?.fake)].map((l) => tf.keep(l)); // for D(x), D(G(z))
      return tf.add(mean(loss.dReal(logits[0])), mean(loss.dFake(logits[1]))) as tf.Scalar;
    }, gan.dVars);
    gan.optD.apply(summed(d.grads, gan.dVars, across));
    const [dReal, dFake] = logits.map((l) => mean(tf.sigmoid(l)));
    tf.dispose(logits);

    // (2) Update G: fresh fakes that D should score "real". Gradients flow through D; only G's variables change.
    const g = tf.variableGrads(() => mean(loss.g(judge(arch.generate(G, b.zG, t), b.aug?.gen))) as tf.Scalar, gan.gVars);
    gan.optG.apply(summed(g.grads, gan.gVars, across));
    return tf.stack([d.value, g.value, dReal, dFake]) as tf.Tensor1D;
  });
}

/** The gradients of `vars`, in their order; with threads, added up across them into the whole batch's. */
function summed(grads: tf.NamedTensorMap, vars: tf.Variable[], across?: SumAcross): tf.Tensor[] {
  if (!across) return vars.map((v) => grads[v.name]);
  const all = across(tf.concat(vars.map((v) => tf.reshape(grads[v.name], [-1]))).dataSync() as Float32Array);
  let offset = 0;
  return vars.map((v) => tf.tensor(all.subarray(offset, (offset += v.size)), v.shape));
}
