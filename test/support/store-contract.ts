// The store's KV contract with versions and quorum, as one uvu suite any backend runs:
// the in-memory shards (replicas in this thread), one LSM shard in a worker, and the whole
// engine with 4 worker shards.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Store } from '../../src/store.js';

export interface StoreFactory {
  create(): Promise<Store>;
  /** Closes and reopens the same store (persistent backends only). */
  reopen?(store: Store): Promise<Store>;
  cleanup?(): Promise<void>;
}

const text = (v: Uint8Array) => new TextDecoder().decode(v);
const values = (r: { values: Uint8Array[] } | undefined) => (r === undefined ? undefined : r.values.map(text).sort());
/** A blind write: no context and no overwrite, so it is concurrent with what the key holds. */
const BLIND = Object.freeze({ overwrite: false });

export function storeContract(name: string, factory: StoreFactory): void {
  const test = suite(`store contract: ${name}`);
  let open: Store[] = [];
  const create = async () => {
    const s = await factory.create();
    open.push(s);
    return s;
  };
  test.after.each(async () => {
    for (const s of open) await s.close();
    open = [];
    await factory.cleanup?.();
  });

  test('a missing key reads as undefined', async () => {
    const db = await create();
    assert.is(await db.get('nope'), undefined);
  });

  test('put then get returns the one value and a context; strings and bytes both work', async () => {
    const db = await create();
    await db.put('k', 'v');
    await db.put(new Uint8Array([0, 255]), new Uint8Array([1, 2, 3]));
    const r = await db.get('k');
    assert.equal(values(r), ['v']);
    assert.ok(r!.context.length > 0);
    assert.equal((await db.get(new Uint8Array([0, 255])))!.values, [new Uint8Array([1, 2, 3])]);
  });

  test('a put with the context of a read replaces what it read', async () => {
    const db = await create();
    await db.put('k', 'v1');
    const r = await db.get('k');
    await db.put('k', 'v2', { context: r!.context });
    assert.equal(values(await db.get('k')), ['v2']);
  });

  test('blind puts (overwrite: false, no context) are concurrent: both values come back as siblings', async () => {
    const db = await create();
    await db.put('k', 'a', BLIND);
    await db.put('k', 'b', BLIND);
    const r = await db.get('k');
    assert.equal(values(r), ['a', 'b']);
    assert.is(r!.receipt.siblings, 2);
    await db.put('k', 'merged', { context: r!.context });
    assert.equal(values(await db.get('k')), ['merged']);
  });

  test('overwrite replaces every value the key holds, siblings included, in one write', async () => {
    const db = await create();
    await db.put('k', 'a', BLIND);
    await db.put('k', 'b', BLIND);
    assert.equal(values(await db.get('k')), ['a', 'b']);
    await db.put('k', 'c', { overwrite: true });
    assert.equal(values(await db.get('k')), ['c']);
    for (let i = 0; i < 5; i++) await db.put('k', `d${i}`, { overwrite: true });
    assert.equal(values(await db.get('k')), ['d4']);
  });

  test('many concurrent blind writers: every value survives, the context collapses them', async () => {
    const db = await create();
    const written = Array.from({ length: 20 }, (_, i) => `w${i}`);
    await Promise.all(written.map((v) => db.put('hot', v, BLIND)));
    const r = await db.get('hot');
    assert.equal(values(r), written.slice().sort());
    await db.put('hot', 'one', { context: r!.context });
    assert.equal(values(await db.get('hot')), ['one']);
  });

  test('delete with the context removes the key; a stale delete keeps the newer value', async () => {
    const db = await create();
    await db.put('k', 'v');
    const r = await db.get('k');
    await db.delete('k', { context: r!.context });
    assert.is(await db.get('k'), undefined);
    await db.put('j', 'x');
    const old = await db.get('j');
    await db.put('j', 'y', { context: old!.context });
    await db.delete('j', { context: old!.context });
    assert.equal(values(await db.get('j')), ['y']);
  });

  test('put without a context overwrites (level/lmdb semantics): 70 puts of one key read back as one value, the last', async () => {
    const db = await create();
    for (let i = 0; i < 70; i++) await db.put('k', `v${i}`);
    const r = await db.get('k');
    assert.equal(values(r), ['v69']);
    assert.is(r!.receipt.siblings, 1);
    // putMany overwrites the same way.
    await db.putMany([['k', 'many']]);
    assert.equal(values(await db.get('k')), ['many']);
  });

  test('delete without a context deletes the key, siblings included', async () => {
    const db = await create();
    await db.put('k', 'v');
    await db.delete('k');
    assert.is(await db.get('k'), undefined);
    await db.put('s', 'a', BLIND);
    await db.put('s', 'b', BLIND);
    await db.delete('s');
    assert.is(await db.get('s'), undefined);
  });

  test('causal forms keep their meaning: a put with an old context concurrent with another still makes siblings', async () => {
    const db = await create();
    await db.put('k', 'a');
    const seen = await db.get('k');
    await db.put('k', 'b', { context: seen!.context });
    await db.put('k', 'c', { context: seen!.context }); // saw only 'a', not 'b'
    assert.equal(values(await db.get('k')), ['b', 'c']);
  });

  test('getMany and putMany keep the order of their inputs', async () => {
    const db = await create();
    await db.putMany(Array.from({ length: 50 }, (_, i) => [`m${i}`, `v${i}`] as const));
    const approx = (await db.stats()).approxKeys;
    // Records / N: the replicas beyond W may still be writing when putMany returns.
    assert.ok(approx === undefined || (approx >= 33 && approx <= 60), `approxKeys ${approx}`);
    const got = await db.getMany([...Array.from({ length: 50 }, (_, i) => `m${i}`), 'absent']);
    assert.equal(got.map(values), [...Array.from({ length: 50 }, (_, i) => [`v${i}`]), undefined]);
  });

  test('scan walks every live key exactly once, page by page', async () => {
    const db = await create();
    const written = Array.from({ length: 300 }, (_, i) => `scan-${i}`);
    await db.putMany(written.map((k) => [k, 'v'] as const));
    const r = await db.get('scan-7');
    await db.delete('scan-7', { context: r!.context });
    const seen: string[] = [];
    let cursor = '0';
    let pages = 0;
    do {
      const page = await db.scan({ cursor, count: 40 });
      seen.push(...page.keys.map((k) => new TextDecoder().decode(k)));
      cursor = page.cursor;
      pages++;
    } while (cursor !== '0' && pages < 1000);
    assert.is(cursor, '0');
    assert.ok(pages >= 7, `${pages} pages`);
    assert.equal(seen.slice().sort(), written.filter((k) => k !== 'scan-7').sort());
    await db.scan({ cursor: 'x' }).then(() => assert.unreachable(), (e) => assert.is(e.code, 'ERR_INVALID_ARGUMENT'));
  });

  test('a value with a TTL reads as absent once it expired', async () => {
    const db = await create();
    // A TTL long enough that a busy machine still reads the value before it expires; then
    // polled until absent (a deadline, not a fixed pause).
    const TTL_MS = 1000;
    const before = Date.now();
    await db.put('t', 'v', { ttlMs: TTL_MS });
    const r = await db.get('t');
    assert.equal(values(r), ['v']);
    assert.ok(r!.expiresAt[0]! >= before + TTL_MS && r!.expiresAt[0]! <= Date.now() + TTL_MS, 'the read reports the expiry');
    await db.put('forever', 'v');
    assert.equal((await db.get('forever'))!.expiresAt, [0]);
    const until = Date.now() + 30_000;
    while ((await db.get('t')) !== undefined) {
      if (Date.now() > until) assert.unreachable('the value did not expire within 30 s');
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  test('bad input gets a stable code and harms nothing else', async () => {
    const db = await create();
    await db.put('ok', 'v');
    await db.put(new Uint8Array(64 * 1024 + 1), 'v').then(() => assert.unreachable(), (e) => assert.is(e.code, 'ERR_TOO_LARGE'));
    await db.put('k', 'v', { context: new Uint8Array([9, 9, 9]) }).then(() => assert.unreachable(), (e) => assert.is(e.code, 'ERR_INVALID_ARGUMENT'));
    await db.put('k', 'v', { w: 99 }).then(() => assert.unreachable(), (e) => assert.is(e.code, 'ERR_INVALID_ARGUMENT'));
    await db.get(42 as never).then(() => assert.unreachable(), (e) => assert.is(e.code, 'ERR_INVALID_ARGUMENT'));
    assert.equal(values(await db.get('ok')), ['v']);
  });

  test('a closed store refuses requests with ERR_CLOSED', async () => {
    const db = await factory.create();
    await db.close();
    await db.get('k').then(() => assert.unreachable(), (e) => assert.is(e.code, 'ERR_CLOSED'));
    await db.close();
  });

  if (factory.reopen) {
    const reopen = factory.reopen;
    test('reopen keeps values, siblings and deletes', async () => {
      let db = await create();
      for (let i = 0; i < 200; i++) await db.put(`k${i}`, `v${i}`);
      await db.put('sib', 'a', BLIND);
      await db.put('sib', 'b', BLIND);
      const r = await db.get('k7');
      await db.delete('k7', { context: r!.context });
      open = open.filter((s) => s !== db);
      db = await reopen(db);
      open.push(db);
      for (let i = 0; i < 200; i++) assert.equal(values(await db.get(`k${i}`)), i === 7 ? undefined : [`v${i}`], `k${i}`);
      assert.equal(values(await db.get('sib')), ['a', 'b']);
    });
  }

  test.run();
}
