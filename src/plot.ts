// The loss plot of a run: losses.csv drawn with vega-lite (compiled to SVG, no canvas), turned into PNG by sharp.
import * as fs from 'node:fs';
import sharp from 'sharp';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { writeFileAtomic } from './atomic.js';

/** Reads losses.csv (step, d_loss, g_loss, ...) and writes the plot; at most `points` points per series. */
export async function plotLosses(csvFile: string, pngFile: string, points = 1500): Promise<void> {
  const [header, ...rows] = fs.readFileSync(csvFile, 'utf8').trim().split('\n');
  if (rows.length === 0) return;
  const cols = header.split(',');
  const every = Math.ceil(rows.length / points);
  const values = rows.filter((_, i) => i % every === 0 || i === rows.length - 1).map((r) => {
    const v = r.split(',').map(Number);
    return Object.fromEntries(cols.map((c, i) => [c, v[i]]));
  });
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 640,
    height: 280,
    background: 'white',
    title: 'losses',
    data: { values },
    transform: [{ fold: ['d_loss', 'g_loss'], as: ['loss', 'value'] }],
    mark: { type: 'line', strokeWidth: 1 },
    encoding: {
      x: { field: 'step', type: 'quantitative' },
      y: { field: 'value', type: 'quantitative', title: 'loss' },
      color: { field: 'loss', type: 'nominal', title: null },
    },
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  writeFileAtomic(pngFile, await sharp(Buffer.from(svg)).png().toBuffer());
}
