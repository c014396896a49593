// Client limits of the RESP server over real TCP, with raw sockets sending what real clients
// would not: a command over client-query-buffer-limit (error, closed, others unharmed), a
// bulk over the store's value limit (skipped unread, -TOOLARGE, connection kept), the
// maxmemory-clients budget (the biggest holder closed), Redis 6.2's pre-AUTH limits,
// maxclients, maxclients fitted to the open-file limit, and CONFIG GET of what is enforced.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fitMaxClients, openFileLimit } from '../../src/server/resp/fd-limit.js';
import { type Harness, RawClient, encodeCommand, startHarness } from './resp-harness.js';

const MiB = 1024 * 1024;

/** Polls `cond` until it holds; fails after a generous deadline (an outcome, not a timing). */
async function until(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Writes `data` and waits until the socket has handed it to the kernel. */
function write(c: RawClient, data: Buffer | string): Promise<void> {
  return new Promise((resolve) => {
    if (c.socket.destroyed || c.socket.write(data)) return resolve();
    const done = (): void => {
      c.socket.off('drain', done);
      c.socket.off('close', done);
      resolve();
    };
    c.socket.on('drain', done);
    c.socket.on('close', done);
  });
}

async function withHarness(options: Parameters<typeof startHarness>[0], body: (h: Harness) => Promise<void>): Promise<void> {
  const h = await startHarness(options);
  try {
    await body(h);
  } finally {
    await h.close();
  }
}

test('a command over client-query-buffer-limit is answered -ERR at the header of the bulk that passes it and closed; another client is unharmed', async () => {
  await withHarness({ server: { queryBufferLimit: 4 * MiB } }, async (h) => {
    const other = await RawClient.open(h.port);
    assert.is(await other.call('SET', 'k', 'v'), 'OK');
    const c = await RawClient.open(h.port);
    await write(c, '*1000\r\n$3\r\nDEL\r\n');
    const bulk = Buffer.alloc(MiB, 0x61);
    for (let i = 0; i < 10 && !c.closed; i++) await write(c, Buffer.concat([Buffer.from(`$${MiB}\r\n`), bulk, Buffer.from('\r\n')]));
    const reply = (await c.reply()) as { error: string };
    assert.match(reply.error, /^ERR query buffer limit reached: .* client-query-buffer-limit \(4194304 bytes\)/);
    await c.whenClosed();
    await until(() => h.server.clientInputBytes() === 0, 'the closed client to give back its input');
    assert.is(await other.call('GET', 'k'), 'v');
    other.close();
  });
});

test('a bulk over the store value limit is skipped unread: -TOOLARGE, the connection keeps working', async () => {
  await withHarness({ server: { maxValueBytes: MiB } }, async (h) => {
    const c = await RawClient.open(h.port);
    const frame = encodeCommand(['SET', 'big', Buffer.alloc(3 * MiB, 0x62)]);
    // In small pieces, so the server sees it arrive over many reads.
    for (let at = 0; at < frame.length; at += 64 * 1024) await write(c, frame.subarray(at, at + 64 * 1024));
    const reply = (await c.reply()) as { error: string };
    assert.match(reply.error, new RegExp(`^TOOLARGE an argument of ${3 * MiB} bytes exceeds the limit of ${MiB} bytes`));
    assert.is(await c.call('GET', 'big'), null);
    assert.is(await c.call('SET', 'small', Buffer.alloc(MiB, 0x63)), 'OK');
    assert.is(((await c.call('GET', 'small')) as string).length, MiB);
    c.close();
  });
});

test('maxmemory-clients: when all input passes it, the client holding the most is closed and the others finish their commands', async () => {
  await withHarness({ server: { maxmemoryClients: 8 * MiB } }, async (h) => {
    const unfinished = (key: string, size: number, sent: number): Buffer =>
      Buffer.concat([Buffer.from(`*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$${size}\r\n`), Buffer.alloc(sent, 0x64)]);
    const a = await RawClient.open(h.port);
    const b = await RawClient.open(h.port);
    const c = await RawClient.open(h.port);
    await write(a, unfinished('a', 5 * MiB + 1, 5 * MiB));
    await write(b, unfinished('b', MiB, MiB - 1));
    await until(() => h.server.clientInputBytes() >= 6 * MiB, 'a and b to be buffered');
    await write(c, unfinished('c', 3 * MiB, 3 * MiB));
    await write(c, '\r\n');
    const closed = (await a.reply()) as { error: string };
    assert.match(closed.error, /^ERR client input memory limit reached: .*maxmemory-clients \(8388608 bytes\)/);
    await a.whenClosed();
    assert.is(await c.reply(), 'OK');
    await write(b, 'd\r\n');
    assert.is(await b.reply(), 'OK');
    assert.is(((await b.call('GET', 'c')) as string).length, 3 * MiB);
    assert.is(await b.call('EXISTS', 'a'), 0);
    b.close();
    c.close();
  });
});

test('before AUTH: more than 10 arguments or a bulk over 16 KiB closes the connection; after AUTH the full limits apply', async () => {
  await withHarness({ server: { requirepass: 'pw' } }, async (h) => {
    const many = await RawClient.open(h.port);
    many.send('*1000\r\n$3\r\nDEL\r\n');
    assert.equal(await many.reply(), { error: 'ERR Protocol error: unauthenticated multibulk length' });
    await many.whenClosed();

    const eleven = await RawClient.open(h.port);
    eleven.send('*11\r\n');
    assert.equal(await eleven.reply(), { error: 'ERR Protocol error: unauthenticated multibulk length' });
    await eleven.whenClosed();

    const long = await RawClient.open(h.port);
    long.send(`*2\r\n$4\r\nAUTH\r\n$${16 * 1024 + 1}\r\n`);
    assert.equal(await long.reply(), { error: 'ERR Protocol error: unauthenticated bulk length' });
    await long.whenClosed();

    const ten = await RawClient.open(h.port);
    assert.equal(await ten.call('DEL', ...Array.from({ length: 9 }, (_, i) => `k${i}`)), { error: 'NOAUTH Authentication required.' });
    assert.equal(await ten.call('AUTH', 'x'.repeat(16 * 1024)), { error: 'WRONGPASS invalid username-password pair or user is disabled.' });
    assert.is(await ten.call('AUTH', 'pw'), 'OK');
    assert.is(await ten.call('DEL', ...Array.from({ length: 20 }, (_, i) => `k${i}`)), 0);
    assert.is(await ten.call('SET', 'v', Buffer.alloc(MiB, 0x65)), 'OK');
    ten.close();
  });
});

test('maxclients: connections over it get -ERR max number of clients reached and are closed; storage keeps working', async () => {
  await withHarness({ server: { maxclients: 50 } }, async (h) => {
    const clients: RawClient[] = [];
    for (let i = 0; i < 50; i++) clients.push(await RawClient.open(h.port));
    await until(() => h.server.connections() === 50, '50 connections');
    const refused = await Promise.all(Array.from({ length: 10 }, () => RawClient.open(h.port)));
    for (const r of refused) {
      assert.equal(await r.reply(), { error: 'ERR max number of clients reached' });
      await r.whenClosed();
    }
    assert.is(h.server.connections(), 50);
    assert.is(await clients[0]!.call('SET', 'k', 'v'), 'OK');
    assert.is(await clients[49]!.call('GET', 'k'), 'v');
    for (const c of clients.splice(0, 5)) c.close();
    await until(() => h.server.connections() === 45, 'closed clients to leave');
    const again = await RawClient.open(h.port);
    assert.is(await again.call('PING'), 'PONG');
    again.close();
    for (const c of clients) c.close();
  });
});

test('maxclients is lowered to fit the open-file limit less the reserved descriptors, with a warning', async () => {
  const fitted = fitMaxClients(10_000, 256, 1024);
  assert.is(fitted.maxclients, 768);
  assert.match(fitted.warning ?? '', /maxclients lowered from 10000 to 768: the open-file limit \(ulimit -n\) is 1024/);
  assert.equal(fitMaxClients(500, 256, 1024), { maxclients: 500, openFileLimit: 1024 });
  assert.is(fitMaxClients(10_000, 256, undefined).maxclients, 10_000);
  const limit = openFileLimit();
  if (process.platform === 'linux') assert.ok(limit !== undefined && limit > 0, 'read from /proc/self/limits');
  if (limit === undefined) return;
  const warnings: string[] = [];
  const log = { warn: (_fields: object, message: string) => warnings.push(message) };
  await withHarness({ server: { maxclients: limit + 1000, reservedFds: 100, log } }, async (h) => {
    assert.is(h.server.maxclients, Math.max(1, limit - 100));
    assert.is(warnings.length, 1);
    const c = await RawClient.open(h.port);
    assert.equal(await c.call('CONFIG', 'GET', 'maxclients'), ['maxclients', String(Math.max(1, limit - 100))]);
    c.close();
  });
});

test('CONFIG GET reports the limits in force', async () => {
  await withHarness({ server: { maxclients: 50, queryBufferLimit: 4 * MiB, maxmemoryClients: 8 * MiB } }, async (h) => {
    const c = await RawClient.open(h.port);
    const got = (await c.call('CONFIG', 'GET', 'client-query-buffer-limit', 'maxclients', 'maxmemory-clients')) as string[];
    const table = new Map<string, string>();
    for (let i = 0; i < got.length; i += 2) table.set(got[i]!, got[i + 1]!);
    assert.is(table.get('client-query-buffer-limit'), String(4 * MiB));
    assert.is(table.get('maxclients'), '50');
    assert.is(table.get('maxmemory-clients'), String(8 * MiB));
    c.close();
  });
});

test('a failed AUTH is logged once per source per minute, the next line counting those held back', async () => {
  const lines: { fields: Record<string, unknown>; message: string }[] = [];
  const log = { warn: (fields: object, message: string) => lines.push({ fields: fields as Record<string, unknown>, message }) };
  await withHarness({ server: { requirepass: 'pw', log } }, async (h) => {
    const c = await RawClient.open(h.port);
    for (let i = 0; i < 20; i++) assert.equal(await c.call('AUTH', `wrong${i}`), { error: 'WRONGPASS invalid username-password pair or user is disabled.' });
    c.close();
  });
  const auth = lines.filter((l) => /failed AUTH/.test(l.message));
  assert.is(auth.length, 1);
  assert.is(auth[0]!.fields.source, '127.0.0.1');
});

test.run();
