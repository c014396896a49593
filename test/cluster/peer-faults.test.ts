// Faults on real TCP links: a peer that closes mid-flight, restarts on its port, accepts
// connections but never answers (a raw discarding server, and a real SIGSTOPped process),
// a link over its bounds (client and server side), frames of several MiB, CONTROL messages, close() with requests in
// flight. Nothing hangs: every request settles with a reply, ERR_TIMEOUT or ERR_UNAVAILABLE.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { ErrorCode, RingkvError } from '../../src/errors.js';
import { FrameType, FrameWriter, MAX_FRAME_BYTES, encodeRequest, type Reply, type Request } from '../../src/protocol/index.js';
import { FrameSplitter } from '../../src/cluster/peer/peer-frame-splitter.js';
import { encodeRoute } from '../../src/cluster/peer/peer-protocol.js';
import { createTokenHasher } from '../../src/hash/index.js';
import { PeerServer, localReplicaHandler } from '../../src/cluster/index.js';
import { DEFAULT_LINK_LIMITS, backoffDelay } from '../../src/cluster/peer/peer-config.js';
import type { ReplySink } from '../../src/coordinator/transport.js';
import { CLUSTER, HOSTS, SECRET, eventually, peerCluster, peerTransport, rawAuthenticated, seeded, servedNode, type ServedNode } from './peer-harness.js';

const b = (s: string) => new TextEncoder().encode(s);
const GET = (key: string): Request => ({ type: FrameType.GET, hi: 1, lo: 2, key: b(key) });
const PUT = (key: string, value: Uint8Array): Request => ({
  type: FrameType.PUT, hi: 1, lo: 2, key: b(key), context: new Uint8Array(0), value, writtenAt: Date.now(), expiresAt: 0, maxSiblings: 64, lww: false,
});
const codeOf = (p: Promise<unknown>) => p.then(() => 'answered', (e: { code?: string }) => e.code ?? String(e));

let open: { close(): Promise<void> }[] = [];
test.after.each(async () => {
  for (const o of open.reverse()) await o.close();
  open = [];
});
const keep = <T extends { close(): Promise<void> }>(x: T): T => {
  open.push(x);
  return x;
};

/** A handler that holds every request until released (counts what it got). */
function gate(n2: () => ServedNode) {
  const held: (() => void)[] = [];
  return {
    held,
    handler: (replica: string, req: Request, timeoutMs: number): Promise<Reply> => {
      n2().served.n++;
      const key = 'key' in req ? new TextDecoder().decode(req.key) : '';
      if (key.startsWith('free')) return localReplicaHandler('n2', n2().transport)(replica, req, timeoutMs);
      return new Promise<Reply>((resolve) => held.push(() => resolve({ type: FrameType.ACK })));
    },
    release: () => held.splice(0).forEach((f) => f()),
  };
}

async function gatedNode() {
  let node: ServedNode | undefined;
  const g = gate(() => node!);
  node = keep(await servedNode('n2', 2, { handler: g.handler }));
  return { n2: node, g };
}

test('a peer server closed mid-flight fails every pending request with ERR_UNAVAILABLE at once', async () => {
  const { n2, g } = await gatedNode();
  const { transport } = peerTransport(new Map([['n2', n2]]));
  keep(transport);
  const pending = Array.from({ length: 20 }, (_, i) => codeOf(transport.request('n2/s0', GET(`k${i}`), 60_000)));
  await eventually(() => g.held.length === 20, 10_000, 'the server holds all 20');
  await n2.server.close();
  // Settled by the link dying, not by their 60 s timeouts: all 20 answered within 30 s.
  let settled = false;
  void Promise.all(pending).then(() => (settled = true));
  await eventually(() => settled, 30_000, 'the pending requests failing with the link (before their 60 s timeouts)');
  const codes = await Promise.all(pending);
  assert.equal(codes, Array(20).fill('ERR_UNAVAILABLE'));
  assert.ok(transport.isDown('n2/s0'), 'the link is in back-off');
  assert.is(await codeOf(transport.request('n2/s0', GET('after'), 60_000)), 'ERR_UNAVAILABLE', 'requests during back-off fail at once');
});

