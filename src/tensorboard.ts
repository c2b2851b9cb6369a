// TensorBoard event files: `tensorboard --logdir checkpoints` shows every run, live. The format is
// TensorFlow's record file (tensorboard/summary/writer/record_writer.py) of Event protobufs
// (tensorboard/compat/proto/event.proto, summary.proto), each record written through to the file as it is
// made, so TensorBoard reads a run while it trains.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import CRC32C from 'crc-32/crc32c.js';
import protobuf from 'protobufjs';
import { GanError } from './errors.js';

// The part of TensorBoard's event.proto and summary.proto that we write, with their names and numbers.
const { root } = protobuf.parse(`
  syntax = "proto3";
  package tensorboard;
  message Event {
    double wall_time = 1;
    int64 step = 2;
    oneof what {
      string file_version = 3;
      Summary summary = 5;
      SessionLog session_log = 7;
    }
    SourceMetadata source_metadata = 10;
  }
  message SourceMetadata { string writer = 1; }
  message SessionLog {
    enum SessionStatus { STATUS_UNSPECIFIED = 0; START = 1; STOP = 2; CHECKPOINT = 3; }
    SessionStatus status = 1;
  }
  message Summary {
    message Image {
      int32 height = 1;
      int32 width = 2;
      int32 colorspace = 3;
      bytes encoded_image_string = 4;
    }
    message Value {
      string tag = 1;
      oneof value {
        float simple_value = 2;
        Image image = 4;
      }
    }
    repeated Value value = 1;
  }`, { keepCase: true });
const EVENT = root.lookupType('tensorboard.Event');

/** TensorFlow's masked CRC32C (Castagnoli): a CRC of data that holds CRCs is not itself a plain CRC. */
function maskedCrc32c(data: Uint8Array): number {
  const crc = CRC32C.buf(data) >>> 0;
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** One record: uint64 length, masked CRC of those 8 bytes, the data, masked CRC of the data (little-endian). */
function record(data: Uint8Array): Buffer {
  const r = Buffer.alloc(8 + 4 + data.length + 4);
  r.writeBigUInt64LE(BigInt(data.length), 0);
  r.writeUInt32LE(maskedCrc32c(r.subarray(0, 8)), 8);
  r.set(data, 12);
  r.writeUInt32LE(maskedCrc32c(data), 12 + data.length);
  return r;
}

const NAME = /^events\.out\.tfevents\.(\d+)\./;

/**
 * `events.out.tfevents.<unix seconds>.<host>`, named to sort after every events file already in `dir`:
 * TensorBoard reads a run's files in name order and takes all but the last as finished, so a resumed run
 * that starts within the same second as the last one (or after the clock went back) takes the next second.
 */
function newFileName(dir: string): string {
  const earlier = fs.readdirSync(dir).map((f) => NAME.exec(f)).filter((m) => m !== null).map((m) => Number(m[1]));
  const seconds = Math.max(Math.floor(Date.now() / 1000), ...earlier.map((s) => s + 1));
  return `events.out.tfevents.${String(seconds).padStart(10, '0')}.${os.hostname()}`;
}

/** Width and height from a PNG's header (its first chunk, IHDR, states them): Summary.Image carries both. */
function pngSize(png: Uint8Array): { width: number; height: number } {
  const b = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  if (b.length < 24 || b.readUInt32BE(0) !== 0x89504e47 || b.toString('latin1', 12, 16) !== 'IHDR') {
    throw new Error('TensorBoard image: not a PNG');
  }
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

export interface EventsOptions {
  /** The step of the checkpoint a resumed run goes on from; absent for a new run. */
  resumedAt?: number;
}

export interface Events {
  readonly file: string;
  /** One value per tag at `step` (stored as float32, TensorBoard's simple_value). */
  scalars(step: number, values: Record<string, number>): void;
  /** A PNG image (RGB) under `tag` at `step`. */
  image(step: number, tag: string, png: Uint8Array): void;
  close(): void;
}

/**
 * A new events file in `runDir` (made if needed). Every call writes one record at once, so TensorBoard
 * sees it while training goes on; a kill leaves at most the last record torn, which TensorBoard's readers
 * take as not yet written. Steps may repeat but never go back, and a resumed run writes no step at or
 * before `resumedAt`. A failed or short write (disk full) throws a GanError that names the file, after
 * cutting the file back to its last whole record; the file is closed then.
 */
export function openEvents(runDir: string, o: EventsOptions = {}): Events {
  fs.mkdirSync(runDir, { recursive: true });
  const file = path.join(runDir, newFileName(runDir));
  let fd: number | undefined = fs.openSync(file, 'ax'); // append; never an existing file
  let size = 0; // bytes of whole records
  const firstStep = o.resumedAt === undefined ? 0 : o.resumedAt + 1;
  let lastStep = firstStep;

  const close = () => {
    if (fd !== undefined) fs.closeSync(fd);
    fd = undefined;
  };
  const write = (event: Record<string, unknown>) => {
    if (fd === undefined) throw new Error(`${file} is closed`);
    const data = record(EVENT.encode(EVENT.fromObject({ wall_time: Date.now() / 1000, ...event })).finish());
    let written = 0;
    try {
      written = fs.writeSync(fd, data);
    } catch (e) {
      fail(`could not write ${file}: ${(e as Error).message}`);
    }
    if (written !== data.length) fail(`could not write ${file}: ${written} of ${data.length} bytes written (disk full?)`);
    size += written;
  };
  const fail = (message: string): never => {
    try {
      fs.ftruncateSync(fd!, size);
    } catch {
      // the torn record stays, as the file's last: it is closed now
    }
    close();
    throw new GanError(message);
  };
  const at = (step: number) => {
    if (!Number.isSafeInteger(step)) throw new Error(`TensorBoard step ${step} is not a whole number`);
    if (step < lastStep) {
      throw new Error(`TensorBoard step ${step} goes back before step ${lastStep}${o.resumedAt === undefined ? '' : ` (resumed at ${o.resumedAt})`}`);
    }
    lastStep = step;
    return step;
  };

  write({ file_version: 'brain.Event:2', source_metadata: { writer: 'gan' } });
  // Resuming from a checkpoint trains again the steps after it, which the run before may have logged too
  // before it stopped: those values are orphans, and TensorBoard must show the new ones in their place,
  // not a curve that jumps back. Its Python loader (event_accumulator.py, plugin_event_accumulator.py:
  // _CheckForRestartAndMaybePurge) purges every value at or after the step of a SessionLog START event
  // once a run's file_version is 2 or more, the first START of a run excepted (a session's start, not a
  // restart): so every file begins with a START at the first step it may log, 0 for a new run and
  // resumedAt + 1 for a resumed one, which keeps everything up to the checkpoint and drops the orphans.
  // Its Rust loader (data/server/reservoir.rs) drops, on each new value of a tag, that tag's values at or
  // after its step; the schedule of a resumed run logs each tag again at the steps the run before did, so
  // its first new value replaces the orphans of that tag.
  write({ step: firstStep, session_log: { status: 'START' } });

  return {
    file,
    scalars(step, values) {
      write({ step: at(step), summary: { value: Object.entries(values).map(([tag, v]) => ({ tag, simple_value: v })) } });
    },
    image(step, tag, png) {
      const { width, height } = pngSize(png);
      write({ step: at(step), summary: { value: [{ tag, image: { height, width, colorspace: 3, encoded_image_string: png } }] } });
    },
    close,
  };
}
