// Progress on long work: a live bar on a terminal, a plain line every few seconds otherwise (logs, CI).
import cliProgress from 'cli-progress';
import { say } from './log.js';

export interface Progress {
  /** Set the count done so far and the extra fields shown after the bar. */
  update(done: number, fields?: Record<string, string | number>): void;
  stop(): void;
}

function formatFields(fields: Record<string, string | number>): string {
  return Object.entries(fields).map(([k, v]) => `${k} ${v}`).join('  ');
}

export function progress(label: string, total: number, opts: { tty?: boolean; everyMs?: number } = {}): Progress {
  if (opts.tty ?? process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar({
      format: `${label} [{bar}] {value}/{total} {percentage}% | ETA {eta_formatted} | {info}`,
      barsize: 24,
      hideCursor: true,
      etaBuffer: 50,
      stream: process.stderr,
    }, cliProgress.Presets.shades_classic);
    let started = false;
    return {
      update: (done, fields = {}) => {
        if (!started) bar.start(total, done - 1, { info: '' }); // a resumed job: the ETA counts from here
        started = true;
        bar.update(done, { info: formatFields(fields) });
      },
      stop: () => started && bar.stop(),
    };
  }
  const everyMs = opts.everyMs ?? 10_000;
  const start = Date.now();
  let last = start;
  let lastDone = 0;
  let firstDone: number | undefined; // a resumed job starts part way: the rate counts from here
  const line = (done: number, fields: Record<string, string | number>) => {
    const elapsed = (Date.now() - start) / 1000;
    const rate = (done - (firstDone ?? 0)) / elapsed;
    const eta = rate > 0 ? Math.round((total - done) / rate) : 0;
    say(`${label} ${done}/${total} (${Math.floor((100 * done) / total)}%) eta ${eta}s ${formatFields(fields)}`.trimEnd());
  };
  let lastFields: Record<string, string | number> = {};
  let printed = false;
  return {
    update(done, fields = {}) {
      firstDone ??= done - 1;
      lastDone = done;
      lastFields = fields;
      if (Date.now() - last >= everyMs) {
        last = Date.now();
        printed = true;
        line(done, fields);
      }
    },
    stop: () => printed && line(lastDone, lastFields), // short jobs stay quiet
  };
}
