// What a node refuses of its peers' requests: a PUT that arrives after its timeout (a TCP
// retransmission after a partition healed), and a request routed by an older ring to a
// replica that no longer holds the key.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createTokenHasher } from '../../src/hash/index.js';
import { FrameType, type Reply, type Request } from '../../src/protocol/index.js';
import { Ring } from '../../src/ring/index.js';
import { MAX_CLOCK_SKEW_MS } from '../../src/protocol/index.js';
import { refuseStale } from '../../src/cluster/peer/request-guard.js';

const hasher = await createTokenHasher();
const members = ['n1', 'n2', 'n3', 'n4'].map((id) => ({ id: `${id}/s0`, host: id, rack: 'r', dc: 'dc', weight: 1 }));
const older = Ring.build(members.slice(0, 3), 16);
const newer = Ring.build(members, 16, { previous: older, epoch: older.epoch + 1 });
const NOW = 1_800_000_000_000;

function guard(ring: Ring): { send: (replica: string, req: Request, epoch: number) => Reply | 'delivered' } {
  const g = refuseStale((_replica, _req, _t, sink, tag) => sink.onReply({ type: FrameType.ACK }, tag), () => ring, 2, () => NOW);
  return {
    send(replica, req, epoch) {
      let out: Reply | undefined;
      g(replica, req, 1000, { onReply: (r) => (out = r), onError: () => {} }, 0, epoch);
      return out!.type === FrameType.ACK ? 'delivered' : out!;
    },
  };
}

function keyRef(key: string): { hi: number; lo: number; key: Uint8Array } {
  const k = new TextEncoder().encode(key);
  const t = hasher.token(k);
  return { hi: Number(t >> 32n), lo: Number(t & 0xffffffffn), key: k };
}

test('a request routed by an older ring to a replica that lost the key is refused; others are served', () => {
  const g = guard(newer);
  let refused = 0;
  let served = 0;
  for (let i = 0; i < 200; i++) {
    const ref = keyRef(`k${i}`);
    const p = newer.partitionOf(ref.hi, ref.lo);
    const holders = newer.listOf(p, 2);
    const oldHolders = older.listOf(older.partitionOf(ref.hi, ref.lo), 2);
    for (const replica of oldHolders) {
      const out = g.send(replica, { type: FrameType.GET, ...ref }, older.epoch);
      if (holders.includes(replica)) {
        assert.is(out, 'delivered');
        served++;
      } else {
        assert.equal((out as { code: string }).code, 'ERR_STALE_EPOCH');
        refused++;
      }
      // The same request under the ring in force, or a newer one, is served.
      assert.is(g.send(replica, { type: FrameType.GET, ...ref }, newer.epoch), 'delivered');
      assert.is(g.send(replica, { type: FrameType.GET, ...ref }, newer.epoch + 1), 'delivered');
    }
  }
  assert.ok(refused > 0 && served > 0, `refused ${refused}, served ${served}`);
});

test('a REPLICATE_MANY routed by an older ring is refused whole when any of its keys left the replica, served when it holds them all', () => {
  const g = guard(newer);
  const refs = Array.from({ length: 400 }, (_, i) => keyRef(`batch${i}`));
  const holders = (ref: { hi: number; lo: number }) => newer.listOf(newer.partitionOf(ref.hi, ref.lo), 2);
  const replica = 'n1/s0';
  const held = refs.filter((ref) => holders(ref).includes(replica)).slice(0, 20);
  const lost = refs.find((ref) => !holders(ref).includes(replica))!;
  assert.ok(held.length === 20 && lost !== undefined);
  const batch = (entries: typeof refs): Request => ({ type: FrameType.REPLICATE_MANY, entries: entries.map((e) => ({ ...e, object: new Uint8Array(0) })) });
  assert.is(g.send(replica, batch(held), older.epoch), 'delivered');
  const refused = g.send(replica, batch([...held.slice(0, 10), lost, ...held.slice(10)]), older.epoch);
  assert.equal((refused as { code: string }).code, 'ERR_STALE_EPOCH');
  assert.match((refused as { message: string }).message, 'every key of this batch');
  // Under the ring in force, the same batch is served (the replica is asked as routed).
  assert.is(g.send(replica, batch([lost, ...held]), newer.epoch), 'delivered');
});

test('a PUT that arrives after its timeout is refused with ERR_TIMEOUT; a REPLICATE is not', () => {
  const g = guard(newer);
  const ref = keyRef('late');
  const holder = newer.listOf(newer.partitionOf(ref.hi, ref.lo), 2)[0]!;
  const put = (writtenAt: number): Request => ({
    type: FrameType.PUT, ...ref, context: new Uint8Array(0), value: new Uint8Array([1]), writtenAt, expiresAt: 0, maxSiblings: 64, lww: false, overwrite: true,
  });
  assert.is(g.send(holder, put(NOW - 500), newer.epoch), 'delivered');
  const late = g.send(holder, put(NOW - 1000 - MAX_CLOCK_SKEW_MS - 1), newer.epoch);
  assert.equal((late as { code: string }).code, 'ERR_TIMEOUT');
  assert.is(g.send(holder, { type: FrameType.REPLICATE, ...ref, object: new Uint8Array(0) }, newer.epoch), 'delivered');
});

test.run();