test('a peer restarted on the same port: the link reconnects, onUp fires for its replicas, data is served again', async () => {
  const n2 = keep(await servedNode('n2', 2));
  const servers = new Map<string, { server: PeerServer }>([['n2', n2]]);
  const { transport, log } = peerTransport(servers);
  keep(transport);
  const ups: string[] = [];
  transport.onUp((r) => ups.push(r));
  assert.is((await transport.request('n2/s0', PUT('k', b('v')), 5000)).type, FrameType.OBJECT);
  assert.equal(ups, ['n2/s0'], 'onUp fires when the link first comes up');
  const port = n2.server.address.port;
  await n2.server.close();
  await eventually(() => transport.isDown('n2/s0'), 10_000, 'the link notices');
  await new Promise((r) => setTimeout(r, 150)); // a few failed reconnects (ECONNREFUSED)
  const again = keep(await PeerServer.listen({
    node: 'n2', cluster: CLUSTER, secret: SECRET, host: HOSTS.n2!, port, handler: localReplicaHandler('n2', n2.transport),
  }));
  servers.set('n2', { server: again });
  await eventually(() => ups.length === 2, 10_000, 'onUp after the reconnect');
  assert.equal(ups, ['n2/s0', 'n2/s0']);
  assert.not.ok(transport.isDown('n2/s0'));
  const reply = await transport.request('n2/s0', GET('k'), 5000);
  assert.is(reply.type, FrameType.OBJECT);
  assert.ok((reply as { object: Uint8Array }).object.length > 0, 'the value written before the restart');
  assert.ok(log.entries.some((e) => e.level === 'warn' && e.msg === 'peer link down'));
  assert.ok(log.entries.filter((e) => e.msg === 'peer link attempt failed').length >= 1, 'failed attempts are logged with their reason');
  assert.equal(again.peers().map((p) => p.node), ['n1']);
});

test('a peer that accepts TCP but never answers: requests time out (ERR_TIMEOUT), then its link backs off', async () => {
  const sockets = new Set<import('node:net').Socket>();
  const silent = createServer((s) => {
    sockets.add(s);
    s.on('data', () => {}); // reads and discards, like a stopped process's kernel buffer
    s.on('error', () => {});
  });
  await new Promise<void>((r) => silent.listen({ host: HOSTS.n2, port: 0 }, r));
  keep({ close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); silent.close(() => r()); }) });
  const port = (silent.address() as { port: number }).port;
  const { transport } = peerTransport(new Map(), { addressOf: (n) => (n === 'n2' ? { host: HOSTS.n2!, port } : undefined) }, { handshakeTimeoutMs: 1500 });
  keep(transport);
  const t0 = performance.now();
  assert.is(await codeOf(transport.request('n2/s0', GET('k'), 300)), 'ERR_TIMEOUT');
  assert.ok(performance.now() - t0 >= 290, 'not before its timeout');
  assert.not.ok(transport.isDown('n2/s0'), 'still connecting: not known to be down yet');
  await eventually(() => transport.isDown('n2/s0'), 10_000, 'the handshake timeout puts the link in back-off');
  assert.match(transport.stats()[0]!.lastError, 'no handshake');
});

test('a SIGSTOPped peer process: requests time out with ERR_TIMEOUT; after SIGCONT the same link serves again', async () => {
  const child = spawn(process.execPath, [new URL('./peer-node.js', import.meta.url).pathname], { stdio: ['pipe', 'pipe', 'inherit'] });
  keep({
    close: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGCONT');
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    },
  });
  const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));
  const { port } = JSON.parse(line) as { port: number };
  const { transport } = peerTransport(new Map(), { addressOf: (n) => (n === 'n2' ? { host: HOSTS.n2!, port } : undefined) });
  keep(transport);
  assert.is((await transport.request('n2/s0', GET('k'), 5000)).type, FrameType.OBJECT);
  child.kill('SIGSTOP');
  try {
    const codes = await Promise.all(Array.from({ length: 5 }, (_, i) => codeOf(transport.request('n2/s0', GET(`k${i}`), 400))));
    assert.equal(codes, Array(5).fill('ERR_TIMEOUT'));
    assert.not.ok(transport.isDown('n2/s0'), 'the link itself is up: down-ness is the failure detector\'s call');
  } finally {
    child.kill('SIGCONT');
  }
  assert.is((await transport.request('n2/s0', GET('k'), 10_000)).type, FrameType.OBJECT);
  assert.is(transport.stats()[0]!.attempt, 0, 'no reconnect was needed');
});

