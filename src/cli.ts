// The command line: parse options, call the library, map errors to exit codes (2: the user can fix it).
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { initBackend, releaseBackend } from './backend.js';
import { checkCrop, checkRes, preprocess } from './data/preprocess.js';
import { doctor, formatDoctor } from './doctor.js';
import { GanError } from './errors.js';
import { evaluateRun } from './eval.js';
import { say } from './log.js';
import { listRuns } from './runs.js';
import { interpolateToFile, sampleToFile } from './sample.js';
import { disposeGan } from './gan.js';
import { train } from './train.js';

function int(name: string) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError(`${name} must be an integer`);
    return Number(value);
  };
}

function num(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number`);
    return n;
  };
}

/** Every command goes through the backend layer: --backend, and one line saying which backend and why. */
function withBackend(cmd: Command): Command {
  return cmd
    .option('--backend <name>', 'node-gpu, webgpu, node, wasm or cpu (default: the best one that works here)')
    .hook('preAction', async (c) => {
      const choice = await initBackend(c.opts().backend);
      say(choice.line);
      if (choice.warning) say(choice.warning);
    });
}

/**
 * Ctrl-C or SIGTERM asks the command to stop at the next safe point: training after the current step, with
 * a checkpoint; preprocessing once the images decoded so far are cached. A second Ctrl-C a moment later
 * quits at once (what was written stays whole); a repeated SIGTERM (service managers, `timeout` passing on
 * the signal) changes nothing.
 */
function stopSignal(): AbortController {
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
  return ctl;
}

function program(): Command {
  const cmd = new Command('gan')
    .description('Train DCGANs that generate faces.')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  withBackend(cmd.command('preprocess'))
    .description('decode, crop and resize every image under a folder once, into a uint8 cache')
    .argument('<folder>', 'folder of face photos (searched recursively)')
    .addOption(new Option('--res <px>', 'image size: 16, 32, 64 or 128').default(64).argParser(int('--res')))
    .addOption(new Option('--crop <mode>', 'center (largest centred square) or celeba (CelebA DCGAN crop)').default('center'))
    .option('--out <dir>', 'cache folder (default data/<folder>-<res>)')
    .action(async (folder: string, o: { res: number; crop: string; out?: string }) => {
      checkRes(o.res);
      checkCrop(o.crop);
      const r = await preprocess(folder, { res: o.res, crop: o.crop, out: o.out, signal: stopSignal().signal });
      say(r.cacheHit
        ? `cache hit: ${r.dir} is up to date (${r.cached} images cached, ${r.skipped} skipped)`
        : `${r.cached} images cached, ${r.skipped} skipped in ${r.dir} (${r.processed} decoded in ${r.seconds.toFixed(1)} s)` +
          (r.skipped ? `; skipped files are listed in ${r.dir}/skipped.txt` : ''));
    });

  withBackend(cmd.command('train'))
    .description('train a DCGAN; rerun the same command to resume where it stopped')
    .option('--data <dir>', 'a cache from gan preprocess, or a folder of images (default: the built-in faces)')
    .addOption(new Option('--res <px>', 'image size: 16, 32, 64 or 128').default(64).argParser(int('--res')))
    .option('--epochs <n>', 'passes over the data', int('--epochs'))
    .option('--batch <n>', 'images per step', int('--batch'))
    .option('--run <name>', 'run name: its folder is checkpoints/<name> (default <data>-<res>)')
    .option('--seed <n>', 'fixes the initial weights, the data order and every latent', int('--seed'))
    .option('--lr <x>', 'learning rate of both networks (default 0.0002)', num('--lr'))
    .option('--width <n>', 'base number of filters (default 64)', int('--width'))
    .option('--preview-every <steps>', 'write a preview grid every so many steps', int('--preview-every'))
    .option('--checkpoint-every <steps>', 'write a checkpoint every so many steps', int('--checkpoint-every'))
    .addOption(new Option('--crop <mode>', 'crop for a raw image folder: center or celeba').default('center'))
    .option('--threads <n>', 'training threads, one replica each (default: every core on wasm and cpu)', int('--threads'))
    .option('--ema <decay>', 'keep a moving average of G\'s weights, e.g. 0.999, and sample from it (0: off)', num('--ema'))
    .option('--augment', 'differentiable augmentation (colour, translation, cutout) of every image D sees')
    .option('--no-augment', 'no augmentation, whatever the config says')
    .option('--eval-every <steps>', 'log the face share and Fréchet distance (gan eval, n 200) every so many steps', int('--eval-every'))
    .option('--fresh', 'start the run over, discarding its checkpoints')
    .action(async (o: {
      data?: string; res: number; epochs?: number; batch?: number; run?: string; seed?: number; lr?: number; width?: number;
      previewEvery?: number; checkpointEvery?: number; crop: string; fresh?: boolean; threads?: number;
      ema?: number; augment?: boolean; evalEvery?: number;
    }) => {
      checkRes(o.res);
      checkCrop(o.crop);
      const ctl = stopSignal();
      const r = await train({
        data: o.data, res: o.res, crop: o.crop, run: o.run, fresh: o.fresh, threads: o.threads, signal: ctl.signal,
        overrides: { epochs: o.epochs, batch: o.batch, seed: o.seed, lrG: o.lr, lrD: o.lr, width: o.width,
          previewEvery: o.previewEvery, checkpointEvery: o.checkpointEvery, ema: o.ema, augment: o.augment, evalEvery: o.evalEvery },
      });
      disposeGan(r.gan);
    });

  const fromRun = (c: Command) => c
    .option('--run <name>', 'the run to sample (default: the most recently updated)')
    .option('--checkpoint <step>', 'which checkpoint of the run (default: its latest)', int('--checkpoint'))
    .option('--size <px>', 'pixels per face, enlarged with a smooth filter (default: the model\'s resolution)', int('--size'))
    .option('--no-ema', 'use the generator itself, not its moving average (to compare the two)');

  fromRun(withBackend(cmd.command('sample')))
    .description('turn a seed into a face: the same seed gives the same face every time')
    .requiredOption('--out <file>', 'output image: .png, .jpg or .webp')
    .option('--seed <n>', 'which face', int('--seed'), 0)
    .option('--n <count>', 'a grid of this many faces, of seeds seed, seed+1, ...', int('--n'), 1)
    .action(async (o: { out: string; seed: number; n: number; run?: string; checkpoint?: number; size?: number; ema: boolean }) => {
      const w = await sampleToFile(o);
      say(`wrote ${w.file}: ${w.seeds.length === 1 ? `seed ${w.seeds[0]}` : `seeds ${w.seeds[0]}..${w.seeds.at(-1)}`}, run ${w.run} at step ${w.step}`);
    });

  fromRun(withBackend(cmd.command('interpolate')))
    .description('a smooth walk from one seed\'s face to another\'s (spherical interpolation of the latents)')
    .requiredOption('--from <seed>', 'first face', int('--from'))
    .requiredOption('--to <seed>', 'last face', int('--to'))
    .requiredOption('--out <file>', 'walk.gif or walk.webp (animated), or walk.png (a strip)')
    .option('--steps <n>', 'frames, both ends included', int('--steps'), 16)
    .action(async (o: { from: number; to: number; out: string; steps: number; run?: string; checkpoint?: number; size?: number; ema: boolean }) => {
      const w = await interpolateToFile(o);
      say(`wrote ${w.file}: ${o.steps} frames from seed ${o.from} to seed ${o.to}, run ${w.run} at step ${w.step}`);
    });

  fromRun(withBackend(cmd.command('eval')))
    .description('how good are the faces: face share (a face detector) and Fréchet distance to real faces')
    .option('--real <dir>', 'real faces: a cache or an image folder (default: the data the run trained on)')
    .option('--n <count>', 'generated faces (and real faces per half)', int('--n'), 1000)
    .option('--json', 'one JSON object on stdout')
    .action(async (o: { run?: string; checkpoint?: number; real?: string; n: number; ema: boolean; json?: boolean }) => {
      const r = await evaluateRun(o);
      if (o.json) return void process.stdout.write(JSON.stringify(r) + '\n');
      process.stdout.write(`run ${r.run} at step ${r.step}${r.ema ? ' (moving average of G)' : ''}, ${r.n} faces against ${r.real}\n` +
        `face share        ${r.face_share.toFixed(3)}  (faces found by the detector)\n` +
        `Fréchet distance  ${r.frechet.toFixed(4)}  (real vs real: ${r.frechet_floor.toFixed(4)}; lower is better)\n`);
    });

  cmd.command('runs')
    .description('list the training runs under checkpoints/')
    .option('--json', 'machine-readable output')
    .action((o: { json?: boolean }) => {
      const runs = listRuns();
      if (o.json) return void process.stdout.write(JSON.stringify(runs, null, 1) + '\n');
      if (runs.length === 0) return say('no runs yet under checkpoints/: start one with gan train');
      const rows = runs.map((r) => [r.name, `${r.res}px`, `step ${r.step}`, `${r.epoch}/${r.epochs} epochs`, r.updated.replace('T', ' ').slice(0, 19),
        r.losses ? `D ${r.losses.d.toFixed(3)} G ${r.losses.g.toFixed(3)}` : '', r.preview ?? '']);
      const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
      for (const r of rows) process.stdout.write(r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd() + '\n');
    });

  cmd.command('doctor')
    .description('what gan sees here: Node, cores, memory, each backend and why it can or cannot be used, GPU adapters, CUDA; and what gan train would use')
    .option('--json', 'one JSON object on stdout')
    .action(async (o: { json?: boolean }) => {
      const r = await doctor();
      process.stdout.write(o.json ? JSON.stringify(r) + '\n' : formatDoctor(r));
    });

  return cmd;
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2; // commander already printed it
    if (e instanceof GanError) {
      say(`gan: ${e.message}`);
      return e.exitCode;
    }
    say(`gan: internal error: ${(e as Error).message}` + (process.env.GAN_DEBUG ? `\n${(e as Error).stack}` : ' (GAN_DEBUG=1 shows the stack)'));
    return 1;
  } finally {
    releaseBackend();
  }
}

