// The loss plot of a run: losses.csv drawn with vega-lite (compiled to SVG, no canvas), turned into PNG by sharp.
import * as fs from 'node:fs';
import sharp from 'sharp';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { writeFileAtomic } from './atomic.js';

function readCsv(file: string, points: number): Record<string, number>[] {
  if (!fs.existsSync(file)) return [];
  const [header, ...rows] = fs.readFileSync(file, 'utf8').trim().split('\n');
  const cols = header.split(',');
  const every = Math.ceil(rows.length / points);
  return rows.filter((_, i) => i % every === 0 || i === rows.length - 1).map((r) => {
    const v = r.split(',').map(Number);
    return Object.fromEntries(cols.map((c, i) => [c, v[i]]));
  });
}

const line = (values: Record<string, number>[], fields: string[], title: string, y: string) => ({
  width: 640,
  height: 220,
  title,
  data: { values },
  transform: [{ fold: fields, as: ['series', 'value'] as [string, string] }],
  mark: { type: 'line' as const, strokeWidth: 1, point: values.length < 30 },
  encoding: {
    x: { field: 'step', type: 'quantitative' as const },
    y: { field: 'value', type: 'quantitative' as const, title: y },
    color: { field: 'series', type: 'nominal' as const, title: null },
  },
});

/**
 * Draws losses.csv (step, d_loss, g_loss, ...) and, when the run measures quality (--eval-every), the
 * Fréchet distance and face share from evals.csv below it. At most `points` points per series.
 */
export async function plotLosses(csvFile: string, pngFile: string, evalFile?: string, points = 1500): Promise<void> {
  const losses = readCsv(csvFile, points);
  if (losses.length === 0) return;
  const evals = evalFile ? readCsv(evalFile, points) : [];
  const charts = [line(losses, ['d_loss', 'g_loss'], 'losses', 'loss')];
  if (evals.length) charts.push(line(evals, ['frechet', 'frechet_floor', 'face_share'], 'quality (gan eval)', 'value'));
  const spec: TopLevelSpec = { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', background: 'white', vconcat: charts };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  writeFileAtomic(pngFile, await sharp(Buffer.from(svg)).png().toBuffer());
}
