// The KV contract of a storage engine, as one uvu suite any backend can run:
// put/get/delete/overwrite/batch/scan/limits/close, and reopen when the backend persists.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { TOKEN_END, createTokenHasher } from '../../src/hash/index.js';
import type { StorageEngine } from '../../src/storage/db/types.js';

export interface EngineFactory {
  /** A new, empty engine. */
  create(): Promise<StorageEngine>;
  /** Closes `engine` and opens the same store again; undefined for backends that do not persist. */
  reopen?(engine: StorageEngine): Promise<StorageEngine>;
  /** Removes whatever create() made. */
  cleanup?(): Promise<void>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const b = (s: string) => enc.encode(s);
const str = (v: Uint8Array | undefined) => (v === undefined ? undefined : dec.decode(v));

export function engineContract(name: string, factory: EngineFactory): void {
  const test = suite(`engine contract: ${name}`);
  const open: StorageEngine[] = [];
  const create = async () => {
    const e = await factory.create();
    open.push(e);
    return e;
  };
  test.after.each(async () => {
    for (const e of open.splice(0)) await e.close();
    await factory.cleanup?.();
  });

  test('a missing key reads as undefined', async () => {
    const db = await create();
    assert.is(db.get(b('nope')), undefined);
  });

  test('put then get returns the value', async () => {
    const db = await create();
    db.put(b('k'), b('v1'));
    assert.is(str(db.get(b('k'))), 'v1');
  });

  test('a second put overwrites the first', async () => {
    const db = await create();
    db.put(b('k'), b('v1'));
    db.put(b('k'), b('v2'));
    assert.is(str(db.get(b('k'))), 'v2');
  });

  test('delete hides the key; deleting a missing key is fine', async () => {
    const db = await create();
    db.put(b('k'), b('v'));
    db.delete(b('k'));
    db.delete(b('never-there'));
    assert.is(db.get(b('k')), undefined);
  });

  test('empty values and binary keys round-trip exactly', async () => {
    const db = await create();
    const key = new Uint8Array([0, 255, 0, 1]);
    db.put(key, new Uint8Array(0));
    db.put(b(''), b('empty key'));
    assert.equal(db.get(key), new Uint8Array(0));
    assert.is(str(db.get(b(''))), 'empty key');
    assert.is(db.get(new Uint8Array([0, 255, 0])), undefined);
  });

  test('in a batch, later ops on a key win', async () => {
    const db = await create();
    db.write([
      { type: 'put', key: b('a'), value: b('1') },
      { type: 'put', key: b('b'), value: b('2') },
      { type: 'delete', key: b('a') },
      { type: 'put', key: b('b'), value: b('3') },
    ]);
    assert.is(db.get(b('a')), undefined);
    assert.is(str(db.get(b('b'))), '3');
  });

  test('the caller may reuse its buffers after a write', async () => {
    const db = await create();
    const key = b('reused');
    const value = b('before');
    db.put(key, value);
    value.fill(0);
    key.fill(0);
    assert.is(str(db.get(b('reused'))), 'before');
  });

  test('a 1 MiB value round-trips', async () => {
    const db = await create();
    const big = new Uint8Array(1 << 20).map((_, i) => (i * 7) & 255);
    db.put(b('big'), big);
    assert.equal(db.get(b('big')), big);
  });

  test('oversized keys and values fail with ERR_TOO_LARGE and change nothing', async () => {
    const db = await create();
    db.put(b('k'), b('v'));
    assert.throws(() => db.put(new Uint8Array(64 * 1024 + 1), b('v')), (e: any) => e.code === 'ERR_TOO_LARGE');
    assert.throws(() => db.put(b('k'), new Uint8Array(16 * 1024 * 1024 + 1)), (e: any) => e.code === 'ERR_TOO_LARGE');
    assert.is(str(db.get(b('k'))), 'v');
  });

  test('scan returns live entries of a token range in (token, key) order', async () => {
    const db = await create();
    const hasher = await createTokenHasher();
    const live = new Map<string, string>();
    for (let i = 0; i < 300; i++) {
      db.put(b(`key-${i}`), b(`value-${i}`));
      live.set(`key-${i}`, `value-${i}`);
    }
    for (let i = 0; i < 300; i += 3) {
      db.delete(b(`key-${i}`));
      live.delete(`key-${i}`);
    }
    for (let i = 1; i < 300; i += 7) {
      db.put(b(`key-${i}`), b(`new-${i}`));
      live.set(`key-${i}`, `new-${i}`);
    }
    const all = [...db.scan(0n, TOKEN_END)];
    assert.is(all.length, live.size);
    for (let i = 1; i < all.length; i++) {
      const p = all[i - 1]!;
      const c = all[i]!;
      assert.ok(p.token < c.token || (p.token === c.token && Buffer.compare(p.key, c.key) < 0), 'ordered');
    }
    for (const e of all) {
      assert.is(str(e.value), live.get(str(e.key)!));
      assert.is(e.token, hasher.token(e.key));
    }
    // A sub-range is [from, to): exactly the entries whose token falls inside.
    const from = all[40]!.token;
    const to = all[200]!.token;
    const part = [...db.scan(from, to)];
    assert.equal(part.map((e) => str(e.key)), all.slice(40, 200).map((e) => str(e.key)));
    assert.is([...db.scan(to, from)].length, 0);
  });

  test('flush and compact keep every value', async () => {
    const db = await create();
    for (let i = 0; i < 500; i++) db.put(b(`k${i}`), b(`v${i}`));
    await db.flush();
    for (let i = 0; i < 500; i += 2) db.delete(b(`k${i}`));
    await db.compact();
    for (let i = 0; i < 500; i++) assert.is(str(db.get(b(`k${i}`))), i % 2 ? `v${i}` : undefined);
  });

  test('operations on a closed engine fail with ERR_CLOSED', async () => {
    const db = await factory.create();
    await db.close();
    assert.throws(() => db.get(b('k')), (e: any) => e.code === 'ERR_CLOSED');
    assert.throws(() => db.put(b('k'), b('v')), (e: any) => e.code === 'ERR_CLOSED');
    await db.close(); // twice is fine
  });

  if (factory.reopen) {
    const reopen = factory.reopen;
    test('reopen keeps puts, overwrites and deletes', async () => {
      let db = await create();
      for (let i = 0; i < 400; i++) db.put(b(`k${i}`), b(`v${i}`));
      await db.flush();
      for (let i = 0; i < 400; i += 4) db.put(b(`k${i}`), b(`w${i}`));
      for (let i = 1; i < 400; i += 4) db.delete(b(`k${i}`));
      open.splice(open.indexOf(db), 1);
      db = await reopen(db);
      open.push(db);
      for (let i = 0; i < 400; i++) {
        const want = i % 4 === 0 ? `w${i}` : i % 4 === 1 ? undefined : `v${i}`;
        assert.is(str(db.get(b(`k${i}`))), want, `k${i}`);
      }
      assert.is([...db.scan(0n, TOKEN_END)].length, 300);
    });
  }

  test.run();
}
