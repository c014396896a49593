// The peer handshake over real TCP: links are authenticated and leave from the node's own
// address; a wrong secret, another cluster's name, no common version, a node claiming the
// server's id or a second link for one node are refused on both sides with a logged reason
// and no data request ever served (a second link replaces the first only once the first
// went silent); garbage closes only the link that sent it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FrameType, FrameWriter, encodeRequest } from '../../src/protocol/index.js';
import { RefusalCode, encodeRoute } from '../../src/cluster/peer/peer-protocol.js';
import type { PeerTransport } from '../../src/cluster/index.js';
import { HOSTS, peerTransport, rawAuthenticated, rawSocket, servedNode, eventually, type LogEntry, type ServedNode } from './peer-harness.js';

const GET = { type: FrameType.GET, hi: 1, lo: 2, key: new TextEncoder().encode('k') } as const;

let open: { close(): Promise<void> }[] = [];
test.after.each(async () => {
  for (const o of open.reverse()) await o.close();
  open = [];
});

async function node2(o: Parameters<typeof servedNode>[2] = {}): Promise<ServedNode> {
  const n = await servedNode('n2', 2, o);
  open.push(n);
  return n;
}

function client(n: ServedNode, o: Parameters<typeof peerTransport>[1] = {}) {
  const c = peerTransport(new Map([['n2', n]]), o);
  open.push(c.transport);
  return c;
}

const warned = (log: { entries: LogEntry[] }, code: string) => log.entries.some((e) => e.level === 'warn' && e.fields.code === code);

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a rejection: a refused link serves nothing');
}

async function expectRefused(t: PeerTransport, code: string): Promise<string> {
  const err = await rejection(t.request('n2/s0', GET, 5000));
  assert.is(err.code, 'ERR_UNAVAILABLE');
  assert.match(err.message, code);
  return err.message;
}

test('an authenticated link serves requests and leaves from the node\'s own address', async () => {
  const n2 = await node2();
  const { transport, log } = client(n2);
  const reply = await transport.request('n2/s0', GET, 5000);
  assert.is(reply.type, FrameType.OBJECT);
  assert.is(n2.served.n, 1);
  assert.equal(n2.server.peers().map((p) => [p.node, p.address]), [['n1', HOSTS.n1]]);
  assert.ok(n2.log.entries.some((e) => e.msg === 'peer link accepted' && String(e.fields.peer).startsWith(`${HOSTS.n1}:`)));
  assert.ok(log.entries.some((e) => e.msg === 'peer link up' && e.fields.local === HOSTS.n1));
  assert.not.ok(transport.isDown('n2/s0'));
});

test('a wrong secret is refused on both sides with the reason logged; nothing is served', async () => {
  const n2 = await node2();
  const { transport, log } = client(n2, { secret: 'not the secret' });
  await expectRefused(transport, RefusalCode.BAD_MAC);
  assert.ok(transport.isDown('n2/s0'), 'a refused link is in back-off: its replicas are down');
  await eventually(() => warned(n2.log, RefusalCode.BAD_MAC), 10_000, 'the server logs the refusal');
  assert.ok(warned(log, RefusalCode.BAD_MAC), 'the client logs its refusal');
  assert.is(n2.served.n, 0);
  assert.is(n2.server.counters.linksAccepted, 0);
});

test('a server with the wrong secret is refused by the client as well', async () => {
  const n2 = await node2({ secret: 'the server is wrong' });
  const { transport, log } = client(n2);
  await expectRefused(transport, RefusalCode.BAD_MAC);
  assert.ok(warned(log, RefusalCode.BAD_MAC));
  await eventually(() => warned(n2.log, RefusalCode.BAD_MAC), 10_000, 'the server logs that it was refused');
  assert.is(n2.served.n, 0);
});

test('another cluster\'s name is refused on both sides', async () => {
  const n2 = await node2();
  const { transport, log } = client(n2, { cluster: 'other-cluster' });
  const msg = await expectRefused(transport, RefusalCode.WRONG_CLUSTER);
  assert.match(msg, 'other-cluster');
  assert.ok(warned(n2.log, RefusalCode.WRONG_CLUSTER));
  assert.ok(warned(log, RefusalCode.WRONG_CLUSTER));
  assert.is(n2.served.n, 0);
});

test('no common protocol version is refused on both sides; otherwise the highest common one is chosen', async () => {
  const n2 = await node2();
  const { transport, log } = client(n2, { versions: { min: 2, max: 3 } });
  await expectRefused(transport, RefusalCode.NO_COMMON_VERSION);
  assert.ok(warned(n2.log, RefusalCode.NO_COMMON_VERSION));
  assert.ok(warned(log, RefusalCode.NO_COMMON_VERSION));
  assert.is(n2.served.n, 0);

  const n3 = await servedNode('n3', 3, { versions: { min: 1, max: 2 } });
  open.push(n3);
  const c = peerTransport(new Map([['n3', n3]]), { versions: { min: 1, max: 5 } });
  open.push(c.transport);
  assert.is((await c.transport.request('n3/s0', GET, 5000)).type, FrameType.OBJECT);
  assert.ok(n3.log.entries.some((e) => e.msg === 'peer link accepted' && e.fields.version === 2));
});

