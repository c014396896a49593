// The server on a bare socket: inline commands, pipelined frames in one write, replies in
// order, protocol errors closing only the offending connection, the limits (bulk size,
// arguments, inline length, output buffer), QUIT, half-close, idle timeout, and close()
// letting commands already received answer.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Harness, RawClient, encodeCommand, startHarness } from './resp-harness.js';

let h: Harness;

test.before(async () => {
  h = await startHarness({
    server: { maxBulkBytes: 1024 * 1024, maxInlineBytes: 1024, maxArgs: 64, maxPendingReplyBytes: 256 * 1024 },
  });
});

test.after(async () => {
  await h.close();
});

test('inline commands: PING, quoted arguments, CRLF or LF line ends', async () => {
  const c = await RawClient.open(h.port);
  c.send('PING\r\n');
  assert.is(await c.reply(), 'PONG');
  c.send('SET inline "hello world"\nGET inline\r\nECHO \'a b\'\r\n');
  assert.equal(await c.replies(3), ['OK', 'hello world', 'a b']);
  c.close();
});

test('many frames in one write answer in order; a frame split across writes is fine', async () => {
  const c = await RawClient.open(h.port);
  const frames: Buffer[] = [];
  for (let i = 0; i < 200; i++) frames.push(encodeCommand(['SET', `o${i}`, String(i)]), encodeCommand(['GET', `o${i}`]));
  c.send(Buffer.concat(frames));
  const replies = await c.replies(400);
  for (let i = 0; i < 200; i++) assert.equal([replies[2 * i], replies[2 * i + 1]], ['OK', String(i)]);
  const frame = encodeCommand(['ECHO', 'split']);
  for (let i = 0; i < frame.length; i++) {
    c.send(frame.subarray(i, i + 1));
    await new Promise((r) => setImmediate(r));
  }
  assert.is(await c.reply(), 'split');
  c.close();
});

test('a protocol error answers -ERR Protocol error and closes that connection only', async () => {
  const bad = await RawClient.open(h.port);
  const good = await RawClient.open(h.port);
  bad.send('*1\r\n$x\r\n');
  assert.equal(await bad.reply(), { error: 'ERR Protocol error: invalid bulk length' });
  await bad.whenClosed();
  assert.is(await good.call('PING'), 'PONG');
  good.close();
});

test('limits: a bulk over maxBulkBytes, too many arguments, an inline line too long', async () => {
  for (const [input, message] of [
    ['*2\r\n$3\r\nGET\r\n$2000000\r\n', 'invalid bulk length'],
    ['*65\r\n', 'invalid multibulk length'],
    ['PING ' + 'x'.repeat(2000), 'too big inline request'],
  ] as const) {
    const c = await RawClient.open(h.port);
    c.send(input);
    assert.equal(await c.reply(), { error: `ERR Protocol error: ${message}` });
    await c.whenClosed();
  }
});

test('replies past maxPendingReplyBytes close the client (output buffer limit)', async () => {
  const c = await RawClient.open(h.port);
  const value = 'v'.repeat(10_000);
  await c.call('MSET', ...Array.from({ length: 40 }, (_, i) => [`big${i}`, value]).flat());
  // One MGET of 40 x 10 KB = 400 KB of reply: over the 256 KiB limit.
  c.send(encodeCommand(['MGET', ...Array.from({ length: 40 }, (_, i) => `big${i}`)]));
  await c.whenClosed();
  const other = await RawClient.open(h.port);
  assert.is(await other.call('PING'), 'PONG');
  other.close();
});

test('unknown commands and wrong arity are errors that keep the connection', async () => {
  const c = await RawClient.open(h.port);
  assert.equal(await c.call('NOPE', 'a', 'b'), { error: "ERR unknown command 'NOPE', with args beginning with: 'a' 'b'" });
  assert.equal(await c.call('GET'), { error: "ERR wrong number of arguments for 'get' command" });
  assert.is(await c.call('ping'), 'PONG');
  assert.is(await c.call('pInG'), 'PONG');
  c.close();
});

test('QUIT answers OK, then the server closes after earlier replies', async () => {
  const c = await RawClient.open(h.port);
  c.send(Buffer.concat([encodeCommand(['SET', 'q', '1']), encodeCommand(['GET', 'q']), encodeCommand(['QUIT']), encodeCommand(['PING'])]));
  assert.equal(await c.replies(3), ['OK', '1', 'OK']);
  await c.whenClosed();
});

test('a client that half-closes after sending still gets its replies', async () => {
  const c = await RawClient.open(h.port);
  c.socket.end(Buffer.concat([encodeCommand(['SET', 'hc', 'x']), encodeCommand(['GET', 'hc'])]));
  assert.equal(await c.replies(2), ['OK', 'x']);
  await c.whenClosed();
});

test('idle clients are closed after idleTimeoutMs', async () => {
  const idle = await startHarness({ server: { idleTimeoutMs: 150 } });
  try {
    const c = await RawClient.open(idle.port);
    assert.is(await c.call('PING'), 'PONG');
    await c.whenClosed(2000);
  } finally {
    await idle.close();
  }
});

test('close() lets commands already received answer, then closes the sockets', async () => {
  const other = await startHarness();
  const c = await RawClient.open(other.port);
  const frames: Buffer[] = [];
  for (let i = 0; i < 300; i++) frames.push(encodeCommand(['SET', `c${i}`, String(i)]));
  c.send(Buffer.concat(frames));
  // Wait until the server has the bytes (the first reply), then close it.
  assert.is(await c.reply(), 'OK');
  const closing = other.server.close();
  const rest = await c.replies(299);
  assert.ok(rest.every((r) => r === 'OK'));
  await c.whenClosed();
  await closing;
  assert.is(other.server.connections(), 0);
  // Everything acknowledged is in the store.
  assert.is(new TextDecoder().decode((await other.store.get('c299'))!.values[0]), '299');
  await other.close();
});

test('connections() counts open clients', async () => {
  const before = h.server.connections();
  const a = await RawClient.open(h.port);
  await a.call('PING');
  assert.is(h.server.connections(), before + 1);
  a.close();
  // The server sees the close when its socket does: polled, with a generous deadline.
  for (const until = Date.now() + 30_000; h.server.connections() !== before && Date.now() < until; ) await new Promise((r) => setTimeout(r, 10));
  assert.is(h.server.connections(), before);
});

test.run();
