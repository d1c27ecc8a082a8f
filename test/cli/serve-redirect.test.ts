// `dawnet serve` and a folder asked for without its trailing slash: a 301 to the slashed path, so
// the relative links of its index.html resolve inside it; never a redirect off this server.
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type StartedServer } from '../../src/cli/serve.js';

let dir = '';
let server: StartedServer;

interface Answer {
  status: number;
  location: string | undefined;
  cache: string | undefined;
  body: string;
}

/** A raw request: the path is sent as written (no normalisation), the Host header as given. */
function ask(path: string, options: { host?: string; method?: string } = {}): Promise<Answer> {
  return new Promise((ok, fail) => {
    const headers = options.host === undefined ? {} : { Host: options.host };
    const req = request({ host: '127.0.0.1', port: server.port, path, method: options.method ?? 'GET', headers, setHost: options.host === undefined }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => ok({ status: res.statusCode ?? 0, location: res.headers.location, cache: res.headers['cache-control'], body }));
    });
    req.on('error', fail);
    req.end();
  });
}

/** Where a browser at this server goes with `location`. */
const followed = (location: string) => new URL(location, `http://127.0.0.1:${server.port}/somewhere/page`);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dawnet-serve-redirect-'));
  const site = join(dir, 'site');
  for (const sub of ['sub', 'sub/deeper', 'evil.com', 'a b', 'empty']) await mkdir(join(site, sub), { recursive: true });
  for (const page of ['', 'sub', 'sub/deeper', 'evil.com', 'a b']) await writeFile(join(site, page, 'index.html'), `page ${page}`);
  await mkdir(join(dir, 'outside'));
  await writeFile(join(dir, 'outside', 'index.html'), 'secret');
  await symlink(join(dir, 'outside'), join(site, 'out'));
  await symlink(join(site, 'sub'), join(site, 'alias'));
  server = await startServer({ root: site, port: 0 });
});

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('dawnet serve: a folder without its trailing slash', () => {
  it('is redirected (301, not cached) to the slashed path, its query kept', async () => {
    const cases = [
      ['/sub', '/sub/'],
      ['/sub?x=1&y=two', '/sub/?x=1&y=two'],
      ['/sub/deeper', '/sub/deeper/'],
      ['/sub/deeper?q', '/sub/deeper/?q'],
      ['/a%20b', '/a%20b/'],
      ['/alias', '/alias/'],
      ['/sub/deeper%2F..', '/sub/'],
    ] as const;
    for (const [path, location] of cases) {
      const r = await ask(path);
      expect({ status: r.status, location: r.location, cache: r.cache }, path).toEqual({ status: 301, location, cache: 'no-store' });
      expect(r.body, path).not.toContain('page');
    }
    expect((await ask('/sub', { method: 'HEAD' })).status).toBe(301);
  });

  it('with the slash, the folder page is served as before', async () => {
    for (const [path, body] of [['/', 'page '], ['/sub/', 'page sub'], ['/sub/?x=1', 'page sub'], ['/a%20b/', 'page a b'], ['/alias/', 'page sub'], ['/sub/index.html', 'page sub']]) {
      expect(await ask(path), path).toMatchObject({ status: 200, location: undefined, body });
    }
  });

  it('never redirects off this server: doubled, back and encoded slashes land on a path here', async () => {
    const tries = ['//evil.com', '///evil.com', '//evil.com/', '/\\evil.com', '/\\/evil.com', '/%2Fevil.com', '/%2f%2fevil.com', '/.//evil.com', '//evil.com?x=//evil.com', 'http://evil.com/sub', '/%09/evil.com', '//evil.com/%2e%2e/sub'];
    for (const path of tries) {
      const r = await ask(path);
      if (r.status !== 301) {
        expect(r.location, path).toBe(undefined);
        continue;
      }
      expect(r.location, path).toMatch(/^\/(?![/\\])/);
      expect(followed(r.location!).host, `${path} -> ${r.location}`).toBe(`127.0.0.1:${server.port}`);
    }
    // The folder named like a host is a path here.
    expect((await ask('//evil.com')).location).toBe('/evil.com/');
    expect((await ask('/%2Fevil.com')).location).toBe('/evil.com/');
    expect((await ask('http://evil.com/sub')).location).toBe('/sub/');
    // An encoded backslash is refused outright, as before.
    expect((await ask('/%5Cevil.com')).status).toBe(404);
  });

  it('says nothing of a folder it would not serve: no page, a link leading out, another Host', async () => {
    for (const path of ['/empty', '/empty/', '/out', '/out/', '/nothing', '/../outside']) {
      const r = await ask(path);
      expect({ status: r.status, location: r.location }, path).toEqual({ status: 404, location: undefined });
      expect(r.body).not.toContain('secret');
    }
    const rebound = await ask('/sub', { host: 'evil.example.com' });
    expect({ status: rebound.status, location: rebound.location }).toEqual({ status: 403, location: undefined });
  });
});
