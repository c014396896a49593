// The admin dashboard's files over real HTTP: GET / is the page, its script and style are
// served with their content types, the page loads nothing from another origin, and the
// JSON endpoints it polls answer with what it reads.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { open, type Store } from '../../src/index.js';
import { startAdminServer, type AdminServer } from '../../src/server/admin/index.js';

const dir = mkdtempSync(join(tmpdir(), 'ringkv-dashboard-'));
let store: Store;
let admin: AdminServer;

async function get(path: string): Promise<{ status: number; type: string; csp: string; body: string }> {
  const res = await fetch(`http://127.0.0.1:${admin.port}${path}`);
  return { status: res.status, type: res.headers.get('content-type') ?? '', csp: res.headers.get('content-security-policy') ?? '', body: await res.text() };
}

test.before(async () => {
  store = await open({ dir, shards: 2, storage: { syncMode: 'none' } });
  admin = await startAdminServer(store, { port: 0 });
});

test.after(async () => {
  await admin.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

test('GET / is the dashboard page: html that loads its own script and style, no external URL', async () => {
  const page = await get('/');
  assert.is(page.status, 200);
  assert.match(page.type, /^text\/html/);
  assert.match(page.body, '<script type="module" src="dashboard.js"></script>');
  assert.match(page.body, '<link rel="stylesheet" href="dashboard.css">');
  for (const id of ['ring', 'nodes', 'shards', 'ops-chart', 'hint-chart', 'backlogs', 'warnings', 'actions']) assert.match(page.body, `id="${id}"`);
  // Nothing from a CDN or any other origin, and the browser is told to refuse it too.
  assert.not.match(page.body, /(https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/i);
  assert.match(page.csp, "default-src 'self'");
  assert.not.match(page.csp, /https?:/);
  // HEAD works as for every admin GET.
  const head = await fetch(`http://127.0.0.1:${admin.port}/`, { method: 'HEAD' });
  assert.is(head.status, 200);
});

test('the script and the style are served with their content types', async () => {
  const js = await get('/dashboard.js');
  assert.is(js.status, 200);
  assert.match(js.type, /^text\/javascript/);
  // The bundled page script: it polls the admin endpoints (relative URLs: same origin).
  for (const path of ['/ring?lists', '/stats', '/cluster']) assert.match(js.body, path);
  assert.not.match(js.body, /^\s*import\s/m, 'bundled: no module imports left for the browser to fetch');
  const css = await get('/dashboard.css');
  assert.is(css.status, 200);
  assert.match(css.type, /^text\/css/);
  assert.match(css.body, '.state-down');
  assert.not.match(css.body, /url\(|@import/);
});

test('the page is read-only: its script sends no POST and names the CLI commands instead', async () => {
  const js = (await get('/dashboard.js')).body;
  assert.not.match(js, /method:\s*["']POST/i);
  for (const cmd of ['plan', 'commit', 'leave', 'remove', 'shards']) assert.match(js, `ringkv cluster ${cmd}`);
});

test('the JSON the page reads: /ring?lists has an owner per partition, /stats the counters and shards', async () => {
  const ring = JSON.parse((await get('/ring?lists')).body) as { epoch: number; q: number; owners: string[]; members: { id: string }[]; preferenceLists: Record<string, string[]> };
  assert.is(ring.owners.length, ring.q);
  assert.equal(new Set(ring.owners), new Set(['s0', 's1']));
  assert.equal(ring.members.map((m) => m.id), ['s0', 's1']);
  assert.is(Object.keys(ring.preferenceLists).length, ring.q);
  await store.put('k', 'v');
  const stats = JSON.parse((await get('/stats')).body) as { puts: number; gets: number; replicas: { id: string; up: boolean }[]; shards: { data: { memtableBytes: number } }[]; hintStore: { pending: number } };
  assert.ok(stats.puts >= 1);
  assert.is(typeof stats.gets, 'number');
  assert.equal(stats.replicas.map((r) => r.up), [true, true]);
  assert.is(stats.shards.length, 2);
  assert.is(typeof stats.hintStore.pending, 'number');
  // A single server has no /cluster: the page reads the 404 as "not a cluster node".
  assert.is((await get('/cluster')).status, 404);
});

test.run();
