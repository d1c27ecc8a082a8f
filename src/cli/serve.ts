// `dawnet serve`: serves the browser page (dist/web, built by scripts/build-web.mjs) over HTTP on
// this machine only. WebGPU needs a secure context, which localhost is; anything wider would need
// TLS and would expose the page, so non-loopback hosts are refused, and so are requests addressed
// to another name (DNS rebinding). Only GET and HEAD, only files under the root (no `..`, no
// symlinks leading out), each with its MIME type. A folder asked for without its trailing slash is
// redirected to it, so the relative links of its index.html resolve inside it.

import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, UsageError, type CommandSpec } from './args.js';

export const serveSpec: CommandSpec = {
  name: 'serve',
  summary:
    'Serves the dawnet page (segment MRI slices with a checkpoint, train a small U-Net live) on this machine.\n' +
    'The page runs on WebGPU in the browser; open the printed address in a browser that has it.\n' +
    'dist/web is built first when it is missing (or with --build); only loopback hosts are allowed.',
  flags: {
    port: { type: 'number', help: 'TCP port (0 picks a free one)', default: 8080 },
    host: { type: 'string', help: 'loopback address to listen on: 127.0.0.1, ::1 or localhost', default: '127.0.0.1' },
    dir: { type: 'string', help: 'folder to serve (default: dist/web of this checkout)' },
    build: { type: 'boolean', help: 'rebuild dist/web before serving', default: false },
  },
  examples: ['dawnet serve', 'dawnet serve --port 9000 --build'],
};

export const MIME_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
  '.safetensors': 'application/octet-stream',
};

/** True for addresses that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1';
  return false;
}

/** The checkout's root: this file is src/cli/serve.ts, or bundled into dist/cli.js. */
function checkoutRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return resolve(here, here.endsWith(`${sep}cli`) ? '../..' : '..');
}

export interface StartedServer {
  server: Server;
  url: string;
  port: number;
  close(): Promise<void>;
}

/** A file to send, or the address of a folder's page asked for without its trailing slash. */
type Target = { file: string } | { location: string };

/**
 * Maps a request path onto a file under `root` (already real-pathed), or null when it leads
 * outside, is malformed or names nothing servable. A folder whose index.html would be served is
 * `location` when asked for without the trailing slash: the folder's path under the root, each
 * name percent-encoded, so it is always a path on this server ('/a/', never '//host' or '/\\host').
 */
async function resolveTarget(root: string, rawUrl: string): Promise<Target | null> {
  let url: URL;
  let pathname: string;
  try {
    // A request path is a path: parsed against a base, '//evil.com/x' would be host evil.com.
    url = new URL(rawUrl.startsWith('/') ? `http://localhost${rawUrl}` : rawUrl);
    pathname = decodeURIComponent(url.pathname);
  } catch {
    return null;
  }
  if (pathname.includes('\0') || pathname.includes('\\')) return null;
  const asked = resolve(root, `.${pathname}`);
  if (asked !== root && !asked.startsWith(root + sep)) return null;
  try {
    const folder = (await stat(asked)).isDirectory();
    const real = await realpath(folder ? join(asked, 'index.html') : asked);
    if (real !== root && !real.startsWith(root + sep)) return null;
    if (!(await stat(real)).isFile()) return null;
    if (!folder || pathname.endsWith('/')) return { file: real };
    const names = relative(root, asked).split(sep).filter(Boolean);
    return { location: `/${names.map((n) => `${encodeURIComponent(n)}/`).join('')}${url.search}` };
  } catch {
    return null;
  }
}

