// The link's own frames round-trip; the handshake macs bind role, ids, nonces, cluster and
// version; the stream splitter finds the same frames wherever TCP cuts the bytes, and
// refuses a length that cannot be right before buffering anything for it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FrameReader, FrameType, FrameWriter, encodeRequest } from '../../src/protocol/index.js';
import { FrameSplitter } from '../../src/cluster/peer/peer-frame-splitter.js';
import {
  MAX_HANDSHAKE_FRAME_BYTES, PeerFrameType, chooseVersion, decodeControl, decodeControlReply, decodeHello, decodeProof, decodeRefused, decodeRoute,
  decodeWelcome, encodeControl, encodeControlReply, encodeHello, encodeProof, encodeRefused, encodeRoute, encodeWelcome, handshakeMac, macMatches,
  newNonce, type HandshakeFacts,
} from '../../src/cluster/peer/peer-protocol.js';
import { seeded } from './peer-harness.js';

const b = (s: string) => new TextEncoder().encode(s);
const w = new FrameWriter();
const r = new FrameReader();
const aim = (frame: Uint8Array) => {
  r.reset(frame.slice());
  return r;
};

test('every link frame round-trips with its type and request id', () => {
  const hello = { cluster: 'c', node: 'n1', minVersion: 1, maxVersion: 3, nonce: newNonce() };
  let rd = aim(encodeHello(w, hello));
  assert.is(rd.type, PeerFrameType.HELLO);
  assert.equal(decodeHello(rd), hello);
  const welcome = { node: 'n2', version: 2, nonce: newNonce(), mac: new Uint8Array(32).fill(5) };
  assert.equal(decodeWelcome(aim(encodeWelcome(w, welcome))), welcome);
  assert.equal(decodeProof(aim(encodeProof(w, welcome.mac))), welcome.mac);
  assert.equal(decodeRefused(aim(encodeRefused(w, { code: 'BAD_MAC', reason: 'why' }))), { code: 'BAD_MAC', reason: 'why' });
  assert.equal(decodeRoute(aim(encodeRoute(w, 'n2/s3', 2000, 7))), { replica: 'n2/s3', timeoutMs: 2000, ringEpoch: 7 });
  rd = aim(encodeControl(w, 77, b('{"a":1}')));
  assert.is(rd.requestId, 77);
  assert.equal(decodeControl(rd), b('{"a":1}'));
  assert.equal(decodeControlReply(aim(encodeControlReply(w, 78, { ok: true, json: b('[1]') }))), { ok: true, json: b('[1]') });
  assert.equal(decodeControlReply(aim(encodeControlReply(w, 78, { ok: false, code: 'ERR_X', message: 'm' }))), { ok: false, code: 'ERR_X', message: 'm' });
});

test('a HELLO with a short nonce, a truncated frame or trailing bytes is ERR_PROTOCOL', () => {
  const short = encodeHello(w, { cluster: 'c', node: 'n', minVersion: 1, maxVersion: 1, nonce: new Uint8Array(8) }).slice();
  assert.throws(() => decodeHello(aim(short)), (e: { code?: string }) => e.code === 'ERR_PROTOCOL');
  const good = encodeRoute(w, 'n2/s0', 5).slice();
  for (let cut = 1; cut < good.length - 12; cut++) {
    const bad = good.slice(0, good.length - cut);
    new DataView(bad.buffer).setUint32(0, bad.length - 4, true); // a consistent but short frame
    assert.throws(() => decodeRoute(aim(bad)), (e: { code?: string }) => e.code === 'ERR_PROTOCOL', `cut ${cut}`);
  }
  const long = new Uint8Array(good.length + 1);
  long.set(good);
  new DataView(long.buffer).setUint32(0, long.length - 4, true);
  assert.throws(() => decodeRoute(aim(long)), (e: { code?: string }) => e.code === 'ERR_PROTOCOL');
  const badOk = encodeControlReply(w, 1, { ok: true, json: b('1') }).slice();
  badOk[12] = 2;
  assert.throws(() => decodeControlReply(aim(badOk)), (e: { code?: string }) => e.code === 'ERR_PROTOCOL');
});

test('the handshake macs differ by role and change with every fact they cover', () => {
  const secret = b('s3cret');
  const facts: HandshakeFacts = { cluster: 'c', clientNode: 'n1', serverNode: 'n2', clientNonce: newNonce(), serverNonce: newNonce(), version: 1 };
  const server = handshakeMac(secret, 'server', facts);
  assert.ok(macMatches(server, handshakeMac(secret, 'server', { ...facts })));
  assert.not.ok(macMatches(server, handshakeMac(secret, 'client', facts)), 'a server mac is no client proof');
  assert.not.ok(macMatches(server, handshakeMac(b('other'), 'server', facts)));
  const changed: Partial<HandshakeFacts>[] = [
    { cluster: 'd' }, { clientNode: 'n3' }, { serverNode: 'n3' }, { clientNonce: newNonce() }, { serverNonce: newNonce() }, { version: 2 },
    // Moving bytes between fields changes the mac too (fields are length-prefixed).
    { clientNode: 'n1n', serverNode: '2' },
  ];
  for (const c of changed) assert.not.ok(macMatches(server, handshakeMac(secret, 'server', { ...facts, ...c })), JSON.stringify(Object.keys(c)));
  assert.not.ok(macMatches(server, server.subarray(0, 31)), 'a short mac never matches');
});

