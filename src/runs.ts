// The runs under checkpoints/: what `gan runs` lists, and how `gan sample` finds a run's checkpoint.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { listCheckpoints, readBest, readState, scanCheckpoints, type Checkpoint } from './checkpoint.js';
import { GanError } from './errors.js';

export const CHECKPOINTS = 'checkpoints';

/** A run's name is a plain folder name: letters, digits, '_', '.' and '-', not starting with '.' or '-'. */
export const RUN_NAME = /^[A-Za-z0-9_][\w.-]{0,99}$/;

export interface RunInfo {
  name: string;
  dir: string;
  res: number;
  step: number; // of the latest checkpoint
  epoch: number; // completed
  epochs: number; // planned
  updated: string; // when the latest checkpoint was written
  losses: { d: number; g: number } | null;
  preview: string | null;
  checkpoints: number[]; // steps of the whole ones
  best: number | null; // step of the checkpoint with the best Fréchet distance (runs with evalEvery)
}

function runInfo(dir: string): RunInfo | undefined {
  const cks = listCheckpoints(dir);
  if (cks.length === 0) return undefined;
  const state = readState(cks.at(-1)!.dir);
  const preview = path.join(dir, 'previews', 'latest.png');
  return {
    name: path.basename(dir),
    dir,
    res: state.config.res,
    step: state.step,
    epoch: state.epoch,
    epochs: state.config.epochs,
    updated: state.time,
    losses: state.losses ?? null,
    preview: fs.existsSync(preview) ? preview : null,
    checkpoints: cks.map((c) => c.step),
    best: readBest(dir)?.step ?? null,
  };
}

/** Runs with at least one checkpoint, most recently updated first. */
export function listRuns(root = CHECKPOINTS): RunInfo[] {
  if (!fs.existsSync(root)) return [];
  return fs.readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => runInfo(path.join(root, d.name)))
    .filter((r): r is RunInfo => r !== undefined)
    .sort((a, b) => b.updated.localeCompare(a.updated));
}

/** The named run's checkpoint at `step` (default: its latest; 'best': its best by Fréchet distance); with no
 * name, the most recently updated run. Only whole checkpoints are found. */
export function findCheckpoint(run?: string, step?: number | 'best', root = CHECKPOINTS): Checkpoint & { run: string } {
  const runs = listRuns(root);
  if (runs.length === 0) throw new GanError(`no runs yet under ${root}/: train one first with gan train`);
  const info = run === undefined ? runs[0] : runs.find((r) => r.name === run);
  if (!info) {
    const damaged = run === undefined || !RUN_NAME.test(run) ? undefined : scanCheckpoints(path.join(root, run)).damaged.at(-1);
    if (damaged) throw new GanError(`run ${run} has no whole checkpoint: ${path.basename(damaged.dir)} is corrupt (${damaged.why})`);
    throw new GanError(`no run named "${run}" under ${root}/ (runs: ${runs.map((r) => r.name).join(', ')})`);
  }
  if (step === 'best' && info.best === null) throw new GanError(`run ${info.name} has no best checkpoint: it is kept when training with \`evalEvery\``);
  const s = step === 'best' ? info.best! : step ?? info.step;
  if (!info.checkpoints.includes(s)) {
    throw new GanError(`run ${info.name} has no checkpoint at step ${s} (it has ${info.checkpoints.join(', ')})`);
  }
  return { run: info.name, step: s, dir: listCheckpoints(info.dir).find((c) => c.step === s)!.dir };
}
