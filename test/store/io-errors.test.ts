// Storage errors end to end through the coordinator: replicas whose engines fail with
// ENOSPC or EIO make a write fail with that code (ERR_NO_SPACE / ERR_IO, naming the file),
// never ERR_QUORUM; the store tells each cause once per replica (not per request) and tells
// when the replica stores writes again; /readyz's checks fail while the fault lasts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testStorageOptions } from '../../src/storage/db/options.js';
import { ErrorCode, RingkvError } from '../../src/errors.js';
import { FaultyVfs, openEngine, type LsmEngine } from '../../src/storage/index.js';
import { readinessChecks } from '../../src/server/admin/readiness.js';
import type { StorageFaultEvent } from '../../src/store.js';
import { errorReply } from '../../src/server/resp/reply.js';
import { localCluster } from '../support/local-cluster.js';

async function faultyCluster() {
  const vfs = new Map<string, FaultyVfs>();
  const data = new Map<string, LsmEngine>();
  const c = await localCluster(3, { n: 3, w: 2, r: 2 }, async (id) => {
    const v = new FaultyVfs();
    vfs.set(id, v);
    const engines = { data: await openEngine({ ...testStorageOptions(), dir: `/${id}/data`, vfs: v }), hints: await openEngine({ ...testStorageOptions(), dir: `/${id}/hints`, vfs: v }) };
    data.set(id, engines.data);
    return engines;
  });
  const events: StorageFaultEvent[] = [];
  c.store.onStorageFault((e) => events.push(e));
  const checks = () => readinessChecks({ replicas: c.store.ring.members.map((m) => ({ id: m.id, up: true })), draining: false, shards: c.ids.map((id) => ({ id, data: data.get(id)!.stats() })), needed: 1 });
  return { ...c, vfs, events, checks };
}

async function failure(p: Promise<unknown>): Promise<RingkvError> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, RingkvError);
    return err as RingkvError;
  }
  throw new Error('the write succeeded');
}

test('every replica out of space: a put fails with ERR_NO_SPACE naming the WAL segment (not ERR_QUORUM); told once per replica; recovery told too', async () => {
  const c = await faultyCluster();
  await c.store.put('before', 'ok');
  for (const v of c.vfs.values()) v.failWith('ENOSPC', (op) => op === 'append');
  const errors: RingkvError[] = [];
  for (let i = 0; i < 40; i++) errors.push(await failure(c.store.put(`k${i}`, 'v')));
  for (const e of errors) {
    assert.is(e.code, ErrorCode.NO_SPACE, e.message);
    assert.not.equal(e.code, ErrorCode.QUORUM);
  }
  assert.match(errors[0]!.message, /append to WAL segment \/s\d\/data\/\d{6}\.log failed: ENOSPC/);
  assert.match(errors[0]!.message, /the write reached 0 of the 2 replicas it needs/);
  // RESP: the reply's first word says what happened.
  assert.match(errorReply(errors[0]).line, /^NOSPACE append to WAL segment \/s\d\/data\//);
  // Once per replica (each of the three was asked to coordinate), not once per request.
  const failing = c.events.filter((e) => e.state === 'failing');
  assert.equal(failing.map((e) => e.replica).sort(), ['s0', 's1', 's2']);
  for (const e of failing) assert.match(e.message, /ENOSPC/);
  const notReady = c.checks().filter((ch) => !ch.ok);
  assert.is(notReady.length, 3, JSON.stringify(c.checks()));
  assert.match(String(notReady[0]!.reason), /^storage failing: append to WAL segment \/s\d\/data\/\d{6}\.log failed: ENOSPC/);

  for (const v of c.vfs.values()) v.failWith(undefined);
  await c.store.put('after', 'ok', { w: 3 });
  assert.ok(c.events.some((e) => e.state === 'recovered'), 'a replica storing a write again is told');
  assert.ok(c.checks().every((ch) => ch.ok), JSON.stringify(c.checks()));
  assert.ok(await c.store.get('before'));
  assert.is(await c.store.get('k0'), undefined, 'a failed write is not applied');
  await c.store.close();
});

test('EIO on one replica only: writes still succeed (W=2 of 3), the failing replica is told once; EIO everywhere gives ERR_IO', async () => {
  const c = await faultyCluster();
  c.vfs.get('s1')!.failWith('EIO', (op) => op === 'append');
  for (let i = 0; i < 30; i++) await c.store.put(`k${i}`, 'v');
  const failing = c.events.filter((e) => e.state === 'failing');
  assert.ok(failing.length <= 1, JSON.stringify(failing));
  for (const e of failing) assert.is(e.replica, 's1');
  for (const v of c.vfs.values()) v.failWith('EIO', (op) => op === 'append');
  const err = await failure(c.store.put('x', 'v'));
  assert.is(err.code, ErrorCode.IO);
  assert.match(errorReply(err).line, /^IOERR append to WAL segment \/s\d\/data\/\d{6}\.log failed: EIO/);
  for (const v of c.vfs.values()) v.failWith(undefined);
  await c.store.close();
});

test.run();
