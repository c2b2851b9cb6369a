// `gan export --onnx`: the generator as an ONNX graph, for onnxruntime (Python, C++, ...) and PyTorch tools.
// Input z [n, latent] float32; output images [n, res, res, 3] (NHWC, as the tfjs model and image arrays
// have it) in [-1, 1]. ONNX convolutions are NCHW, so the graph runs NCHW and transposes once at the end.
// Every BatchNorm (in eval mode: its stored statistics) is folded into the transposed convolution before
// it, so the graph is Reshape, ConvTranspose, Relu, ..., ConvTranspose, Tanh, Transpose.
import * as tf from '@tensorflow/tfjs';
import onnxProto, { type onnx as Onnx } from 'onnx-proto';
import { GanError } from '../errors.js';

const { onnx } = onnxProto;

/** The opset of every node: ConvTranspose, Relu, Tanh, Reshape and Transpose are all as of 13. */
const OPSET = 13;

/** A transposed convolution in ONNX's layout: weights [in, out, k, k], one bias per output channel. */
interface Deconv {
  name: string;
  weights: Float64Array;
  bias: Float64Array;
  inC: number;
  outC: number;
  k: number;
  stride: number;
  pads: [number, number]; // before and after, the same on both axes
}

/**
 * tfjs runs a transposed convolution as the gradient of the convolution from its output back to its input,
 * padded as that forward convolution would be: 'same' pads (in - 1)·stride + k - out in all, the smaller
 * half before (TensorFlow's rule), with out = in·stride; 'valid' pads nothing and gives (in - 1)·stride + k.
 * ONNX's pads crop the full (in - 1)·stride + k output the same way, so they carry over as they are.
 * For stride 2, kernel 4: one pixel on each side.
 */
export function deconvPads(inSize: number, k: number, stride: number, padding: string): { out: number; pads: [number, number] } {
  if (padding === 'valid') {
    if (k < stride) throw new GanError(`cannot export a 'valid' transposed convolution with kernel ${k} < stride ${stride}`);
    return { out: (inSize - 1) * stride + k, pads: [0, 0] };
  }
  const out = inSize * stride;
  const total = Math.max(0, (inSize - 1) * stride + k - out);
  return { out, pads: [Math.floor(total / 2), total - Math.floor(total / 2)] };
}

const unsupported = (layer: tf.layers.Layer, why: string) =>
  new GanError(`cannot export the generator to ONNX: layer ${layer.name} (${layer.getClassName()}) ${why}`);

/** tfjs kernel [k, k, out, in] -> ONNX [in, out, k, k], in float64 for folding. */
function onnxKernel(kernel: tf.Tensor): Float64Array {
  const [k, , outC, inC] = kernel.shape;
  const src = kernel.dataSync();
  const w = new Float64Array(src.length);
  for (let y = 0; y < k; y++) for (let x = 0; x < k; x++) for (let o = 0; o < outC; o++) for (let i = 0; i < inC; i++) {
    w[((i * outC + o) * k + y) * k + x] = src[((y * k + x) * outC + o) * inC + i];
  }
  return w;
}

/** BatchNorm(deconv(x)) as one deconv: each output channel's weights scaled by gamma/sqrt(var + eps). */
function foldBatchNorm(d: Deconv, bn: tf.layers.Layer): void {
  const c = bn.getConfig() as { epsilon: number; center: boolean; scale: boolean; axis: number };
  if (!c.center || !c.scale || (c.axis !== -1 && c.axis !== 3)) throw unsupported(bn, 'is not a per-channel BatchNorm with scale and centre');
  const [gamma, beta, mean, variance] = bn.getWeights().map((w) => w.dataSync());
  const plane = d.k * d.k;
  for (let o = 0; o < d.outC; o++) {
    const s = gamma[o] / Math.sqrt(variance[o] + c.epsilon);
    for (let i = 0; i < d.inC; i++) for (let j = 0; j < plane; j++) d.weights[(i * d.outC + o) * plane + j] *= s;
    d.bias[o] = (d.bias[o] - mean[o]) * s + beta[o];
  }
}

/** Little-endian float32 bytes, as ONNX's raw_data holds them on every machine. */
function float32le(values: ArrayLike<number>): Uint8Array {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
  return bytes;
}

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;
const ints = (name: string, values: number[]) => ({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: values });

