// Folder locks: one process at a time writes a folder (an image cache, a run). The lock is a file in the
// folder, gan.lock, naming its holder (pid, host, command, when); it is made whole or not at all (a hard link
// to a finished temporary file fails if the lock exists). It goes when the holder releases it or exits (Ctrl-C
// twice included: process.exit runs the exit handler); a holder killed outright leaves it behind, and the
// next process takes it over once no process of that pid, started at that time, runs on this host.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { tempPath } from './atomic.js';
import { GanError } from './errors.js';

export const LOCK_FILE = 'gan.lock';

interface Holder {
  pid: number;
  host: string;
  command: string;
  since: string; // ISO time
  started?: string; // the process's start time as the OS counts it (Linux): a reused pid is told apart
  token: string; // this lock, as opposed to a later one in the same place
}

export interface Lock {
  readonly file: string;
  release(): void;
}

const held = new Map<string, string>(); // lock file → token, of the locks this process holds
process.on('exit', () => {
  for (const [file, token] of held) removeIfOurs(file, token);
});

/** Field 22 of /proc/<pid>/stat, when the process started, and whether it is a zombie; undefined elsewhere. */
function procStat(pid: number): { started: string; zombie: boolean } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // after the command, which may hold spaces
    return { started: fields[19], zombie: fields[0] === 'Z' };
  } catch {
    return undefined;
  }
}

function running(h: Holder): boolean {
  if (h.host !== os.hostname()) return true; // another machine's process: no way to tell from here
  if (h.pid === process.pid) return [...held.values()].includes(h.token); // or an earlier process with our pid
  if (!Number.isSafeInteger(h.pid) || h.pid <= 0) return false;
  try {
    process.kill(h.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false; // EPERM: it runs, as another user
  }
  const now = procStat(h.pid);
  return !now || (!now.zombie && (h.started === undefined || now.started === h.started));
}

/** The lock's holder; undefined if there is no lock file, 'garbage' if it says nothing usable. */
function readHolder(file: string): Holder | 'garbage' | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const h = JSON.parse(text) as Holder;
    return typeof h.pid === 'number' && typeof h.token === 'string' ? h : 'garbage';
  } catch {
    return 'garbage';
  }
}

function removeIfOurs(file: string, token: string): void {
  held.delete(file);
  try {
    const h = readHolder(file);
    if (h !== 'garbage' && h?.token === token) fs.unlinkSync(file);
  } catch {
    // already gone, or the folder with it
  }
}

/**
 * Moves the stale lock out of the way, if it is still the one judged stale: the lock is renamed aside and
 * looked at; one that another process took over meanwhile is put back.
 */
function takeOver(file: string, stale: Holder | 'garbage'): void {
  const aside = tempPath(file);
  try {
    fs.renameSync(file, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // someone else moved it
    throw e;
  }
  const moved = readHolder(aside);
  const same = stale === 'garbage' ? moved === 'garbage' : moved !== 'garbage' && moved?.token === stale.token;
  if (!same) {
    try {
      fs.linkSync(aside, file);
    } catch {
      // a third process locked it meanwhile: it holds it now
    }
  }
  fs.rmSync(aside, { force: true });
}

const when = (iso: string) => new Date(iso).toLocaleString('sv'); // 2025-01-31 14:05:09, local time

/**
 * Locks `dir` (made if needed) for this process, saying `command` to whoever finds it locked; throws a
 * GanError (exit code 2) naming the holder if another process has it.
 */
export function acquireLock(dir: string, command: string): Lock {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, LOCK_FILE);
  const me: Holder = {
    pid: process.pid, host: os.hostname(), command, since: new Date().toISOString(), started: procStat(process.pid)?.started,
    token: randomBytes(8).toString('hex'),
  };
  const tmp = tempPath(file);
  fs.writeFileSync(tmp, JSON.stringify(me) + '\n');
  try {
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        fs.linkSync(tmp, file);
        held.set(file, me.token);
        return { file, release: () => removeIfOurs(file, me.token) };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const holder = readHolder(file);
      if (holder === undefined) continue; // released meanwhile
      if (holder !== 'garbage' && running(holder)) {
        const where = holder.host === os.hostname() ? '' : ` on ${holder.host}`;
        const gone = where && ` (if it is gone, remove ${file})`;
        throw new GanError(`${dir} is in use by process ${holder.pid}${where} (${holder.command}, since ${when(holder.since)}): wait for it or stop it${gone}`);
      }
      takeOver(file, holder);
    }
    throw new GanError(`${dir}: could not lock it (${file} keeps changing)`);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}
