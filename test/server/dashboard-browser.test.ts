// The admin dashboard in a real browser: Debian's Chromium driven by playwright-core (no
// browser download). A store with 2 shards and its admin server run in this process; the
// page must draw one ring arc per partition with the ring's owners, chart the puts it is
// sent, chart the p50/p99 latency per command type of a RESP server in front of the store
// and per shard, draw the fsync histogram (growing after a flush), fill the backlog ages,
// and show a killed shard as down. Saves dist/test-artifacts/dashboard.png (docs/dashboard.png with RINGKV_SCREENSHOTS=docs) (README "Dashboard").
// Skipped, saying so, when /usr/bin/chromium is absent (.ci/run installs it).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { open, type Store } from '../../src/index.js';
import { startAdminServer, type AdminServer } from '../../src/server/admin/index.js';
import { startRespServer, type RespServer } from '../../src/server/resp/index.js';
import { Redis } from 'ioredis';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
const SKIP = `  (skipped: ${CHROMIUM} is not installed; apt-get install -y chromium)`;
/** Generous: the page polls every 1.5 s, and the machine is shared. */
const DEADLINE_MS = 60_000;
/** Long enough that the killed shard is still down when the page looks (the test ends first). */
const RESTART_DELAY_MS = 120_000;
/** Rates charted before the screenshot is taken (a line rather than a dot). */
const SCREENSHOT_POINTS = 6;
/** A test artifact under dist/; RINGKV_SCREENSHOTS=docs refreshes README's picture in docs/ instead. */
const SCREENSHOT = fileURLToPath(new URL(process.env.RINGKV_SCREENSHOTS === 'docs' ? '../../../docs/dashboard.png' : '../../test-artifacts/dashboard.png', import.meta.url));

const dir = mkdtempSync(join(tmpdir(), 'ringkv-dashboard-browser-'));
let store: Store;
let admin: AdminServer;
let resp: RespServer;
let browser: Browser;
let page: Page;

test.before(async () => {
  if (!haveChromium) return;
  store = await open({ dir, shards: 2, storage: { syncMode: 'none' }, restartDelayMs: RESTART_DELAY_MS, timeoutMs: 500 });
  resp = await startRespServer(store, { port: 0 });
  admin = await startAdminServer(store, { port: 0, latency: resp.latency });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], timeout: DEADLINE_MS });
  page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
  page.setDefaultTimeout(DEADLINE_MS);
  await page.goto(`http://127.0.0.1:${admin.port}/`);
});

