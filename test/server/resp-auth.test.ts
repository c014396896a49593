// requirepass: NOAUTH before AUTH, WRONGPASS, AUTH with and without the user name, HELLO's
// AUTH, real clients with a password; protected mode refusing a public address without one.
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startRespServer } from '../../src/server/resp/index.js';
import { type Harness, RawClient, rejects, startHarness } from './resp-harness.js';

const PASSWORD = 's3cret pass';
let h: Harness;

test.before(async () => {
  h = await startHarness({ server: { requirepass: PASSWORD } });
});

test.after(async () => {
  await h.close();
});

test('commands before AUTH answer NOAUTH; QUIT and AUTH itself are allowed', async () => {
  const c = await RawClient.open(h.port);
  assert.equal(await c.call('GET', 'k'), { error: 'NOAUTH Authentication required.' });
  assert.equal(await c.call('PING'), { error: 'NOAUTH Authentication required.' });
  assert.equal(await c.call('AUTH', 'wrong'), { error: 'WRONGPASS invalid username-password pair or user is disabled.' });
  assert.equal(await c.call('AUTH', 'admin', PASSWORD), { error: 'WRONGPASS invalid username-password pair or user is disabled.' });
  assert.is(await c.call('AUTH', PASSWORD), 'OK');
  assert.is(await c.call('SET', 'k', 'v'), 'OK');
  c.close();
  const d = await RawClient.open(h.port);
  assert.is(await d.call('AUTH', 'default', PASSWORD), 'OK');
  assert.is(await d.call('GET', 'k'), 'v');
  assert.is(await d.call('QUIT'), 'OK');
});

test('HELLO needs authentication or its AUTH option', async () => {
  const c = await RawClient.open(h.port);
  const noauth = (await c.call('HELLO', '3')) as { error: string };
  assert.match(noauth.error, /^NOAUTH HELLO must be called with the client already authenticated/);
  assert.equal(await c.call('HELLO', '3', 'AUTH', 'default', 'nope'), { error: 'WRONGPASS invalid username-password pair or user is disabled.' });
  const hello = await c.call('HELLO', '3', 'AUTH', 'default', PASSWORD, 'SETNAME', 'me');
  assert.ok(hello instanceof Map);
  assert.is(await c.call('CLIENT', 'GETNAME'), 'me');
  c.close();
});

test('ioredis and node-redis (RESP3) with the password', async () => {
  const io = new Redis({ port: h.port, host: '127.0.0.1', password: PASSWORD, maxRetriesPerRequest: 0 });
  assert.is(await io.set('io', '1'), 'OK');
  assert.is(await io.get('io'), '1');
  io.disconnect();
  const nr = createClient({ socket: { host: '127.0.0.1', port: h.port }, password: PASSWORD, RESP: 3 });
  nr.on('error', () => {});
  await nr.connect();
  assert.is(await nr.get('io'), '1');
  nr.destroy();
});

test('a wrong password fails the client connection with WRONGPASS', async () => {
  const io = new Redis({ port: h.port, host: '127.0.0.1', password: 'wrong', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  const seen: string[] = [];
  io.on('error', (e: Error) => seen.push(e.message));
  await io.connect().catch((e: Error) => seen.push(e.message));
  io.disconnect();
  assert.ok(seen.some((m) => /WRONGPASS/.test(m)), seen.join('; '));
});

test('AUTH on a server without a password is an error', async () => {
  const open = await startHarness();
  try {
    const c = await RawClient.open(open.port);
    const r = (await c.call('AUTH', 'x')) as { error: string };
    assert.match(r.error, /^ERR AUTH <password> called without any password configured/);
    c.close();
  } finally {
    await open.close();
  }
});

test('protected mode: a non-loopback address without requirepass is refused with how to fix it', async () => {
  for (const host of ['0.0.0.0', '::', '192.168.1.10']) {
    await rejects(startRespServer(h.store, { host, port: 0 }), /protected mode: refusing to listen on .* without a password.*Set requirepass.*127\.0\.0\.1/);
  }
  const ok = await startRespServer(h.store, { host: '0.0.0.0', port: 0, requirepass: PASSWORD });
  const c = await RawClient.open(ok.port);
  assert.equal(await c.call('GET', 'k'), { error: 'NOAUTH Authentication required.' });
  c.close();
  await ok.close();
});

test('bad options are refused', async () => {
  await rejects(startRespServer(h.store, { port: -1 }), /port must be an integer/);
  await rejects(startRespServer(h.store, { port: 0, maxArgs: 0 }), /maxArgs/);
  await rejects(startRespServer(h.store, { port: 0, requirepass: '' }), /requirepass/);
  await rejects(startRespServer(h.store, { port: h.port }), /cannot listen on 127\.0\.0\.1/);
});

test.run();