test('over the in-flight bound a request fails at once with ERR_UNAVAILABLE; the link works after', async () => {
  const { n2, g } = await gatedNode();
  const { transport } = peerTransport(new Map([['n2', n2]]), {}, { maxInFlight: 8 });
  keep(transport);
  const held = Array.from({ length: 8 }, (_, i) => transport.request('n2/s0', GET(`k${i}`), 30_000));
  let outcome = '';
  const sink: ReplySink = { onReply: () => (outcome = 'reply'), onError: (e) => (outcome = (e as RingkvError).code + ': ' + e.message) };
  transport.send('n2/s0', GET('one-more'), 30_000, sink, 0);
  assert.match(outcome, /^ERR_UNAVAILABLE: .*saturated/, 'reported from inside the call');
  await eventually(() => g.held.length === 8, 10_000, 'the 8 reach the server');
  g.release();
  assert.equal((await Promise.all(held)).map((r) => r.type), Array(8).fill(FrameType.ACK));
  assert.is((await transport.request('n2/s0', GET('free'), 5000)).type, FrameType.OBJECT);
  assert.is(n2.served.n, 9, 'the refused request never left');
});

test('over the queued-bytes bound a request fails at once; the queued one completes and the link works after', async () => {
  const n2 = keep(await servedNode('n2', 2));
  const { transport } = peerTransport(new Map([['n2', n2]]), {}, { maxQueuedBytes: 1024 * 1024 });
  keep(transport);
  const big = transport.request('n2/s0', PUT('big', new Uint8Array(2 * 1024 * 1024).fill(7)), 30_000); // staged while connecting
  assert.match(await codeOf(transport.request('n2/s0', GET('k'), 30_000)), 'ERR_UNAVAILABLE');
  assert.is((await big).type, FrameType.OBJECT);
  assert.is((await transport.request('n2/s0', GET('big'), 5000)).type, FrameType.OBJECT);
  assert.is(n2.served.n, 2);
});

/** Counts the reply frames arriving on an authenticated raw socket. */
function countReplies(s: import('node:net').Socket): { n: number } {
  const count = { n: 0 };
  const splitter = new FrameSplitter(MAX_FRAME_BYTES, () => void count.n++);
  s.on('data', (c: Buffer) => splitter.push(c));
  return count;
}

const frames = (n: number, make: (i: number) => Request) => {
  const w = new FrameWriter();
  const parts = [encodeRoute(w, 'n2/s0', 30_000).slice()];
  for (let i = 0; i < n; i++) parts.push(encodeRequest(w, i + 1, make(i)).slice());
  return Buffer.concat(parts);
};

test('the server stops reading a link with maxInFlight requests in flight, and resumes as they finish', async () => {
  let node: ServedNode | undefined;
  const g = gate(() => node!);
  node = keep(await servedNode('n2', 2, { handler: g.handler, limits: { maxInFlight: 8 } }));
  const s = await rawAuthenticated(open, node.server.address.port, 'n1');
  const replies = countReplies(s);
  s.write(frames(30, (i) => GET(`k${i}`)));
  await eventually(() => g.held.length === 8, 10_000, '8 requests reach the handler');
  await new Promise((r) => setTimeout(r, 200));
  assert.is(g.held.length, 8, 'no more than maxInFlight were read');
  await eventually(() => {
    g.release();
    return replies.n === 30;
  }, 10_000, 'all 30 answered once released');
  assert.is(node.served.n, 30);
});

test('the server stops reading a link whose replies pile up unread (bounded memory), and resumes once they are read', async () => {
  // Memory for replies is bounded by maxQueuedBytes + maxInFlight x the largest reply.
  const n2 = keep(await servedNode('n2', 2, { limits: { maxQueuedBytes: 2 * 1024 * 1024, maxInFlight: 4 } }));
  const big = new Uint8Array(1024 * 1024).fill(3);
  const h = await createTokenHasher();
  h.hash(b('big'));
  const token = { hi: h.hi, lo: h.lo };
  assert.is((await n2.transport.request('s0', { ...PUT('big', big), ...token }, 5000)).type, FrameType.OBJECT);
  const s = await rawAuthenticated(open, n2.server.address.port, 'n1');
  s.pause(); // a peer that does not read its replies
  s.write(frames(60, () => ({ ...GET('big'), ...token })));
  await eventually(() => n2.server.counters.requests >= 1, 10_000, 'the server starts serving');
  await new Promise((r) => setTimeout(r, 300));
  const served = n2.server.counters.requests;
  assert.ok(served < 60, `the server stopped after ${served} of 60 1 MiB replies`);
  const replies = countReplies(s); // reading again
  s.resume();
  await eventually(() => replies.n === 60, 30_000, 'all 60 arrive once the peer reads');
});

