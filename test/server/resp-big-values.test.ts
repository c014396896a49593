// Big values through the RESP server with ioredis: SET/GET of 4 MiB and of the largest value
// (frames fragmented across the shard rings), a pipeline mixing big and small commands,
// and a value over the limit refused with -TOOLARGE naming it, the connection still usable.
import { Redis } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MAX_PUT_VALUE_BYTES } from '../../src/coordinator/shard-transport.js';
import { type Harness, rejects, startHarness } from './resp-harness.js';

const MiB = 1024 * 1024;
let h: Harness;
let redis: Redis;

test.before(async () => {
  h = await startHarness();
  redis = new Redis({ port: h.port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
  await redis.connect();
});

test.after(async () => {
  redis.disconnect();
  await h.close();
});

function value(size: number, seed: number): Buffer {
  const v = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) v[i] = (seed + i * 7 + (i >>> 10)) & 255;
  return v;
}

test('the server takes bulk strings far larger than the value limit (proto-max-bulk-len 512 MiB)', async () => {
  const [name, bytes] = (await redis.config('GET', 'proto-max-bulk-len')) as [string, string];
  assert.is(name, 'proto-max-bulk-len');
  assert.ok(Number(bytes) >= MAX_PUT_VALUE_BYTES, `proto-max-bulk-len ${bytes}`);
});

test('SET then GET of a 4 MiB value returns it byte for byte', async () => {
  const v = value(4 * MiB, 1);
  assert.is(await redis.set('four', v), 'OK');
  const back = await redis.getBuffer('four');
  assert.ok(back !== null && back.equals(v));
});

test('SET then GET of the largest value (16 MiB - 64 KiB)', async () => {
  const v = value(MAX_PUT_VALUE_BYTES, 2);
  assert.is(await redis.set('largest', v), 'OK');
  const back = await redis.getBuffer('largest');
  assert.ok(back !== null && back.equals(v));
});

test('a pipeline of big and small commands is answered in order, every value intact', async () => {
  const big = [value(3 * MiB, 3), value(MiB + 5, 4)];
  const p = redis.pipeline();
  p.set('pb0', big[0]!);
  for (let i = 0; i < 200; i++) p.set(`ps${i}`, `v${i}`);
  p.set('pb1', big[1]!);
  p.getBuffer('pb0');
  for (let i = 0; i < 200; i++) p.get(`ps${i}`);
  p.getBuffer('pb1');
  const out = (await p.exec())!;
  assert.ok(out.every(([err]) => err === null), 'no command failed');
  const results = out.map(([, r]) => r);
  assert.is(results.slice(0, 202).filter((r) => r === 'OK').length, 202);
  assert.ok((results[202] as Buffer).equals(big[0]!));
  assert.equal(results.slice(203, 403), Array.from({ length: 200 }, (_, i) => `v${i}`));
  assert.ok((results[403] as Buffer).equals(big[1]!));
});

test('a value one byte over the limit is -TOOLARGE naming the limit; the connection keeps working', async () => {
  await rejects(redis.set('too-big', Buffer.alloc(MAX_PUT_VALUE_BYTES + 1)), new RegExp(`TOOLARGE.*${MAX_PUT_VALUE_BYTES}`));
  assert.is(await redis.get('too-big'), null);
  assert.is(await redis.set('after', 'ok'), 'OK');
  assert.is(await redis.get('after'), 'ok');
  assert.ok((await redis.getBuffer('four'))!.equals(value(4 * MiB, 1)));
});

test.run();
