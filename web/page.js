// The page of `gan export --web`: seeds to faces in the browser. latent.js and rng.js are the compiled
// modules `gan sample` draws its latents with, and model/ is the run's generator, so seed N here is
// `gan sample --seed N`'s face. The state lives in the URL (#seed=42&to=7&t=0.5&psi=0.7): share it.
import { isTruncation, latentOf, slerp, truncate } from './latent.js';

const tf = globalThis.tf;
const $ = (id) => document.getElementById(id);
const canvas = $('face');
const context = canvas.getContext('2d');
const view = $('view');
const viewContext = view.getContext('2d');

/** The first backend this browser runs, best first; ?backend=NAME forces one (webgpu, webgl or cpu). */
async function pickBackend() {
  const forced = new URLSearchParams(location.search).get('backend');
  for (const name of forced ? [forced] : ['webgpu', 'webgl', 'cpu']) {
    try {
      if (await tf.setBackend(name)) return name;
    } catch {
      // not registered: this browser has no WebGPU
    }
  }
  throw new Error(forced ? `backend ${forced} does not run in this browser` : 'no tfjs backend runs in this browser');
}

function describeBackend(name) {
  if (name === 'webgpu') return 'Runs on the GPU with WebGPU.';
  if (name === 'webgl') {
    return 'Runs on the GPU with WebGL' +
      (tf.env().getBool('WEBGL_RENDER_FLOAT32_ENABLED') ? '.' : ' in 16-bit floats: faces may differ slightly from gan sample\'s.');
  }
  return 'Runs on the CPU (this browser offers neither WebGPU nor WebGL).';
}

const isSeed = (s) => /^-?\d+$/.test(s) && Number.isSafeInteger(Number(s));

/** The state the URL's hash names; what it leaves out or gets wrong takes its default. */
function readHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  const seed = isSeed(p.get('seed') ?? '') ? Number(p.get('seed')) : Math.floor(Math.random() * 100000);
  const to = isSeed(p.get('to') ?? '') ? Number(p.get('to')) : seed + 1;
  const t = Number(p.get('t') ?? 0);
  const psi = Number(p.get('psi') ?? 1);
  return { seed, to, t: t >= 0 && t <= 1 ? t : 0, psi: isTruncation(psi) ? psi : 1 };
}

/** The hash of a state: the seed always, the walk and the truncation when they change the face. */
function hashOf(s) {
  return `seed=${s.seed}` + (s.t > 0 ? `&to=${s.to}&t=${s.t}` : '') + (s.psi !== 1 ? `&psi=${s.psi}` : '');
}

let G, latent, res;
let state = readHash();

/** z as `gan sample --seed seed --trunc psi` draws it, or a point of `gan interpolate`'s walk to `to`. */
function latentFor(s) {
  const a = latentOf(s.seed, latent);
  return truncate(s.t > 0 ? slerp(a, latentOf(s.to, latent), s.t) : a, s.psi);
}

async function draw(s) {
  // the same arithmetic as gan's toPixels: [-1, 1] -> 0..255, rounded and clipped
  const pixels = tf.tidy(() => G.predict(tf.tensor2d(latentFor(s), [1, latent])).add(1).mul(127.5).round().clipByValue(0, 255).cast('int32'));
  const rgb = await pixels.data();
  pixels.dispose();
  const image = new ImageData(res, res);
  for (let i = 0; i < res * res; i++) image.data.set([rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2], 255], 4 * i);
  context.putImageData(image, 0, 0);
  canvas.dataset.face = hashOf(s); // what the canvas shows, for scripts and tests to wait on
  enlarge();
}

/** The face at the size it is shown, in device pixels, with the browser's highest-quality smoothing. */
function enlarge() {
  const px = Math.round(view.clientWidth * devicePixelRatio);
  if (view.width !== px || view.height !== px) view.width = view.height = px;
  viewContext.imageSmoothingEnabled = true;
  viewContext.imageSmoothingQuality = 'high';
  viewContext.drawImage(canvas, 0, 0, px, px);
}

// One drawing at a time; a slider moved meanwhile is drawn once it is done, at its latest position.
let drawing = false;
let again = false;
async function render() {
  if (drawing) return void (again = true);
  drawing = true;
  try {
    do {
      again = false;
      await draw({ ...state });
    } while (again);
  } finally {
    drawing = false;
  }
}

function showState() {
  $('seed').value = state.seed;
  $('to').value = state.to;
  $('t').value = state.t;
  $('psi').value = state.psi;
  $('psi-value').value = state.psi.toFixed(2);
}

/** A new state from the controls: a new seed is a new history entry (Back returns), a slider is not. */
function update(change, newEntry = false) {
  state = { ...state, ...change };
  history[newEntry ? 'pushState' : 'replaceState'](null, '', '#' + hashOf(state));
  showState();
  render();
}

function wire() {
  $('seed').addEventListener('input', (e) => isSeed(e.target.value) && update({ seed: Number(e.target.value) }, true));
  $('to').addEventListener('input', (e) => isSeed(e.target.value) && update({ to: Number(e.target.value) }));
  $('t').addEventListener('input', (e) => update({ t: Number(e.target.value) }));
  $('psi').addEventListener('input', (e) => update({ psi: Number(e.target.value) }));
  $('new').addEventListener('click', () => update({ seed: Math.floor(Math.random() * 100000), t: 0 }, true));
  $('download').addEventListener('click', () => canvas.toBlob((blob) => {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `face-${canvas.dataset.face.replace(/[=&]/g, '-')}.png`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
  }, 'image/png'));
  // an edited or followed #seed=..., and Back and Forward (browsers differ in which of the two they send)
  const followUrl = () => {
    const s = readHash();
    if (hashOf(s) === hashOf(state)) return;
    state = s;
    showState();
    render();
  };
  addEventListener('resize', enlarge);
  addEventListener('hashchange', followUrl);
  addEventListener('popstate', followUrl);
}

async function start() {
  const backend = await pickBackend();
  const about = await (await fetch('about.json')).json();
  G = await tf.loadLayersModel('model/model.json');
  latent = G.inputs[0].shape[1];
  res = G.outputs[0].shape[1];
  canvas.width = canvas.height = res;
  $('about').textContent = `Run ${about.run}, step ${about.step}, ${res}×${res}` + (about.ema ? ', moving average of the generator.' : '.');
  $('backend').textContent = describeBackend(backend);
  document.body.dataset.backend = backend;
  history.replaceState(null, '', '#' + hashOf(state));
  showState();
  wire();
  await render();
}

start().catch((e) => {
  $('about').textContent = `The page could not start: ${e.message}`;
  $('about').classList.add('error');
});
