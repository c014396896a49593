// RoutedTransport: '<self>/s<k>' goes to the local transport as 's<k>', every other id to
// the peers; onUp reports local replicas under their cluster names; the peer server's
// handler maps '<self>/s<k>' the same way and refuses other nodes' replicas. Then a store
// on three nodes: every write lands on all three replicas; with one peer gone the store
// keeps answering (R=W=2), and once it is back it serves again; on four nodes, writes
// while a peer is down leave hints that its reconnecting link's onUp has delivered; and a
// peer whose replica is a real LSM shard in a worker thread, restarted with its files.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FrameType, type Reply, type Request } from '../../src/protocol/index.js';
import type { ReplySink, Transport } from '../../src/coordinator/transport.js';
import { RoutedTransport, localReplicaHandler, localReplicaSender } from '../../src/cluster/index.js';
import { PeerServer } from '../../src/cluster/index.js';
import { createTokenHasher } from '../../src/hash/index.js';
import { ShardTransport } from '../../src/coordinator/shard-transport.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLUSTER, HOSTS, SECRET, eventually, peerCluster, peerTransport } from './peer-harness.js';

const GET: Request = { type: FrameType.GET, hi: 0, lo: 0, key: new Uint8Array([1]) };
const ACK: Reply = { type: FrameType.ACK };

/** A transport that records which ids it was asked about. */
function recorder(name: string, down = new Set<string>(), withSend = true) {
  const calls: string[] = [];
  let up: ((r: string) => void) | undefined;
  const t: Transport & { calls: string[]; fireUp(r: string): void } = {
    calls,
    request: async (replica) => {
      calls.push(`${name}.request ${replica}`);
      return ACK;
    },
    isDown: (replica) => {
      calls.push(`${name}.isDown ${replica}`);
      return down.has(replica);
    },
    onUp: (l) => void (up = l),
    fireUp: (r) => up?.(r),
  };
  if (withSend) {
    t.send = (replica: string, _req: Request, _ms: number, sink: ReplySink, tag: number) => {
      calls.push(`${name}.send ${replica}`);
      sink.onReply(ACK, tag);
    };
  }
  return t;
}

test('own replicas go to the local transport under their local ids, others to the peers', async () => {
  const local = recorder('local', new Set(['s1']));
  const peers = recorder('peers', new Set(['n2/s0']), false);
  const t = new RoutedTransport('n1', local, peers);
  await t.request('n1/s0', GET, 100);
  await t.request('n2/s0', GET, 100);
  await t.request('n10/s0', GET, 100); // a prefix of another node's id is not ours
  const tags: number[] = [];
  const sink: ReplySink = { onReply: (_r, tag) => void tags.push(tag), onError: () => assert.unreachable() };
  t.send('n1/s1', GET, 100, sink, 1);
  t.send('n3/s2', GET, 100, sink, 2); // the peers have no send(): request() stands in
  await new Promise((r) => setImmediate(r));
  assert.equal(tags, [1, 2]);
  assert.ok(t.isDown('n1/s1'));
  assert.not.ok(t.isDown('n1/s0'));
  assert.ok(t.isDown('n2/s0'));
  assert.equal(local.calls, ['local.request s0', 'local.send s1', 'local.isDown s1', 'local.isDown s0']);
  assert.equal(peers.calls, ['peers.request n2/s0', 'peers.request n10/s0', 'peers.request n3/s2', 'peers.isDown n2/s0']);
});

test('onUp names local replicas by their cluster ids and passes the peers\' through', () => {
  const local = recorder('local');
  const peers = recorder('peers');
  const t = new RoutedTransport('n1', local, peers);
  const ups: string[] = [];
  t.onUp((r) => ups.push(r));
  local.fireUp('s3');
  peers.fireUp('n2/s0');
  assert.equal(ups, ['n1/s3', 'n2/s0']);
});