/** The generator as the bytes of an ONNX model; `about` goes into its metadata (run, step, ...). */
export function onnxModel(G: tf.LayersModel, about: Record<string, string>): Uint8Array {
  const nodes: Onnx.INodeProto[] = [];
  const initializers: Onnx.ITensorProto[] = [];
  let x = 'z';
  const latent = (G.inputs[0].shape as number[])[1];
  let size = 1; // spatial size after the reshape
  let channels = latent;
  let pending: Deconv | undefined;
  const flush = () => {
    if (!pending) return;
    const d = pending;
    const w = `${d.name}.weight`, b = `${d.name}.bias`;
    initializers.push({ name: w, dataType: FLOAT, dims: [d.inC, d.outC, d.k, d.k], rawData: float32le(d.weights) },
      { name: b, dataType: FLOAT, dims: [d.outC], rawData: float32le(d.bias) });
    nodes.push({ name: d.name, opType: 'ConvTranspose', input: [x, w, b], output: [d.name], attribute: [
      ints('kernel_shape', [d.k, d.k]), ints('strides', [d.stride, d.stride]), ints('pads', [d.pads[0], d.pads[0], d.pads[1], d.pads[1]])] });
    x = d.name;
    pending = undefined;
  };
  const add = (opType: string, name: string, extra: Partial<Onnx.INodeProto> = {}) => {
    flush();
    nodes.push({ name, opType, input: [x, ...(extra.input ?? [])], output: [name], attribute: extra.attribute });
    x = name;
  };

  G.layers.forEach((layer, index) => {
    const c = layer.getConfig();
    switch (layer.getClassName()) {
      case 'Reshape': {
        if (index !== 0 || String(c.targetShape) !== String([1, 1, latent])) throw unsupported(layer, 'is not z -> [1, 1, latent]');
        // [1, 1, latent] NHWC is [latent, 1, 1] NCHW: the same numbers
        initializers.push({ name: 'nchw_shape', dataType: INT64, dims: [4], int64Data: [-1, latent, 1, 1] });
        add('Reshape', 'z_nchw', { input: ['nchw_shape'] });
        break;
      }
      case 'Conv2DTranspose': {
        flush();
        const conv = c as { strides: number[]; kernelSize: number[]; padding: string; activation: string; dataFormat: string; useBias: boolean };
        if (conv.strides[0] !== conv.strides[1] || conv.kernelSize[0] !== conv.kernelSize[1] || conv.activation !== 'linear' ||
          conv.dataFormat !== 'channelsLast') throw unsupported(layer, 'is not square, channels-last and linear');
        const [kernel, bias] = layer.getWeights();
        const [k, , outC, inC] = kernel.shape;
        if (inC !== channels) throw unsupported(layer, `expects ${inC} channels, gets ${channels}`);
        const { out, pads } = deconvPads(size, k, conv.strides[0], conv.padding);
        pending = { name: layer.name, weights: onnxKernel(kernel), bias: conv.useBias ? Float64Array.from(bias.dataSync()) : new Float64Array(outC),
          inC, outC, k, stride: conv.strides[0], pads };
        [size, channels] = [out, outC];
        break;
      }
      case 'BatchNormalization':
        if (!pending) throw unsupported(layer, 'does not follow a transposed convolution');
        foldBatchNorm(pending, layer);
        break;
      case 'ReLU':
        if (c.maxValue != null) throw unsupported(layer, 'has a maximum');
        add('Relu', layer.name);
        break;
      case 'Activation':
        if (c.activation !== 'tanh') throw unsupported(layer, `is ${c.activation}, not tanh`);
        add('Tanh', layer.name);
        break;
      default:
        throw unsupported(layer, 'has no ONNX counterpart here');
    }
  });
  add('Transpose', 'images', { attribute: [ints('perm', [0, 2, 3, 1])] }); // NCHW -> NHWC

  const value = (name: string, dims: (number | string)[]) => ({
    name, type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'gan',
    producerVersion: tf.version.tfjs,
    docString: 'DCGAN generator: z [n, latent] float32, standard normal -> images [n, res, res, 3] (NHWC, RGB) in [-1, 1]',
    metadataProps: Object.entries(about).map(([key, value]) => ({ key, value })),
    graph: {
      name: 'generator',
      node: nodes,
      initializer: initializers,
      input: [value('z', ['n', latent])],
      output: [value('images', ['n', size, size, channels])],
    },
  });
  const error = onnx.ModelProto.verify(model);
  if (error) throw new Error(`ONNX model does not verify: ${error}`);
  return onnx.ModelProto.encode(model).finish();
}
