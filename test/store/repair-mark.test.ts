// Issue 17's "a salvaged shard does not answer reads as a sole replica until repaired", from
// the outside: a real 2-shard store (N=2, W=2, R=1, worker threads, real files), 8 bytes
// flipped over 60 keys' records in the middle of shard-0's data WAL, restarted with
// --wal-recovery skip-damaged. Every damaged key still reads its value at R=1 (from s1, never
// not-found from s0's partial answer); a restart before the repair keeps the NEEDS_REPAIR
// mark; anti-entropy (a short interval) then clears it: marker gone, readiness's repair
// checks pass, and s0's own engine holds the keys it lost.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { open, type Store } from '../../src/index.js';
import { openEngine } from '../../src/storage/index.js';
import { damageWalRecords } from '../support/wal-damage.js';
import { repairChecks } from '../../src/server/admin/readiness.js';

const KEYS = 300;
/** Keys whose s0 record is damaged: the first half read before the repair, the second half only after. */
const DAMAGED = Array.from({ length: 60 }, (_, i) => 100 + i * 2);
const key = (i: number) => `rk-${String(i).padStart(5, '0')}-`;
const value = (i: number) => `value-${i}`;
const dirs: string[] = [];
const stores: Store[] = [];

const options = (dir: string, antiEntropyIntervalMs = 0) => ({
  dir, shards: 2, n: 2, w: 2, r: 1, partitions: 8, antiEntropyIntervalMs,
  storage: { syncMode: 'periodic' as const, walRecovery: 'skip-damaged' as const },
});

async function openStore(dir: string, antiEntropyIntervalMs = 0): Promise<Store> {
  const s = await open(options(dir, antiEntropyIntervalMs));
  stores.push(s);
  return s;
}

async function closeStore(s: Store): Promise<void> {
  await s.close();
  stores.splice(stores.indexOf(s), 1);
}

async function shard0(s: Store): Promise<{ needsRepair?: boolean; data?: { recovery?: { needsRepair?: boolean } } }> {
  const shards = (await s.stats()).shards ?? [];
  return shards.find((x) => (x as { id?: string }).id === 's0') as never;
}

test.after(async () => {
  for (const s of stores) await s.close().catch(() => {});
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('a salvaged shard answers reads flagged, keeps its mark across a restart, and anti-entropy clears it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ringkv-repair-mark-'));
  dirs.push(dir);
  const first = await openStore(dir);
  for (let i = 0; i < KEYS; i++) await first.put(key(i), value(i)); // one WAL record each
  await closeStore(first);

  // Damage the records of the DAMAGED keys in s0's data WAL (valid records follow each).
  const data = join(dir, 'shard-0', 'data');
  damageWalRecords(data, DAMAGED.map(key));

  const marker = join(dir, 'shard-0', 'NEEDS_REPAIR');
  const salvaged = await openStore(dir);
  assert.ok(existsSync(marker), 'the mark is written before the shard serves');
  assert.match(readFileSync(marker, 'utf8'), /^ringkv needs-repair 1\nsince \d{4}-.*\nreason data: .*skipped/);
  assert.is((await shard0(salvaged)).needsRepair, true);
  // R=1: every damaged key reads its value, all at once (s0 answers partial: it never decides alone).
  const early = DAMAGED.slice(0, DAMAGED.length / 2);
  const got = await salvaged.getMany(early.map(key));
  got.forEach((r, k) => {
    assert.equal(r?.values.map((v) => new TextDecoder().decode(v)), [value(early[k]!)], `${key(early[k]!)} at R=1`);
    // The read waited for s1: s0's partial answer did not count toward R=1 alone.
    assert.ok(r!.receipt.replicas.includes('s1'), `${key(early[k]!)} answered by ${r!.receipt.replicas}`);
  });
  // Every key, one read at a time: s0 (partial) never decides a read alone, s1's answer is always in.
  for (let i = 0; i < KEYS; i++) {
    const r = await salvaged.get(key(i));
    assert.ok(r?.receipt.replicas.includes('s1'), `${key(i)}: answered by ${r?.receipt.replicas} alone`);
  }
  assert.is(repairChecks((await salvaged.stats()).shards).length, 1, 'readiness: s0 needs repair');
  await closeStore(salvaged);

  // A restart before the repair: the WAL is clean now, the mark stays.
  const again = await openStore(dir);
  assert.ok(existsSync(marker), 'the mark outlives the restart');
  const s = await shard0(again);
  assert.is(s.needsRepair, true);
  assert.is(s.data?.recovery?.needsRepair, true, 'stats (readyz, metric, status) still say needs repair');
  await closeStore(again);

  // Anti-entropy with a short interval: the mark goes once every partition was exchanged.
  const repaired = await openStore(dir, 100);
  const events: string[] = [];
  repaired.onRepaired((replica) => events.push(replica));
  const until = Date.now() + 60_000;
  while (existsSync(marker) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  assert.not.ok(existsSync(marker), 'anti-entropy cleared the mark');
  const after = await shard0(repaired);
  assert.is(after.needsRepair, false);
  assert.is(after.data?.recovery?.needsRepair, false);
  assert.equal(repairChecks((await repaired.stats()).shards), [], 'readiness: repaired');
  await closeStore(repaired);

  // s0's own engine holds every key it lost, those never read included.
  const engine = await openEngine({ dir: data });
  try {
    for (const i of DAMAGED) assert.ok(engine.get(new TextEncoder().encode(key(i))) !== undefined, `s0 holds ${key(i)}`);
  } finally {
    await engine.close();
  }
});

test.run();