test('a node claiming the server\'s own id, or a second live link for one node, is refused; the first keeps working', async () => {
  const n2 = await node2();
  const self = client(n2, { self: 'n2', localAddress: HOSTS.n1 });
  await expectRefused(self.transport, RefusalCode.SELF);
  assert.ok(warned(n2.log, RefusalCode.SELF));

  const first = client(n2);
  assert.is((await first.transport.request('n2/s0', GET, 5000)).type, FrameType.OBJECT);
  const second = client(n2);
  await expectRefused(second.transport, RefusalCode.DUPLICATE_NODE);
  assert.ok(warned(n2.log, RefusalCode.DUPLICATE_NODE));
  assert.is((await first.transport.request('n2/s0', GET, 5000)).type, FrameType.OBJECT);
  assert.is(n2.served.n, 2);
});

test('a client that reaches another node than it meant refuses it', async () => {
  const n2 = await node2();
  // The client believes n3 listens where n2 does.
  const { transport, log } = client(n2, { addressOf: (node) => (node === 'n3' ? { host: HOSTS.n2!, port: n2.server.address.port } : undefined) });
  const err = await rejection(transport.request('n3/s0', GET, 5000));
  assert.is(err.code, 'ERR_UNAVAILABLE');
  assert.match(err.message, RefusalCode.WRONG_NODE, err.message);
  assert.ok(warned(log, RefusalCode.WRONG_NODE));
  await eventually(() => warned(n2.log, RefusalCode.WRONG_NODE), 10_000, 'the server logs it');
  assert.is(n2.served.n, 0);
});

test('garbage closes only the link that sent it (ERR_PROTOCOL logged); other links keep working', async () => {
  const n2 = await node2();
  const { transport } = client(n2);
  assert.is((await transport.request('n2/s0', GET, 5000)).type, FrameType.OBJECT);
  const port = n2.server.address.port;

  // Unauthenticated: an HTTP request (its "length" is far above the handshake limit).
  const http = await rawSocket(open, port);
  http.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await http.gone;
  // Unauthenticated: a well-formed data request before any handshake.
  const early = await rawSocket(open, port);
  early.write(encodeRequest(new FrameWriter(), 1, GET).slice());
  await early.gone;
  // Authenticated: a frame whose body lies about its fields, after a valid ROUTE.
  const authed = await rawAuthenticated(open, port, 'n9');
  const bad = encodeRequest(new FrameWriter(), 5, GET).slice();
  bad[12 + 8] = 0x7f; // the key's length now runs past the frame
  authed.write(encodeRoute(new FrameWriter(), 'n2/s0', 1000).slice());
  authed.write(bad);
  await authed.gone;
  // Authenticated: random bytes.
  const noise = await rawAuthenticated(open, port, 'n8');
  noise.write(new Uint8Array(256).map((_, i) => (i * 73 + 11) & 0xff));
  await noise.gone;

  const protocolWarnings = n2.log.entries.filter((e) => e.level === 'warn' && e.fields.code === 'ERR_PROTOCOL');
  assert.ok(protocolWarnings.length >= 4, `${protocolWarnings.length} ERR_PROTOCOL warnings`);
  assert.ok(protocolWarnings.every((e) => String(e.fields.peer).startsWith(`${HOSTS.n1}:`)), 'each names the peer address');
  assert.is(n2.server.counters.protocolErrors, 4);
  assert.is((await transport.request('n2/s0', GET, 5000)).type, FrameType.OBJECT, 'the good link still works');
  assert.is(n2.served.n, 2, 'no garbage reached the replica');
});

test('a new link from a node whose old link went silent replaces it (the half-open leftover of a crash)', async () => {
  const n2 = await node2({ staleLinkMs: 200 });
  const old = await rawAuthenticated(open, n2.server.address.port, 'n1');
  assert.equal(n2.server.peers().map((p) => p.node), ['n1']);
  await new Promise((r) => setTimeout(r, 300)); // nothing arrives on the old link
  const { transport } = client(n2);
  assert.is((await transport.request('n2/s0', GET, 5000)).type, FrameType.OBJECT);
  await old.gone;
  assert.ok(n2.log.entries.some((e) => e.level === 'warn' && /replaces a silent link/.test(e.msg)));
  assert.is(n2.server.peers().length, 1);
});

test('a connection that never completes its handshake is closed after the handshake timeout', async () => {
  const n2 = await node2({ limits: { handshakeTimeoutMs: 200 } });
  const idle = await rawSocket(open, n2.server.address.port);
  await idle.gone;
  assert.ok(n2.log.entries.some((e) => e.level === 'warn' && /no handshake/.test(e.msg)));
});

test('refusals from one source are logged once a minute with a count, not once each', async () => {
  const n2 = await node2();
  for (let i = 0; i < 3; i++) await expectRefused(client(n2, { secret: `wrong ${i}` }).transport, RefusalCode.BAD_MAC);
  await eventually(() => n2.server.counters.linksRefused >= 3, 10_000, 'three refusals');
  const lines = n2.log.entries.filter((e) => e.level === 'warn' && e.fields.code === RefusalCode.BAD_MAC);
  assert.is(lines.length, 1);
});

test.run();
