// The admin dashboard of a cluster node in a real browser (Debian's Chromium through
// playwright-core): 3 `ringkv start` processes on 127.0.0.2-4 inside a private network
// namespace. The page on n1 must draw the cluster's ring with its owners, show n3 down
// after kill -9, show the hint backlog rising while n3 is down under writes (with n1's
// per-shard latency chart, fsync histogram and transfer and anti-entropy backlogs filled),
// and falling to 0 once it is back. Saves dist/test-artifacts/dashboard-cluster.png (docs/dashboard-cluster.png with RINGKV_SCREENSHOTS=docs). Skips, saying why, without Chromium
// or namespaces.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ADMIN_PORT, Cluster } from '../support/cluster-harness.js';
import { enterNetns } from '../support/netns.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
const inside = haveChromium ? await enterNetns() : false;
/** Generous: failure detection, the page's 1.5 s polls and hint hand-off on a shared machine. */
const DEADLINE_MS = 90_000;
/** Fast gossip and short timeouts: a killed node is judged down within seconds. */
const NODE_FLAGS = ['--shards', '1', '--sync-mode', 'none', '--gossip-interval-ms', '250', '--timeout-ms', '1000'];
/** A test artifact under dist/; RINGKV_SCREENSHOTS=docs refreshes README's picture in docs/ instead. */
const SCREENSHOT = fileURLToPath(new URL(process.env.RINGKV_SCREENSHOTS === 'docs' ? '../../../docs/dashboard-cluster.png' : '../../test-artifacts/dashboard-cluster.png', import.meta.url));

/** The number at the start of a backlog cell ("12 (1.2 KiB, oldest 3 s)" → 12). */
async function hintsHeld(page: Page): Promise<number> {
  return Number.parseInt((await page.textContent('[data-backlog="hints-held"]')) ?? '', 10);
}

test('a cluster node\'s dashboard: the ring and its owners, a killed node down, the hint backlog rising and falling', async () => {
  if (!haveChromium) return console.log(`  (skipped: ${CHROMIUM} is not installed; apt-get install -y chromium)`);
  if (!inside) return console.log('  (skipped: needs a private network namespace, see above)');
  const cluster = new Cluster(3, NODE_FLAGS);
  let browser: Browser | undefined;
  try {
    await cluster.start();
    await cluster.settle(3);
    const n1 = cluster.nodes[0]!;
    const n3 = cluster.nodes[2]!;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], timeout: DEADLINE_MS });
    const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    page.setDefaultTimeout(DEADLINE_MS);
    await page.goto(`http://${n1.host}:${ADMIN_PORT}/`);

    // The ring as n1 has it: one arc per partition, with its owner.
    await page.waitForSelector('#nodes tr[data-node="n3"]');
    const ring = (await n1.admin('/ring')) as { q: number; owners: string[]; transfers: { pending: number; rateBytesPerSecond: number; remainingBytes: number | null; etaMs: number | null } };
    // The transfer backlog's progress numbers (what the page shows as rate, bytes left and ETA).
    assert.is(typeof ring.transfers.rateBytesPerSecond, 'number');
    assert.ok('remainingBytes' in ring.transfers && 'etaMs' in ring.transfers);
    if (ring.transfers.pending === 0) assert.is(ring.transfers.etaMs, 0);
    const drawn = await page.$$eval('#ring path[data-partition]', (arcs) => arcs.map((a) => a.getAttribute('data-owner')));
    assert.is(drawn.length, ring.q);
    assert.equal(drawn, ring.owners);
    assert.equal(new Set(drawn.map((o) => o!.split('/')[0])), new Set(['n1', 'n2', 'n3']));
    assert.is(await page.$$eval('#nodes [data-state="up"]', (e) => e.length), 3);

    await n3.kill();
    await page.waitForSelector('#nodes tr[data-node="n3"] [data-state="down"]');
    await page.waitForSelector('#ring path.owner-down');

    // Writes while n3 is down leave hints for it: the backlog rises.
    const client = n1.client();
    try {
      const until = Date.now() + DEADLINE_MS;
      let i = 0;
      while ((await hintsHeld(page)) === 0 && Date.now() < until) {
        await Promise.all(Array.from({ length: 50 }, () => client.set(`dash-${i++}`, 'v')));
      }
      assert.ok((await hintsHeld(page)) > 0, `no hints shown after ${i} writes`);
      // A few more polls so the charts show the rise, then the artifact.
      await page.waitForFunction(() => Number(document.querySelector('polyline[data-series="hints held"]')?.getAttribute('data-peak')) > 0);
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      // The per-shard panels have data from n1's own shard; the backlogs name transfers and anti-entropy ages.
      await page.waitForSelector('#shard-latency-chart polyline[data-series="n1/s0 p99"]');
      assert.ok(Number(await page.getAttribute('#fsync-histogram svg', 'data-count')) > 0, 'n1\'s fsyncs are drawn');
      assert.match((await page.textContent('[data-backlog="transfers"]')) ?? '', /^\d+ ranges/);
      assert.match((await page.textContent('[data-backlog="anti-entropy"]')) ?? '', /partitions exchanged|no partition led here/);
    } finally {
      client.disconnect();
    }

    // n3 back: it is up again, and the hints are handed over until none is held.
    await n3.start();
    await page.waitForSelector('#nodes tr[data-node="n3"] [data-state="up"]');
    await page.waitForFunction(() => document.querySelector('[data-backlog="hints-held"]')?.textContent?.startsWith('0 ') === true);
  } finally {
    await browser?.close();
    await cluster.close();
  }
});

test.run();