test.after(async () => {
  if (!haveChromium) return;
  await browser?.close();
  await admin?.close();
  await resp?.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('the ring shows one arc per partition, coloured by the owners the ring has', async () => {
  if (!haveChromium) return console.log(SKIP);
  await page.waitForSelector('#ring svg path[data-partition]');
  const drawn = await page.$$eval('#ring path[data-partition]', (arcs) => arcs.map((a) => a.getAttribute('data-owner')));
  const ring = store.ring;
  assert.is(drawn.length, ring.q);
  assert.equal(drawn, ring.toJSON().owners);
  assert.is(await page.getAttribute('#ring svg', 'data-epoch'), String(ring.epoch));
  // The legend lists each shard with its partition count.
  for (const [id, count] of ring.counts()) assert.match((await page.textContent(`#legend [data-member="${id}"]`)) ?? '', `${id} · ${count}`);
  assert.is(await page.$$eval('#shards tr[data-state="up"]', (rows) => rows.length), 2);
});

test('the ops/s chart receives points after puts and gets', async () => {
  if (!haveChromium) return console.log(SKIP);
  // Write until the page has charted a non-zero put rate (or the deadline passes).
  const until = Date.now() + DEADLINE_MS;
  let i = 0;
  let charted = false;
  let points = 0;
  // Keep writing until a few rates are charted, so the screenshot shows a line, not a dot.
  while ((!charted || points < SCREENSHOT_POINTS) && Date.now() < until) {
    for (let k = 0; k < 50; k++, i++) {
      await store.put(`key-${i}`, 'v'.repeat(64));
      await store.get(`key-${i}`);
    }
    [charted, points] = await page
      .$eval('polyline[data-series="puts"]', (p) => [Number(p.getAttribute('data-peak')) > 0, Number(p.getAttribute('data-points'))] as [boolean, number])
      .catch(() => [false, 0] as [boolean, number]);
  }
  assert.ok(charted, `no put rate charted after ${i} puts`);
  const gets = await page.$eval('polyline[data-series="gets"]', (p) => Number(p.getAttribute('data-peak')));
  assert.ok(gets > 0, `gets series peaks at ${gets}/s`);
  // Memtable use per shard is shown once the puts are in.
  const mem = await page.$$eval('#shards tr[data-shard] td:nth-child(4)', (cells) => cells.map((c) => c.textContent ?? ''));
  assert.ok(mem.some((m) => !m.startsWith('0 B')), `memtable cells: ${mem.join(', ')}`);
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  assert.ok(existsSync(SCREENSHOT));
});

test('per shard: the latency chart gets p50/p99 points, the table shows round trip and fsync figures, the fsync histogram grows after a flush', async () => {
  if (!haveChromium) return console.log(SKIP);
  const until = Date.now() + DEADLINE_MS;
  let points = 0;
  for (let i = 0; points < 2 && Date.now() < until; i++) {
    for (let k = 0; k < 50; k++) await store.put(`shard-lat-${i}-${k}`, 'v');
    points = await page.$eval('#shard-latency-chart polyline[data-series="s0 p99"]', (p) => Number(p.getAttribute('data-points'))).catch(() => 0);
  }
  assert.ok(points >= 2, `the s0 p99 series has ${points} points`);
  for (const name of ['s0 p50', 's0 p99', 's1 p50', 's1 p99']) assert.ok(await page.$(`#shard-latency-chart polyline[data-series="${name}"]`), name);
  assert.match((await page.textContent('#shards tr[data-shard="s0"] [data-cell="latency"]')) ?? '', /\d+(\.\d)? (µs|ms)\/\d/);
  // fsyncs: each shard's start made its EPOCH file durable; a flush adds the table's, the manifest's and the directory's.
  const before = Number(await page.getAttribute('#fsync-histogram svg', 'data-count'));
  await store.shards!.flush();
  await page.waitForFunction((n) => Number(document.querySelector('#fsync-histogram svg')?.getAttribute('data-count')) > n, before);
  assert.ok((await page.$$('#fsync-histogram rect[data-count]')).length > 0, 'bars drawn');
  assert.match((await page.textContent('#shards tr[data-shard="s1"] [data-cell="fsync"]')) ?? '', /(µs|ms)\/\d/);
  // The flush made a table on each shard: tables · flushes · compactions, both at least 1.
  await page.waitForFunction(() => /^[1-9]\d* · [1-9]\d* · \d+$/.test(document.querySelector('#shards tr[data-shard="s0"] [data-cell="tables"]')?.textContent ?? ''));
  // Backlogs: the anti-entropy ages (no exchange yet in this store's life: its schedule is a minute) and the sampled counts.
  assert.match((await page.textContent('[data-backlog="anti-entropy"]')) ?? '', /partitions exchanged/);
  assert.ok(await page.$('#stalest li[data-partition]'), 'the stalest partitions are listed');
  assert.match((await page.textContent('[data-backlog="tombstones"]')) ?? '', /objects sampled/);
});

test('the latency chart receives p50 and p99 points per command type from the RESP server', async () => {
  if (!haveChromium) return console.log(SKIP);
  const redis = new Redis({ port: resp.port, lazyConnect: true, maxRetriesPerRequest: 0 });
  await redis.connect();
  try {
    const until = Date.now() + DEADLINE_MS;
    let points = 0;
    let i = 0;
    while (points < 2 && Date.now() < until) {
      for (let k = 0; k < 50; k++, i++) {
        await redis.set(`lat-${i}`, 'v');
        await redis.get(`lat-${i}`);
      }
      points = await page.$eval('#latency-chart polyline[data-series="set p99"]', (p) => Number(p.getAttribute('data-points'))).catch(() => 0);
    }
    assert.ok(points >= 2, `the set p99 series has ${points} points after ${i} SETs`);
    const peaks = await page.$$eval('#latency-chart polyline', (ps) => ps.map((p) => [p.getAttribute('data-series'), Number(p.getAttribute('data-peak'))] as [string, number]));
    const names = peaks.map(([n]) => n);
    for (const name of ['get p50', 'get p99', 'set p50', 'set p99']) assert.ok(names.includes(name), `series ${names.join(', ')}`);
    for (const [name, peak] of peaks) if (name?.startsWith('set') === true) assert.ok(peak > 0, `${name} peaks at ${peak}`);
  } finally {
    redis.disconnect();
  }
});

test('a killed shard shows as down, in the shards table and on the ring', async () => {
  if (!haveChromium) return console.log(SKIP);
  await store.shards!.kill('s0');
  await page.waitForSelector('#shards tr[data-shard="s0"][data-state="down"]');
  assert.is(await page.getAttribute('#shards tr[data-shard="s1"]', 'data-state'), 'up');
  const faded = await page.$$eval('#ring path.owner-down', (arcs) => arcs.map((a) => a.getAttribute('data-owner')));
  assert.is(faded.length, store.ring.counts().get('s0'));
  assert.ok(faded.every((o) => o === 's0'));
});

test.run();
