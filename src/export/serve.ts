// `gan serve DIR`: a static file server over node:http, enough to open an exported page (browsers do not
// run module scripts or fetch a model from file:// pages).
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { GanError } from '../errors.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8', // module scripts need a JavaScript type
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.png': 'image/png',
  '.bin': 'application/octet-stream',
};

/** The file under `root` that a request path names (a folder's index.html), or undefined: never outside root. */
function resolve(root: string, urlPath: string): string | undefined {
  let rel: string;
  try {
    rel = decodeURIComponent(urlPath.split('?')[0]);
  } catch {
    return undefined;
  }
  const file = path.join(root, path.normalize(rel));
  if (file !== root && !file.startsWith(root + path.sep)) return undefined;
  try {
    const st = fs.statSync(file);
    if (st.isFile()) return file;
    if (st.isDirectory() && fs.existsSync(path.join(file, 'index.html'))) return path.join(file, 'index.html');
  } catch { /* not there */ }
  return undefined;
}

/** Serves `dir` on host:port (port 0: any free one) until the server is closed; resolves once it listens. */
export async function serve(dir: string, port = 8080, host = '127.0.0.1'): Promise<{ server: http.Server; url: string }> {
  const root = path.resolve(dir);
  if (!fs.existsSync(path.join(root, 'index.html'))) throw new GanError(`${dir} has no index.html: make one with gan export --web ${dir}`);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new GanError(`\`port\` must be from 0 to 65535 (got ${port})`);
  const server = http.createServer((req, res) => {
    const file = req.method === 'GET' || req.method === 'HEAD' ? resolve(root, req.url ?? '/') : undefined;
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache' });
    if (req.method === 'HEAD') res.end();
    else fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      fail(e.code === 'EADDRINUSE' ? new GanError(`port ${port} is in use: choose another \`port\``) : e));
    server.listen(port, host, ok);
  });
  return { server, url: `http://${host}:${(server.address() as AddressInfo).port}/` };
}
