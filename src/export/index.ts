// `gan export`: one run's generator, picked as `gan sample` picks it, as a web page and/or an ONNX model.
import { writeFileAtomic } from '../atomic.js';
import { GanError } from '../errors.js';
import { checkOut, openGenerator, type OutputOptions } from '../sample.js';
import { onnxModel } from './onnx.js';
import { writeWebPage, type About } from './web.js';

export interface ExportOptions extends Omit<OutputOptions, 'out' | 'size'> {
  web?: string; // folder for the page
  onnx?: string; // .onnx file
}

export async function exportRun(o: ExportOptions): Promise<Omit<About, 'generatedBy'>> {
  if (!o.web && !o.onnx) throw new GanError('say what to export: `web` (a folder), `onnx` (a .onnx file), or both');
  if (o.onnx) checkOut(o.onnx, ['.onnx'], 'onnx');
  const g = await openGenerator(o);
  try {
    const about = { run: g.run, step: g.step, ema: g.ema, res: g.res, latent: (g.G.inputs[0].shape as number[])[1] };
    if (o.web) await writeWebPage(g.G, o.web, about);
    if (o.onnx) writeFileAtomic(o.onnx, onnxModel(g.G, Object.fromEntries(Object.entries(about).map(([k, v]) => [k, String(v)]))));
    return about;
  } finally {
    g.G.dispose();
  }
}
