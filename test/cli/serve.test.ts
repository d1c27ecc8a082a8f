// `dawnet serve` as a security-minded user tries it: requests addressed to another host name (DNS
// rebinding), paths out of the folder, and the CLI's own messages.
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type StartedServer } from '../../src/cli/serve.js';
import { buildCli, runCliSync } from './helpers.js';

let dir = '';
let server: StartedServer;
let cli = '';

/** A raw GET: the path is sent as written (no normalisation) and the Host header as given. */
function get(path: string, host?: string): Promise<{ status: number; body: string }> {
  return new Promise((ok, fail) => {
    const headers = host === undefined ? {} : { Host: host };
    const req = request({ host: '127.0.0.1', port: server.port, path, headers, setHost: host === undefined }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => ok({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', fail);
    req.end();
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dawnet-serve-'));
  await mkdir(join(dir, 'site'));
  await writeFile(join(dir, 'site/index.html'), 'page');
  await writeFile(join(dir, 'secret.txt'), 'secret');
  await symlink(join(dir, 'secret.txt'), join(dir, 'site/link.txt'));
  server = await startServer({ root: join(dir, 'site'), port: 0 });
  cli = await buildCli();
}, 60_000);

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
  if (cli) await rm(dirname(cli), { recursive: true, force: true });
});

describe('dawnet serve', () => {
  it('answers requests addressed to this machine', async () => {
    for (const host of [undefined, `127.0.0.1:${server.port}`, `localhost:${server.port}`, `[::1]:${server.port}`, 'LOCALHOST']) {
      expect(await get('/', host), String(host)).toEqual({ status: 200, body: 'page' });
    }
  });

  it('refuses a request addressed to another name (DNS rebinding), whatever it asks for', async () => {
    for (const host of ['evil.example.com', `evil.example.com:${server.port}`, '0.0.0.0', '192.168.1.4:80', 'localhost.evil.com', '']) {
      const r = await get('/', host);
      expect(r.status, host).toBe(403);
      expect(r.body).not.toContain('page');
    }
  });

  it('serves nothing outside its folder', async () => {
    for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/link.txt', `/${dir}/secret.txt`, '/index.html%00.txt']) {
      const r = await get(path);
      expect(r.status, path).toBe(404);
      expect(r.body).not.toContain('secret');
    }
  });

  it('a port in use is one line naming it, with the command prefix once', () => {
    const r = runCliSync(cli, ['serve', '--dir', join(dir, 'site'), '--port', String(server.port)]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([`dawnet serve: port ${server.port} on 127.0.0.1 is in use (try --port 0, or another --port)`]);
  });
});