test('the peer server\'s handler serves its own replicas and refuses another node\'s with ERR_UNAVAILABLE', async () => {
  const local = recorder('local');
  const handle = localReplicaHandler('n2', local);
  assert.equal(await handle('n2/s4', GET, 100), ACK);
  const err = await handle('n3/s0', GET, 100).then(() => undefined, (e: { code?: string }) => e);
  assert.is(err?.code, 'ERR_UNAVAILABLE');
  assert.equal(local.calls, ['local.request s4']);
});

test('the sender form maps ids the same way, uses send() when the local transport has it, and refuses other nodes\' replicas', async () => {
  const withSend = recorder('local');
  const withoutSend = recorder('plain', new Set(), false);
  const outcomes: string[] = [];
  const sink: ReplySink = { onReply: (r, tag) => void outcomes.push(`${tag}:${r.type}`), onError: (e, tag) => void outcomes.push(`${tag}:${(e as { code?: string }).code}`) };
  localReplicaSender('n2', withSend)('n2/s1', GET, 100, sink, 1);
  localReplicaSender('n2', withSend)('n3/s1', GET, 100, sink, 2);
  localReplicaSender('n2', withoutSend)('n2/s0', GET, 100, sink, 3);
  await new Promise((r) => setImmediate(r));
  assert.equal(outcomes, [`1:${FrameType.ACK}`, '2:ERR_UNAVAILABLE', `3:${FrameType.ACK}`]);
  assert.equal(withSend.calls, ['local.send s1']);
  assert.equal(withoutSend.calls, ['plain.request s0']);
});

test('a store on three nodes writes every replica, over TCP for two of them', async () => {
  const c = await peerCluster();
  try {
    for (let i = 0; i < 50; i++) await c.store.put(`k${i}`, `v${i}`, { w: 3 });
    for (const [name, s] of c.servers) assert.ok(s.served.n >= 50, `${name} served ${s.served.n}`);
    // Every replica holds every key: ask each directly (n1's in this thread, the others over TCP).
    const h = await createTokenHasher();
    for (let i = 0; i < 50; i++) {
      const key = new TextEncoder().encode(`k${i}`);
      h.hash(key);
      const get: Request = { type: FrameType.GET, hi: h.hi, lo: h.lo, key };
      for (const replica of ['n1/s0', 'n2/s0', 'n3/s0']) {
        const r = replica === 'n1/s0' ? await c.n1.transport.request('s0', get, 5000) : await c.peers.request(replica, get, 5000);
        assert.is(r.type, FrameType.OBJECT);
        assert.ok((r as { object: Uint8Array }).object.length > 0, `${replica} holds k${i}`);
      }
    }
  } finally {
    await c.store.close();
  }
});

test('a store keeps serving while one peer is down (R=W=2) and again once it is back', async () => {
  const c = await peerCluster();
  try {
    await c.store.put('a', '1');
    const n3 = c.servers.get('n3')!;
    const port = n3.server.address.port;
    await n3.server.close();
    await eventually(() => c.peers.isDown('n3/s0'), 10_000, 'n3 is seen down');
    await c.store.put('b', '2');
    assert.equal((await c.store.get('a'))!.values.map((v) => new TextDecoder().decode(v)), ['1']);
    const back = await PeerServer.listen({ node: 'n3', cluster: CLUSTER, secret: SECRET, host: HOSTS.n3!, port, handler: localReplicaHandler('n3', n3.transport) });
    n3.server = back;
    await eventually(() => !c.peers.isDown('n3/s0'), 10_000, 'n3 is back');
    const r = await c.store.get('b', { r: 3 });
    assert.equal(r!.values.map((v) => new TextDecoder().decode(v)), ['2']);
  } finally {
    await c.store.close();
  }
});

