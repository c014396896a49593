// The request table shared by the shard and the peer transport: every tracked request
// settles exactly once (reply, error, failAll or its deadline), entries are reused, and the
// promise sink hands out copies that outlive the buffer a reply was decoded from.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ErrorCode, RingkvError } from '../../src/errors.js';
import { FrameType, Slab, type Reply } from '../../src/protocol/index.js';
import { PromiseSink, RequestGroup, RequestTable } from '../../src/coordinator/request-table.js';
import type { ReplySink } from '../../src/coordinator/transport.js';

class Recorder implements ReplySink {
  readonly replies: [Reply, number][] = [];
  readonly errors: [Error, number][] = [];
  onReply(reply: Reply, tag: number): void { this.replies.push([reply, tag]); }
  onError(err: Error, tag: number): void { this.errors.push([err, tag]); }
}

test('a reply settles its request once, with its tag; a late one finds nothing', () => {
  const table = new RequestTable();
  const group = new RequestGroup();
  const sink = new Recorder();
  const id = group.takeId();
  table.track(group, id, 's0', 60_000, sink, 7);
  assert.is(group.pending.size, 1);
  table.reply(group.pending.get(id)!, { type: FrameType.ACK });
  assert.equal(sink.replies.map(([r, t]) => [r.type, t]), [[FrameType.ACK, 7]]);
  assert.is(group.pending.size, 0);
  assert.is(group.pending.get(id), undefined);
  table.close();
});

test('a request past its deadline fails with ERR_TIMEOUT naming its target', async () => {
  const table = new RequestTable();
  const group = new RequestGroup();
  const sink = new Recorder();
  table.track(group, group.takeId(), 'n2/s1', 5, sink, 3);
  const until = Date.now() + 10_000;
  while (sink.errors.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  assert.is(sink.errors.length, 1);
  assert.is((sink.errors[0]![0] as RingkvError).code, ErrorCode.TIMEOUT);
  assert.match(sink.errors[0]![0].message, /n2\/s1/);
  assert.is(sink.errors[0]![1], 3);
  assert.is(group.pending.size, 0);
  table.close();
});

test('failAll fails every request of its group only, with the error errorOf makes', () => {
  const table = new RequestTable();
  const a = new RequestGroup();
  const b = new RequestGroup();
  const sink = new Recorder();
  for (let i = 0; i < 3; i++) table.track(a, a.takeId(), `a${i}`, 60_000, sink, i);
  table.track(b, b.takeId(), 'b0', 60_000, sink, 9);
  table.failAll(a, new Error('link died'), (p, err) => new Error(`${p.target}: ${err.message}`));
  assert.equal(sink.errors.map(([e, t]) => [e.message, t]), [['a0: link died', 0], ['a1: link died', 1], ['a2: link died', 2]]);
  assert.is(a.pending.size, 0);
  assert.is(b.pending.size, 1);
  table.close();
});

test('a sink that throws does not stop the table', () => {
  const table = new RequestTable();
  const group = new RequestGroup();
  const thrower: ReplySink = { onReply() { throw new Error('boom'); }, onError() { throw new Error('boom'); } };
  table.track(group, 1, 's0', 60_000, thrower, 0);
  table.track(group, 2, 's0', 60_000, thrower, 0);
  table.reply(group.pending.get(1)!, { type: FrameType.ACK });
  table.failAll(group, new Error('closing'));
  assert.is(group.pending.size, 0);
  table.close();
});

test('ids count up per group and wrap below 2^30', () => {
  const g = new RequestGroup();
  assert.is(g.takeId(), 1);
  assert.is(g.takeId(), 2);
  (g as unknown as { nextId: number }).nextId = 0x3fffffff;
  assert.is(g.takeId(), 0x3fffffff);
  assert.is(g.takeId(), 1);
});

test('the promise sink resolves with copies that outlive the reply buffer (into the slab when given)', async () => {
  for (const slab of [undefined, new Slab()]) {
    const buf = new Uint8Array([1, 2, 3, 4]);
    const got = new Promise<Reply>((resolve, reject) => new PromiseSink(resolve, reject, slab).onReply({ type: FrameType.OBJECT, object: buf.subarray(1, 3) }));
    buf.fill(0);
    const reply = await got;
    assert.is(reply.type, FrameType.OBJECT);
    assert.equal([...(reply as { object: Uint8Array }).object], [2, 3]);
  }
  const hashes = new Uint8Array([5, 6]);
  const hp = new Promise<Reply>((resolve, reject) => new PromiseSink(resolve, reject).onReply({ type: FrameType.HASHES, leaves: hashes } as unknown as Reply));
  hashes.fill(0);
  assert.equal([...((await hp) as unknown as { leaves: Uint8Array }).leaves], [5, 6]);
});

test.run();
