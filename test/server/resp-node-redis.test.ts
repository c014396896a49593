// node-redis (v6) against the RESP server, over RESP3 (it opens with HELLO 3 and needs a
// map reply) and over RESP2.
import { createClient } from 'redis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Harness, RawClient, rejects, startHarness } from './resp-harness.js';

let h: Harness;

test.before(async () => {
  h = await startHarness();
});

test.after(async () => {
  await h.close();
});

test('RESP3: connects with HELLO 3, SET/GET/MGET/INCR/DEL, null for a missing key', async () => {
  const client = createClient({ socket: { host: '127.0.0.1', port: h.port }, RESP: 3 });
  client.on('error', () => {});
  await client.connect();
  try {
    assert.is(await client.ping(), 'PONG');
    assert.is(await client.set('n3', 'v'), 'OK');
    assert.is(await client.get('n3'), 'v');
    assert.is(await client.get('n3-missing'), null);
    assert.equal(await client.mGet(['n3', 'n3-missing']), ['v', null]);
    assert.is(await client.incr('n3-count'), 1);
    assert.is(await client.del('n3'), 1);
    await rejects(client.sendCommand(['NOPE']), /unknown command/);
    // A VGET reply is an array whose first element is the context.
    await client.sendCommand(['VSET', 'n3-v', 'x']);
    const v = (await client.sendCommand(['VGET', 'n3-v'])) as unknown[];
    assert.is(v.length, 2);
    assert.is(String(v[1]), 'x');
  } finally {
    client.destroy();
  }
});

test('RESP3: CONFIG GET answers a map', async () => {
  const client = createClient({ socket: { host: '127.0.0.1', port: h.port }, RESP: 3 });
  client.on('error', () => {});
  await client.connect();
  try {
    const reply = (await client.sendCommand(['CONFIG', 'GET', 'save'])) as unknown;
    const entries = reply instanceof Map ? [...reply.entries()] : Object.entries(reply as object);
    assert.equal(
      entries.map(([k, v]) => [String(k), String(v)]),
      [['save', '']],
    );
  } finally {
    client.destroy();
  }
});

test('RESP2 (the default): pipelines of 1000 commands in order', async () => {
  const client = createClient({ socket: { host: '127.0.0.1', port: h.port } });
  client.on('error', () => {});
  await client.connect();
  try {
    const multi = client.multi();
    for (let i = 0; i < 1000; i++) multi.set(`n2-${i}`, String(i));
    await multi.execAsPipeline();
    const gets = await Promise.all(Array.from({ length: 1000 }, (_, i) => client.get(`n2-${i}`)));
    assert.equal(
      gets,
      Array.from({ length: 1000 }, (_, i) => String(i)),
    );
  } finally {
    client.destroy();
  }
});

test('HELLO 3 on the wire: a map with server, proto 3, id; nulls become _; HELLO 2 goes back', async () => {
  const c = await RawClient.open(h.port);
  try {
    const hello = await c.call('HELLO', '3');
    assert.ok(hello instanceof Map);
    const m = hello as Map<unknown, unknown>;
    assert.is(m.get('server'), 'ringkv');
    assert.is(m.get('proto'), 3);
    assert.type(m.get('id'), 'number');
    c.send('*2\r\n$3\r\nGET\r\n$7\r\nmissing\r\n');
    await c.reply();
    c.send('GET missing\r\n');
    // Check the exact bytes: RESP3 null is `_`.
    const raw = await new Promise<string>((resolve) => c.socket.once('data', (d: Buffer) => resolve(d.toString('latin1'))));
    assert.is(raw, '_\r\n');
    assert.is(await c.reply(), null);
    const back = await c.call('HELLO', '2');
    assert.ok(Array.isArray(back));
    assert.equal(await c.call('HELLO', '4'), { error: 'NOPROTO unsupported protocol version' });
  } finally {
    c.close();
  }
});

test.run();
