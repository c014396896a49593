// Mutated frames on authenticated links: every one is either answered (a reply with its
// request id, an ERROR reply for a body the replica refuses) or closes its link with
// ERR_PROTOCOL; the server and every other link keep working throughout.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FrameReader, FrameType, FrameWriter, MAX_FRAME_BYTES, encodeRequest, type Request } from '../../src/protocol/index.js';
import { FrameSplitter } from '../../src/cluster/peer/peer-frame-splitter.js';
import { encodeRoute } from '../../src/cluster/peer/peer-protocol.js';
import { eventually, peerTransport, rawAuthenticated, seeded, servedNode } from './peer-harness.js';

const b = (s: string) => new TextEncoder().encode(s);
const samples: Request[] = [
  { type: FrameType.GET, hi: 1, lo: 2, key: b('k') },
  { type: FrameType.PUT, hi: 1, lo: 2, key: b('k'), context: new Uint8Array(0), value: b('value'), writtenAt: 1, expiresAt: 0, maxSiblings: 8, lww: false },
  { type: FrameType.REPLICATE, hi: 3, lo: 4, key: b('r'), object: b('not really an object') },
  { type: FrameType.HINTS_FOR, target: 'n1/s0', max: 10 },
  { type: FrameType.SCAN, from: { hi: 0, lo: 0, end: false }, to: { hi: 0, lo: 0, end: true }, max: 10, now: 1 },
];

test('mutated frames are answered or close only their link; the server keeps serving', async () => {
  const open: { close(): Promise<void> }[] = [];
  const n2 = await servedNode('n2', 2);
  open.push(n2);
  const { transport } = peerTransport(new Map([['n2', n2]]));
  open.push(transport);
  try {
    const random = seeded(2024);
    const w = new FrameWriter();
    const r = new FrameReader();
    let answered = 0;
    let closed = 0;
    for (let round = 0; round < 60; round++) {
      const s = await rawAuthenticated(open, n2.server.address.port, `fuzz${round}`);
      const frame = encodeRequest(w, 1000 + round, samples[round % samples.length]!).slice();
      // Never the length field: a longer claimed length is only an unfinished frame.
      const flips = 1 + Math.floor(random() * 3);
      for (let f = 0; f < flips; f++) frame[4 + Math.floor(random() * (frame.length - 4))] = Math.floor(random() * 256);
      let replied = false;
      const splitter = new FrameSplitter(MAX_FRAME_BYTES, (buf, at, n) => {
        r.reset(buf, at, n);
        replied = true;
      });
      s.on('data', (c: Buffer) => splitter.push(c));
      let gone = false;
      void s.gone.then(() => (gone = true));
      s.write(Buffer.concat([encodeRoute(w, 'n2/s0', 5000).slice(), frame]));
      await eventually(() => replied || gone, 10_000, `round ${round}: an answer or a close`);
      if (replied) answered++;
      else closed++;
      s.destroy();
      assert.is((await transport.request('n2/s0', samples[0]!, 5000)).type, FrameType.OBJECT, `round ${round}: the good link still works`);
    }
    assert.is(answered + closed, 60);
    assert.ok(closed >= 1 && answered >= 1, `${answered} answered, ${closed} closed`);
    assert.is(n2.server.counters.protocolErrors, closed);
  } finally {
    for (const o of open.reverse()) await o.close();
  }
});

test.run();
