// The command line: parse options, call the library, map errors to exit codes (2: the user can fix it) and the
// library's setting names to flags. Commands load their modules when they run: `gan preprocess` never loads tfjs.
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ARCHS, LOSSES, RESOLUTIONS, type TrainConfig } from './config.js';
import { GanError, renameSettings } from './errors.js';
import { say, terminal } from './log.js';

function int(name: string) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError(`${name} must be an integer`);
    return Number(value);
  };
}

/** "a..b", e.g. 0..7. */
function range(name: string) {
  return (value: string): [number, number] => {
    const m = /^(\d+)\.\.(\d+)$/.exec(value.trim());
    if (!m) throw new InvalidArgumentError(`${name} must be a range such as 0..7`);
    return [Number(m[1]), Number(m[2])];
  };
}

function num(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number`);
    return n;
  };
}

const resOption = () => new Option('--res <px>', `image size: ${RESOLUTIONS.join(', ')}`).default(64).argParser(int('--res'));

/** Lets go of the backend (a GPU device) when the command ends; set once a command has loaded one. */
let release: (() => void) | undefined;

/** Every command that computes goes through the backend layer: --backend, and one line saying which backend and why. */
function withBackend(cmd: Command): Command {
  return cmd
    .option('--backend <name>', 'node-gpu, webgpu, node, wasm or cpu (default: the best one that works here)')
    .hook('preAction', async (c) => {
      const backend = await import('./backend.js');
      const choice = await backend.initBackend(c.opts().backend);
      release = backend.releaseBackend;
      say(choice.line);
      if (choice.warning) say(choice.warning);
    });
}

/**
 * Ctrl-C or SIGTERM asks the command to stop at the next safe point: training after the current step, with
 * a checkpoint; preprocessing once the images decoded so far are cached. A second Ctrl-C a moment later
 * quits at once (what was written stays whole); a repeated SIGTERM (service managers, `timeout` passing on
 * the signal) changes nothing. `run` gets the signal; the handlers go when it ends.
 */
async function stoppable<T>(run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ctl = new AbortController();
  let first = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    if (ctl.signal.aborted) {
      if (sig === 'SIGINT' && Date.now() - first > 1000) process.exit(130);
      return;
    }
    first = Date.now();
    say(`${sig}: stopping after this step (a checkpoint, or the images decoded so far, are kept; Ctrl-C again quits at once)`);
    ctl.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await run(ctl.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

interface TrainFlags {
  data?: string; res: number; epochs?: number; batch?: number; run?: string; seed?: number; lr?: number; width?: number;
  previewEvery?: number; checkpointEvery?: number; crop: string; fresh?: boolean; threads?: number;
  ema?: number; augment?: boolean; evalEvery?: number; arch?: string; loss?: string; spectralNorm?: boolean;
}

function program(): Command {
  const cmd = new Command('gan')
    .description('Train DCGANs that generate faces.')
    .exitOverride()
    .configureOutput({ writeErr: (s) => terminal.err(s), writeOut: (s) => terminal.out(s) });

  cmd.command('preprocess')
    .description('decode, crop and resize every image under a folder once, into a uint8 cache')
    .argument('<folder>', 'folder of face photos (searched recursively)')
    .addOption(resOption())
    .addOption(new Option('--crop <mode>', 'center (largest centred square) or celeba (CelebA DCGAN crop)').default('center'))
    .option('--out <dir>', 'cache folder (default data/<folder>-<res>)')
    .action(async (folder: string, o: { res: number; crop: string; out?: string }) => {
      const { preprocess } = await import('./data/preprocess.js');
      const r = await stoppable((signal) => preprocess(folder, { res: o.res, crop: o.crop as 'center', out: o.out, signal }));
      say(r.cacheHit
        ? `cache hit: ${r.dir} is up to date (${r.cached} images cached, ${r.skipped} skipped)`
        : `${r.cached} images cached, ${r.skipped} skipped in ${r.dir} (${r.processed} decoded in ${r.seconds.toFixed(1)} s)` +
          (r.skipped ? `; skipped files are listed in ${r.dir}/skipped.txt` : ''));
    });

  withBackend(cmd.command('train'))
    .description('train a DCGAN; rerun the same command to resume where it stopped')
    .option('--data <dir>', 'a cache from gan preprocess, or a folder of images (default: the built-in faces)')
    .addOption(resOption())
    .option('--epochs <n>', 'passes over the data', int('--epochs'))
    .option('--batch <n>', 'images per step', int('--batch'))
    .option('--run <name>', 'run name: its folder is checkpoints/<name> (default <data>-<res>)')
    .option('--seed <n>', 'fixes the initial weights, the data order and every latent', int('--seed'))
    .option('--lr <x>', 'learning rate of both networks (default 0.0002)', num('--lr'))
    .option('--width <n>', 'base number of filters (default 64)', int('--width'))
    .option('--arch <name>', `architecture: ${ARCHS.join(', ')} (default: the config's)`)
    .option('--loss <name>', `loss: ${LOSSES.join(', ')} (default: the config's)`)
    .option('--spectral-norm', 'spectral normalisation of D\'s convolutions (and no BatchNorm in D)')
    .option('--preview-every <steps>', 'write a preview grid every so many steps', int('--preview-every'))
    .option('--checkpoint-every <steps>', 'write a checkpoint every so many steps', int('--checkpoint-every'))
    .addOption(new Option('--crop <mode>', 'crop for a raw image folder: center or celeba').default('center'))
    .option('--threads <n>', 'training threads, one replica each (default: every core, up to the batch, on wasm and cpu)', int('--threads'))
    .option('--ema <decay>', 'keep a moving average of G\'s weights, e.g. 0.999, and sample from it (0: off)', num('--ema'))
    .option('--augment', 'differentiable augmentation (colour, translation, cutout) of every image D sees')
    .option('--no-augment', 'no augmentation, whatever the config says')
    .option('--eval-every <steps>', 'log the face share and Fréchet distance (gan eval, n 200) every so many steps', int('--eval-every'))
    .option('--fresh', 'start the run over, discarding its checkpoints')
    .action(async (o: TrainFlags) => {
      const [{ train }, { disposeGan }] = await Promise.all([import('./train.js'), import('./gan.js')]);
      const overrides: Partial<TrainConfig> = {
        epochs: o.epochs, batch: o.batch, seed: o.seed, lrG: o.lr, lrD: o.lr, width: o.width, previewEvery: o.previewEvery,
        checkpointEvery: o.checkpointEvery, ema: o.ema, augment: o.augment, evalEvery: o.evalEvery,
        arch: o.arch as TrainConfig['arch'], loss: o.loss as TrainConfig['loss'], spectralNorm: o.spectralNorm,
      };
      const r = await stoppable((signal) => train({
        data: o.data, res: o.res, crop: o.crop as 'center', run: o.run, fresh: o.fresh, threads: o.threads, signal, overrides,
      }));
      disposeGan(r.gan);
    });

  const fromRun = (c: Command) => c
    .option('--run <name>', 'the run to sample (default: the most recently updated)')
    .option('--checkpoint <step>', 'which checkpoint of the run: a step, or best (default: its latest)',
      (v: string) => (v === 'best' ? v : int('--checkpoint')(v)))
    .option('--no-ema', 'use the generator itself, not its moving average (to compare the two)');
  const sized = (c: Command) => c
    .option('--size <px>', 'pixels per face, enlarged with a smooth filter (default: the model\'s resolution)', int('--size'));

  sized(fromRun(withBackend(cmd.command('sample'))))
    .description('turn a seed into a face: the same seed gives the same face every time')
    .requiredOption('--out <file>', 'output image: .png, .jpg or .webp')
    .option('--seed <n>', 'which face', int('--seed'), 0)
    .option('--n <count>', 'a grid of this many faces, of seeds seed, seed+1, ...', int('--n'), 1)
    .option('--trunc <psi>', 'truncation: each latent scaled by psi toward the mean, from 0 (the average face) to 1 (none)', num('--trunc'))
    .action(async (o: { out: string; seed: number; n: number; trunc?: number; run?: string; checkpoint?: number | 'best'; size?: number; ema: boolean }) => {
      const { sampleToFile } = await import('./sample.js');
      const w = await sampleToFile(o);
      say(`wrote ${w.file}: ${w.seeds.length === 1 ? `seed ${w.seeds[0]}` : `seeds ${w.seeds[0]}..${w.seeds.at(-1)}`}, run ${w.run} at step ${w.step}` +
        (o.trunc === undefined ? '' : `, truncation ${o.trunc}`));
    });

  sized(fromRun(withBackend(cmd.command('interpolate'))))
    .description('a smooth walk from one seed\'s face to another\'s (spherical interpolation of the latents)')
    .requiredOption('--from <seed>', 'first face', int('--from'))
    .requiredOption('--to <seed>', 'last face', int('--to'))
    .requiredOption('--out <file>', 'walk.gif or walk.webp (animated), or walk.png (a strip)')
    .option('--steps <n>', 'frames, both ends included', int('--steps'), 16)
    .action(async (o: { from: number; to: number; out: string; steps: number; run?: string; checkpoint?: number | 'best'; size?: number; ema: boolean }) => {
      const { interpolateToFile } = await import('./sample.js');
      const w = await interpolateToFile(o);
      say(`wrote ${w.file}: ${o.steps} frames from seed ${o.from} to seed ${o.to}, run ${w.run} at step ${w.step}`);
    });

  fromRun(withBackend(cmd.command('eval')))
    .description('how good are the faces: face share (a face detector) and Fréchet distance to real faces')
    .option('--real <dir>', 'real faces: a cache or an image folder (default: the data the run trained on)')
    .option('--n <count>', 'generated faces (and real faces per half)', int('--n'), 1000)
    .option('--json', 'one JSON object on stdout')
    .action(async (o: { run?: string; checkpoint?: number | 'best'; real?: string; n: number; ema: boolean; json?: boolean }) => {
      const { evaluateRun } = await import('./eval.js');
      const r = await evaluateRun(o);
      if (o.json) return void terminal.out(JSON.stringify(r) + '\n');
      terminal.out(`run ${r.run} at step ${r.step}${r.ema ? ' (moving average of G)' : ''}, ${r.n} faces against ${r.real}\n` +
        `face share        ${r.face_share.toFixed(3)}  (faces found by the detector)\n` +
        `Fréchet distance  ${r.frechet.toFixed(4)}  (real vs real: ${r.frechet_floor.toFixed(4)}; lower is better)\n`);
    });

  fromRun(withBackend(cmd.command('export')))
    .description('the generator as a web page that makes faces (--web), and/or as an ONNX model (--onnx)')
    .option('--web <dir>', 'write the page into this folder; show it with gan serve DIR, or any static web server')
    .option('--onnx <file>', 'write an ONNX model: z [n, latent] float32 -> images [n, res, res, 3] (NHWC) in [-1, 1]')
    .action(async (o: { web?: string; onnx?: string; run?: string; checkpoint?: number | 'best'; ema: boolean }) => {
      const { exportRun } = await import('./export/index.js');
      const a = await exportRun(o);
      const from = `run ${a.run} at step ${a.step}${a.ema ? ' (moving average of G)' : ''}`;
      if (o.web) say(`wrote ${o.web}: a page that makes faces of ${from}; show it with: npx gan serve ${o.web}`);
      if (o.onnx) say(`wrote ${o.onnx}: ${from} as ONNX, z [n, ${a.latent}] -> images [n, ${a.res}, ${a.res}, 3] in [-1, 1]`);
    });

  cmd.command('serve')
    .description('show a page from gan export --web on a local web server, until Ctrl-C')
    .argument('<dir>', 'the folder gan export --web wrote')
    .option('--port <n>', 'port (0: any free one)', int('--port'), 8080)
    .option('--host <address>', 'address to listen on (0.0.0.0: every network this machine is on)', '127.0.0.1')
    .action(async (dir: string, o: { port: number; host: string }) => {
      const { serve } = await import('./export/serve.js');
      const { server, url } = await serve(dir, o.port, o.host);
      say(`serving ${dir} at ${url} (Ctrl-C stops)`);
      await new Promise<void>((stopped) => {
        const stop = () => {
          server.close(() => stopped());
          server.closeAllConnections();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });

  cmd.command('timelapse')
    .description('a run\'s preview grids in step order as an animation: watch its faces form')
    .option('--run <name>', 'the run (default: the most recently updated)')
    .requiredOption('--out <file>', 'progress.gif or progress.webp')
    .option('--seeds <a..b>', 'only these faces of the previews (their seeds are 0 to 63), e.g. 0..7', range('--seeds'))
    .option('--size <px>', 'pixels per face (default: as in the previews, at most 64)', int('--size'))
    .option('--frames <n>', 'at most this many previews, evenly spaced from the first to the last', int('--frames'), 60)
    .option('--delay <ms>', 'time per frame', int('--delay'), 250)
    .action(async (o: { run?: string; out: string; seeds?: [number, number]; size?: number; frames: number; delay: number }) => {
      const { timelapse } = await import('./timelapse.js');
      const t = await timelapse(o);
      say(`wrote ${t.file}: ${t.steps.length} previews of run ${t.run}, steps ${t.steps[0]} to ${t.steps.at(-1)}`);
    });

  cmd.command('runs')
    .description('list the training runs under checkpoints/')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      const { listRuns } = await import('./runs.js');
      const runs = listRuns();
      if (o.json) return void terminal.out(JSON.stringify(runs, null, 1) + '\n');
      if (runs.length === 0) return say('no runs yet under checkpoints/: start one with gan train');
      const rows = runs.map((r) => [r.name, `${r.res}px`, `step ${r.step}`, `${r.epoch}/${r.epochs} epochs`, r.updated.replace('T', ' ').slice(0, 19),
        r.losses ? `D ${r.losses.d.toFixed(3)} G ${r.losses.g.toFixed(3)}` : '', r.preview ?? '']);
      const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
      for (const r of rows) terminal.out(r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd() + '\n');
    });

  cmd.command('doctor')
    .description('what gan sees here: Node, cores, memory, each backend and why it can or cannot be used, GPU adapters, CUDA; and what gan train would use')
    .option('--json', 'one JSON object on stdout')
    .action(async (o: { json?: boolean }) => {
      const { doctor, formatDoctor } = await import('./doctor.js');
      const r = await doctor();
      terminal.out(o.json ? JSON.stringify(r) + '\n' : formatDoctor(r));
    });

  return cmd;
}

/** A library setting as the command line spells it: its flag where one sets it, else its name in configs/. */
function flagOf(cmd: Command, setting: string): string {
  if (setting === 'lrG' || setting === 'lrD') return '--lr';
  const option = cmd.commands.flatMap((c) => c.options).find((o) => o.long && o.attributeName() === setting);
  return option?.long ?? setting;
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const cmd = program();
  try {
    await cmd.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2; // commander already printed it
    if (e instanceof GanError) {
      say(`gan: ${renameSettings(e.message, (s) => flagOf(cmd, s))}`);
      return e.exitCode;
    }
    say(`gan: internal error: ${(e as Error).message}` + (process.env.GAN_DEBUG ? `\n${(e as Error).stack}` : ' (GAN_DEBUG=1 shows the stack)'));
    return 1;
  } finally {
    release?.();
  }
}