test('hinted handoff across nodes: writes while a peer is down leave hints on fallbacks, delivered when its link comes back', async () => {
  const c = await peerCluster({ n: 3, r: 2, w: 2 }, 4);
  try {
    for (const node of ['n2', 'n3', 'n4']) c.peers.connect(node);
    await eventually(() => c.peers.stats().filter((l) => l.state === 'up').length === 3, 10_000, 'links up');
    const n3 = c.servers.get('n3')!;
    const port = n3.server.address.port;
    await n3.server.close();
    await eventually(() => c.peers.isDown('n3/s0'), 10_000, 'n3 is seen down');
    const hinted: string[] = [];
    for (let i = 0; i < 40; i++) {
      const r = await c.store.put(`h${i}`, `v${i}`);
      if (r.receipt.hints.some((h) => h.for === 'n3/s0')) hinted.push(`h${i}`);
    }
    assert.ok(hinted.length > 0, 'some keys belong on n3 and were hinted');
    const back = await PeerServer.listen({ node: 'n3', cluster: CLUSTER, secret: SECRET, host: HOSTS.n3!, port, handler: localReplicaHandler('n3', n3.transport) });
    n3.server = back;
    // onUp('n3/s0') from the reconnected link starts the handoff (no sweep timer runs here).
    const h = await createTokenHasher();
    for (const key of hinted) {
      const bytes = new TextEncoder().encode(key);
      h.hash(bytes);
      const get: Request = { type: FrameType.GET, hi: h.hi, lo: h.lo, key: bytes };
      let held = false;
      const until = Date.now() + 20_000;
      while (!held && Date.now() < until) {
        const r = await n3.transport.request('s0', get, 5000);
        held = r.type === FrameType.OBJECT && r.object.length > 0;
        if (!held) await new Promise((res) => setTimeout(res, 20));
      }
      assert.ok(held, `n3 received ${key} by handoff`);
    }
    assert.ok((await c.store.stats()).hintsDelivered >= hinted.length);
  } finally {
    await c.store.close();
  }
});

test('a peer node whose replica is an LSM shard in a worker thread serves over TCP, and keeps the data across its restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ringkv-peer-shard-'));
  const start = () => ShardTransport.start({ dir, shards: 1, storage: { syncMode: 'batch' }, spinMicros: 0, restartDelayMs: 50, controlTimeoutMs: 30_000 });
  let shards = await start();
  // The sender form: replies go from the shard's ring straight into the link's outbox.
  let server = await PeerServer.listen({ node: 'n2', cluster: CLUSTER, secret: SECRET, host: HOSTS.n2!, port: 0, sender: localReplicaSender('n2', shards) });
  const port = server.address.port;
  const { transport } = peerTransport(new Map([['n2', { get server() { return server; } }]]));
  try {
    const h = await createTokenHasher();
    const put = (k: string, v: string): Request => {
      const key = new TextEncoder().encode(k);
      h.hash(key);
      return { type: FrameType.PUT, hi: h.hi, lo: h.lo, key, context: new Uint8Array(0), value: new TextEncoder().encode(v), writtenAt: Date.now(), expiresAt: 0, maxSiblings: 8, lww: false };
    };
    const get = (k: string): Request => {
      const key = new TextEncoder().encode(k);
      h.hash(key);
      return { type: FrameType.GET, hi: h.hi, lo: h.lo, key };
    };
    const acks = await Promise.all(Array.from({ length: 200 }, (_, i) => transport.request('n2/s0', put(`w${i}`, `v${i}`), 10_000)));
    assert.ok(acks.every((r) => r.type === FrameType.OBJECT), 'every write coordinated by the shard');
    await server.close();
    await shards.close();
    shards = await start();
    server = await PeerServer.listen({ node: 'n2', cluster: CLUSTER, secret: SECRET, host: HOSTS.n2!, port, handler: localReplicaHandler('n2', shards) });
    await eventually(() => !transport.isDown('n2/s0') && transport.stats()[0]!.state === 'up', 10_000, 'the link reconnects');
    for (let i = 0; i < 200; i += 17) {
      const r = await transport.request('n2/s0', get(`w${i}`), 10_000);
      assert.ok(r.type === FrameType.OBJECT && r.object.length > 0, `w${i} survived the restart`);
    }
  } finally {
    await transport.close();
    await server.close();
    await shards.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