test('values of several MiB travel both ways through a store on three nodes', async () => {
  const c = await peerCluster();
  keep(c.store);
  for (const mib of [3, 9, 15]) {
    const value = new Uint8Array(mib * 1024 * 1024).map((_, i) => (i * 31 + mib) & 0xff);
    await c.store.put(`big${mib}`, value, { w: 3 });
    const r = await c.store.get(`big${mib}`, { r: 3 });
    assert.is(r!.values.length, 1);
    assert.ok(Buffer.compare(r!.values[0]!, value) === 0, `${mib} MiB came back intact`);
  }
  for (const s of c.servers.values()) assert.ok(s.served.n >= 6, `${s.node} served the big frames`);
});

test('CONTROL messages: JSON answers, a handler\'s error keeps its code, several MiB fit, no handler is ERR_UNAVAILABLE', async () => {
  const n2 = keep(await servedNode('n2', 2, {
    control: async (from, msg) => {
      const m = msg as { op: string; data?: string };
      if (m.op === 'fail') throw new RingkvError(ErrorCode.INVALID_ARGUMENT, 'no such op');
      return { from, op: m.op, size: m.data?.length ?? 0 };
    },
  }));
  const n3 = keep(await servedNode('n3', 3));
  const { transport } = peerTransport(new Map([['n2', n2], ['n3', n3]]));
  keep(transport);
  assert.equal(await transport.call('n2', { op: 'ping' }, 5000), { from: 'n1', op: 'ping', size: 0 });
  const err = await transport.call('n2', { op: 'fail' }, 5000).then(() => undefined, (e: RingkvError) => e);
  assert.is(err?.code, 'ERR_INVALID_ARGUMENT');
  assert.match(err!.message, 'no such op');
  assert.equal(await transport.call('n2', { op: 'big', data: 'x'.repeat(5 * 1024 * 1024) }, 10_000), { from: 'n1', op: 'big', size: 5 * 1024 * 1024 });
  assert.is(await codeOf(transport.call('n3', { op: 'ping' }, 5000)), 'ERR_UNAVAILABLE');
  assert.is(await codeOf(transport.call('n9', { op: 'ping' }, 5000)), 'ERR_UNAVAILABLE', 'a node without an address');
  assert.is(n2.server.counters.controls, 3);
});

test('close() settles every request in flight with ERR_UNAVAILABLE and closes the links', async () => {
  const { n2, g } = await gatedNode();
  const { transport } = peerTransport(new Map([['n2', n2]]));
  const pending = Array.from({ length: 10 }, (_, i) => codeOf(transport.request('n2/s0', GET(`k${i}`), 60_000)));
  const control = codeOf(transport.call('n2', { op: 'x' }, 60_000));
  await eventually(() => g.held.length === 10, 10_000, 'the server holds them');
  await transport.close();
  assert.equal(await Promise.all(pending), Array(10).fill('ERR_UNAVAILABLE'));
  assert.is(await control, 'ERR_UNAVAILABLE');
  await eventually(() => n2.server.peers().length === 0, 10_000, 'the server sees the link close');
  assert.is(await codeOf(transport.request('n2/s0', GET('k'), 1000)), 'ERR_UNAVAILABLE');
});

test('isDown: the injected failure detector, an unknown address, and back-off', async () => {
  const n2 = keep(await servedNode('n2', 2));
  const down = new Set<string>();
  const { transport } = peerTransport(new Map([['n2', n2]]), { isNodeDown: (n) => down.has(n) });
  keep(transport);
  assert.not.ok(transport.isDown('n2/s0'));
  down.add('n2');
  assert.ok(transport.isDown('n2/s0'));
  down.delete('n2');
  assert.ok(transport.isDown('n7/s0'), 'no address known');
  assert.is(await codeOf(transport.request('n7/s0', GET('k'), 1000)), 'ERR_UNAVAILABLE');
});

test('back-off delays double up to the cap, with seeded jitter in [delay/2, delay]', () => {
  const limits = { ...DEFAULT_LINK_LIMITS, backoffBaseMs: 50, backoffMaxMs: 5000 };
  const a = Array.from({ length: 12 }, (_, i) => backoffDelay(limits, i, seeded(1)));
  const c = Array.from({ length: 12 }, (_, i) => backoffDelay(limits, i, seeded(1)));
  assert.equal(a, c, 'the same seed gives the same delays');
  a.forEach((d, i) => {
    const ceiling = Math.min(5000, 50 * 2 ** i);
    assert.ok(d >= ceiling / 2 && d <= ceiling, `attempt ${i}: ${d} ms within [${ceiling / 2}, ${ceiling}]`);
  });
  assert.ok(backoffDelay(limits, 1000, () => 0.999) <= 5000, 'huge attempt counts stay capped');
});

test.run();