test('the version chosen is the highest both ranges hold', () => {
  assert.is(chooseVersion({ min: 1, max: 3 }, { min: 2, max: 5 }), 3);
  assert.is(chooseVersion({ min: 1, max: 1 }, { min: 1, max: 1 }), 1);
  assert.is(chooseVersion({ min: 1, max: 1 }, { min: 2, max: 3 }), undefined);
});

test('the splitter yields the same frames wherever the stream is cut', () => {
  const frames: Uint8Array[] = [];
  const keys = [0, 1, 100, 5000, 20_000, 70_000];
  keys.forEach((n, i) => frames.push(encodeRequest(w, i + 1, { type: FrameType.GET, hi: i, lo: 0, key: new Uint8Array(n).fill(i) }).slice()));
  const stream = new Uint8Array(frames.reduce((s, f) => s + f.length, 0));
  let at = 0;
  for (const f of frames) {
    stream.set(f, at);
    at += f.length;
  }
  const random = seeded(42);
  for (let round = 0; round < 300; round++) {
    const got: Uint8Array[] = [];
    const s = new FrameSplitter(1 << 20, (buf, a, n) => void got.push(buf.slice(a, a + n)));
    let p = 0;
    while (p < stream.length) {
      // Cuts of 1..5 bytes, then of any size: every boundary case and big chunks.
      const step = round < 100 ? 1 + Math.floor(random() * 5) : 1 + Math.floor(random() * 90_000);
      s.push(stream.subarray(p, Math.min(stream.length, p + step)));
      p += step;
    }
    assert.is(got.length, frames.length, `round ${round}`);
    got.forEach((g, i) => assert.ok(Buffer.compare(g, frames[i]!) === 0, `round ${round} frame ${i}`));
  }
});

test('the splitter refuses a frame length over its limit or under a header, before buffering it', () => {
  const s = new FrameSplitter(MAX_HANDSHAKE_FRAME_BYTES, () => assert.unreachable('no frame'));
  const huge = new Uint8Array(4);
  new DataView(huge.buffer).setUint32(0, 64 * 1024 * 1024, true);
  assert.throws(() => s.push(huge), (e: { code?: string }) => e.code === 'ERR_PROTOCOL');
  const tiny = new Uint8Array(12);
  new DataView(tiny.buffer).setUint32(0, 3, true);
  assert.throws(() => new FrameSplitter(1024, () => {}).push(tiny), (e: { code?: string }) => e.code === 'ERR_PROTOCOL');
  // The length split across two chunks is checked once it is whole.
  const s2 = new FrameSplitter(1024, () => assert.unreachable('no frame'));
  s2.push(huge.subarray(0, 2));
  assert.throws(() => s2.push(huge.subarray(2)), (e: { code?: string }) => e.code === 'ERR_PROTOCOL');
});

test('a paused splitter keeps what arrives and hands it out in order on resume, wherever the cuts fall', () => {
  const frames = Array.from({ length: 40 }, (_, i) => encodeRequest(w, i + 1, { type: FrameType.GET, hi: i, lo: 0, key: new Uint8Array(i * 37) }).slice());
  const stream = Buffer.concat(frames);
  const random = seeded(9);
  for (let round = 0; round < 200; round++) {
    const got: number[] = [];
    let paused = false;
    const s: FrameSplitter = new FrameSplitter(1 << 20, (buf, at, n) => {
      assert.not.ok(paused, 'no frame while paused');
      r.reset(buf, at, n);
      got.push(r.requestId);
      if (random() < 0.3) {
        paused = true;
        s.pause();
      }
    });
    let p = 0;
    while (p < stream.length || paused) {
      if (paused && (random() < 0.5 || p >= stream.length)) {
        paused = false;
        s.resume();
        continue;
      }
      const step = 1 + Math.floor(random() * 400);
      s.push(stream.subarray(p, Math.min(stream.length, p + step)));
      p += step;
    }
    assert.equal(got, frames.map((_, i) => i + 1), `round ${round}`);
  }
});

test('a stopped splitter delivers nothing more, not even the rest of its chunk', () => {
  const two = new Uint8Array(24);
  new DataView(two.buffer).setUint32(0, 8, true);
  new DataView(two.buffer).setUint32(12, 8, true);
  let n = 0;
  const s: FrameSplitter = new FrameSplitter(1024, () => {
    n++;
    s.stop();
  });
  s.push(two);
  s.push(two);
  assert.is(n, 1);
});

test.run();
