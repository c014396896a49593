// Frames encoded in place (straight into a ring reservation) are the very bytes FrameWriter
// makes, at any offset of the target buffer.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  FrameType, FrameWriter, Slab, encodeReply, encodeReplyInto, encodeRequest, encodeRequestInto, replyFrameSize, requestFrameSize,
  type Reply, type Request,
} from '../../src/protocol/index.js';

const b = (s: string) => new TextEncoder().encode(s);

const requests: Request[] = [
  { type: FrameType.GET, hi: 0xdeadbeef, lo: 7, key: b('user:1') },
  { type: FrameType.GET, hi: 0, lo: 0, key: new Uint8Array(200).fill(3) },
  {
    type: FrameType.PUT, hi: 1, lo: 0xffffffff, key: b('k'), context: new Uint8Array([1, 2, 3]),
    value: new Uint8Array(70_000).fill(9), writtenAt: 1_700_000_000_123, expiresAt: 0, maxSiblings: 64, lww: false,
  },
  { type: FrameType.PUT, hi: 2, lo: 3, key: b(''), context: new Uint8Array(0), value: null, writtenAt: 5, expiresAt: 10, maxSiblings: 1, lww: true },
  { type: FrameType.REPLICATE, hi: 4, lo: 5, key: b('r'), object: b('object-bytes') },
];

test('requests encoded in place equal FrameWriter frames, at any offset', () => {
  const w = new FrameWriter();
  for (const req of requests) {
    const want = encodeRequest(w, 77, req).slice();
    const size = requestFrameSize(req);
    assert.is(size, want.length);
    for (const at of [0, 1, 5, 8]) {
      const buf = new Uint8Array(at + size + 3).fill(0xee);
      encodeRequestInto(buf, at, 77, req, size);
      assert.equal(buf.subarray(at, at + size), want);
      assert.is(buf[at + size], 0xee, 'nothing written past the frame');
    }
  }
});

test('requests that are not encoded in place say so (size 0)', () => {
  assert.is(requestFrameSize({ type: FrameType.HINTS_FOR, target: 's1', max: 5 }), 0);
  assert.is(requestFrameSize({ type: FrameType.HINT, target: 's1', hi: 1, lo: 2, key: b('k'), object: b('o') }), 0);
});

test('OBJECT and ACK replies encoded in place equal FrameWriter frames', () => {
  const w = new FrameWriter();
  const replies: Reply[] = [
    { type: FrameType.OBJECT, object: b('xyz') },
    { type: FrameType.OBJECT, object: new Uint8Array(0) },
    { type: FrameType.OBJECT, object: new Uint8Array(300).fill(1) },
    { type: FrameType.OBJECT_PARTIAL, object: b('partial') },
    { type: FrameType.ACK },
  ];
  for (const reply of replies) {
    const want = encodeReply(w, 9, reply).slice();
    const size = replyFrameSize(reply);
    assert.is(size, want.length);
    const buf = new Uint8Array(size + 3);
    encodeReplyInto(buf, 3, 9, reply, size);
    assert.equal(buf.subarray(3), want);
  }
  assert.is(replyFrameSize({ type: FrameType.ERROR, code: 'ERR_X', message: 'm' }), 0);
});

test('a slab copy equals its source, survives the source being overwritten, and never moves', () => {
  const slab = new Slab();
  const src = new Uint8Array(1000);
  const kept: Array<[Uint8Array, number[]]> = [];
  for (let i = 0; i < 5000; i++) {
    const n = (i * 37) % 600;
    const from = i % 300;
    for (let k = 0; k < src.length; k++) src[k] = (k * 7 + i) & 0xff;
    const copy = slab.copy(src, from, from + Math.min(n, src.length - from));
    kept.push([copy, [...src.subarray(from, from + copy.length)]]);
  }
  src.fill(0);
  for (const [copy, want] of kept) assert.equal([...copy], want);
});

test('a slab encodes strings as TextEncoder does', () => {
  const slab = new Slab();
  for (const s of ['', 'key-1', 'é', 'ключ', '\u{1f600}x', 'a'.repeat(300), 'ü'.repeat(3000), '\ud800 lone']) {
    assert.equal([...slab.encodeString(s)], [...new TextEncoder().encode(s)], s.slice(0, 20));
  }
});

test.run();
