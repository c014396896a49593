// Limits of the worker engine: the largest value a put takes is MAX_PUT_VALUE_BYTES (16 MiB
// - 64 KiB: a stored record holds the whole versioned object); anything larger, or concurrent
// values that together outgrow a record, fails with ERR_TOO_LARGE naming the limit, and the
// store keeps serving (not a quorum error, no shard restart, nothing else refused).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { open, type Store } from '../../src/index.js';
import { MAX_PUT_VALUE_BYTES, OBJECT_HEADROOM_BYTES, type ShardTransport } from '../../src/coordinator/shard-transport.js';
import { MAX_FRAME_BYTES } from '../../src/protocol/index.js';
import { MAX_VALUE_BYTES } from '../../src/storage/record/record.js';

const MiB = 1024 * 1024;
let db: Store;
let dir: string;

test.before(async () => {
  dir = mkdtempSync(`${tmpdir()}/ringkv-limits-`);
  db = await open({ dir, shards: 2, storage: { syncMode: 'none' }, timeoutMs: 30_000 });
});
test.after(async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  return p.then(
    () => assert.unreachable('the put went through') as never,
    (e: { code: string; message: string }) => e,
  );
}

function restarts(): number {
  const t = db.shards as unknown as ShardTransport;
  return t.ids.reduce((n, id) => n + t.linkStats(id)!.restarts, 0);
}

test('the value limit is the engine record limit less 64 KiB: 16,711,680 bytes', () => {
  assert.is(MAX_PUT_VALUE_BYTES, MAX_VALUE_BYTES - OBJECT_HEADROOM_BYTES);
  assert.is(MAX_PUT_VALUE_BYTES, 16_711_680);
  assert.ok(MAX_PUT_VALUE_BYTES + 1024 < MAX_FRAME_BYTES, 'a put of the largest value fits a frame');
});

test('a value of exactly the limit is stored; one byte more is ERR_TOO_LARGE naming the limit; the next request works', async () => {
  const v = new Uint8Array(MAX_PUT_VALUE_BYTES).fill(7);
  await db.put('at-limit', v);
  assert.is((await db.get('at-limit'))!.values[0]!.length, MAX_PUT_VALUE_BYTES);
  const e = await refusal(db.put('over-limit', new Uint8Array(MAX_PUT_VALUE_BYTES + 1)));
  assert.is(e.code, 'ERR_TOO_LARGE');
  assert.match(e.message, String(MAX_PUT_VALUE_BYTES));
  await db.put('after', 'fine');
  assert.is(new TextDecoder().decode((await db.get('after'))!.values[0]), 'fine');
  assert.is(await db.get('over-limit'), undefined);
});

test('a value above the 64 MiB frame limit is ERR_TOO_LARGE at once; the store keeps serving', async () => {
  const e = await refusal(db.put('huge', new Uint8Array(MAX_FRAME_BYTES + MiB)));
  assert.is(e.code, 'ERR_TOO_LARGE');
  await db.put('after-huge', 'fine');
  assert.ok(await db.get('after-huge'));
});

test('concurrent values that together outgrow a record fail that put alone; what is stored stays, other writes go through', async () => {
  const first = new Uint8Array(9 * MiB).fill(1);
  await db.put('siblings', first);
  // No context: the second value would be kept beside the first (18 MiB together).
  const [second, other] = await Promise.allSettled([db.put('siblings', new Uint8Array(9 * MiB).fill(2), { overwrite: false }), db.put('bystander', 'ok')]);
  assert.is(second.status, 'rejected');
  const err = (second as PromiseRejectedResult).reason as { code: string; message: string };
  assert.is(err.code, 'ERR_TOO_LARGE');
  assert.match(err.message, /concurrent values/);
  assert.is(other.status, 'fulfilled', 'a write beside it is not refused with it');
  const r = await db.get('siblings');
  assert.is(r!.values.length, 1);
  assert.is(r!.values[0]![0], 1, 'the stored value is untouched');
  // The same value with the read's context replaces it: within the limit again.
  await db.put('siblings', new Uint8Array(9 * MiB).fill(3), { context: r!.context });
  assert.is((await db.get('siblings'))!.values[0]![0], 3);
});

test('no shard was restarted by any of the refusals above', () => {
  assert.is(restarts(), 0);
});

test.run();
