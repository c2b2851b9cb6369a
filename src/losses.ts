// Losses: what D and G minimise, as a function of D's logits, image by image (the step averages them over the
// whole batch). A loss is chosen by name in the config (`loss`).
import * as tf from '@tensorflow/tfjs';
import type { LossName } from './config.js';

export interface Loss {
  /** D's loss on its logits for real images, and for fakes. */
  dReal(logits: tf.Tensor): tf.Tensor;
  dFake(logits: tf.Tensor): tf.Tensor;
  /** G's loss on D's logits for its fakes. */
  g(logits: tf.Tensor): tf.Tensor;
}

export const LOSS_FUNCTIONS: Record<LossName, Loss> = {
  // Binary cross-entropy on logits (the DCGAN paper's, with G's "non-saturating" form):
  // -log σ(x) = softplus(-x) for "real", -log(1 - σ(x)) = softplus(x) for "fake".
  bce: {
    dReal: (x) => tf.softplus(tf.neg(x)),
    dFake: (x) => tf.softplus(x),
    g: (x) => tf.softplus(tf.neg(x)),
  },
  // Hinge loss (Lim & Ye 2017, as SNGAN and BigGAN train): D pushes real logits above 1 and fakes below -1,
  // and stops pushing once they are; G raises D's logits for its fakes.
  hinge: {
    dReal: (x) => tf.relu(tf.sub(1, x)),
    dFake: (x) => tf.relu(tf.add(1, x)),
    g: (x) => tf.neg(x),
  },
};