function reply(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * True when the request names this machine in its Host header (or gives none, as only a local tool
 * would). A page elsewhere can point its own name at 127.0.0.1 (DNS rebinding) and then read what
 * we serve as same-origin: its requests still carry its name.
 */
function isLoopbackRequest(req: IncomingMessage): boolean {
  const host = req.headers.host;
  if (host === undefined) return true;
  try {
    return isLoopbackHost(new URL(`http://${host}`).hostname);
  } catch {
    return false;
  }
}

async function handle(root: string, headers: Readonly<Record<string, string>>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (!isLoopbackRequest(req)) {
    reply(res, 403, 'forbidden: this server answers only requests addressed to 127.0.0.1, ::1 or localhost\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    reply(res, 405, 'method not allowed\n');
    return;
  }
  const target = await resolveTarget(root, req.url ?? '/');
  if (!target) {
    reply(res, 404, 'not found\n');
    return;
  }
  if ('location' in target) {
    // Not cached: the folder may be a file by the next build, and a browser keeps a 301 for good.
    res.setHeader('Location', target.location);
    res.setHeader('Cache-Control', 'no-store');
    reply(res, 301, `moved to ${target.location}\n`);
    return;
  }
  const { file } = target;
  const { size } = await stat(file);
  res.writeHead(200, {
    'Content-Type': MIME_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
    'Content-Length': size,
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  createReadStream(file).on('error', () => res.destroy()).pipe(res);
}

/**
 * Serves `root` on host:port (loopback only) until close(). Port 0 picks a free port. `headers`
 * go on every file served (the browser bench asks for cross-origin isolation with them).
 */
export async function startServer(options: { root: string; host?: string; port?: number; headers?: Readonly<Record<string, string>> }): Promise<StartedServer> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopbackHost(host)) {
    throw new UsageError(`refusing to listen on '${host}': only loopback hosts (127.0.0.1, ::1, localhost) are allowed`);
  }
  const port = options.port ?? 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be an integer 0..65535, got ${port}`);
  let root: string;
  try {
    root = await realpath(resolve(options.root));
  } catch {
    throw new UsageError(`folder ${options.root} does not exist (build it with 'node scripts/build-web.mjs')`);
  }
  const server = createServer((req, res) => {
    handle(root, options.headers ?? {}, req, res).catch(() => {
      if (!res.headersSent) reply(res, 500, 'internal error\n');
      else res.destroy();
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      fail(e.code === 'EADDRINUSE' ? new UsageError(`port ${port} on ${host} is in use (try --port 0, or another --port)`) : e),
    );
    server.listen(port, host, () => ok());
  });
  const address = server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  const urlHost = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return {
    server,
    port: actualPort,
    url: `http://${urlHost}:${actualPort}/`,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections(); // a browser's keep-alive connections would hold close() open
      }),
  };
}

async function buildPage(root: string): Promise<void> {
  const script = join(root, 'scripts/build-web.mjs');
  try {
    await stat(script);
  } catch {
    // An installed package ships dist/ without the page or its build script (package.json "files").
    throw new UsageError(
      `dist/web is missing and ${script} is not there to build it: the page is built from a checkout of dawnet ('npm run build:web' there), ` +
        'then served from anywhere with --dir CHECKOUT/dist/web',
    );
  }
  await new Promise<void>((ok, fail) => {
    execFile(process.execPath, [script], { cwd: root }, (error, stdout, stderr) => {
      if (error) fail(new UsageError(`building the page failed: ${(stderr || error.message).trim()}`));
      else {
        process.stdout.write(stdout);
        ok();
      }
    });
  });
}

export async function runServe(args: string[]): Promise<void> {
  const parsed = parseArgs(serveSpec, args);
  if (!parsed) return;
  const host = parsed.flags.host as string;
  const port = parsed.flags.port as number;
  if (!isLoopbackHost(host)) {
    throw new UsageError(`refusing to listen on '${host}': only loopback hosts (127.0.0.1, ::1, localhost) are allowed`);
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be an integer 0..65535, got ${port}`);
  const checkout = checkoutRoot();
  const given = parsed.flags.dir as string | undefined;
  const dir = given ?? join(checkout, 'dist/web');
  const missing = await stat(join(dir, 'index.html')).then(() => false, () => true);
  if (parsed.flags.build || (missing && given === undefined)) await buildPage(checkout);
  else if (missing) throw new UsageError(`${dir} holds no index.html (build the page with 'node scripts/build-web.mjs --outdir ${dir}')`);
  const started = await startServer({ root: dir, host, port });
  console.log(`dawnet serve: ${dir} at ${started.url} (Ctrl-C to stop)`);
  await new Promise<void>((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void started.close().then(done);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
