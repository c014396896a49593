// INFO's counters are true: total_error_replies and errorstats count every error reply
// (EXEC's elements too), keyspace's db0 keys match DBSIZE and expires counts the keys
// with a TTL, memory reports the process and the shards' memtables.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Harness, RawClient, startHarness } from './resp-harness.js';

let h: Harness;
let c: RawClient;

test.before(async () => {
  h = await startHarness();
  c = await RawClient.open(h.port);
});

test.after(async () => {
  c.close();
  await h.close();
});

async function info(section?: string): Promise<Map<string, string>> {
  const text = (await (section === undefined ? c.call('INFO') : c.call('INFO', section))) as string;
  const fields = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) fields.set(line.slice(0, i), line.slice(i + 1));
  }
  return fields;
}

test('total_error_replies and errorstats count error replies by prefix, EXEC elements included', async () => {
  const before = Number((await info('stats')).get('total_error_replies'));
  await c.call('NOSUCH');
  await c.call('GET');
  await c.call('VSET', 'twin', 'a');
  await c.call('VSET', 'twin', 'b');
  await c.call('GET', 'twin'); // CONFLICT
  await c.call('MULTI');
  await c.call('SET', 'e', 'x');
  await c.call('INCR', 'e');
  await c.call('EXEC'); // one error element
  const stats = await info('stats');
  assert.is(Number(stats.get('total_error_replies')), before + 4);
  const errorstats = await info('errorstats');
  assert.is(errorstats.get('errorstat_CONFLICT'), 'count=1');
  assert.ok(Number(/count=(\d+)/.exec(errorstats.get('errorstat_ERR') ?? '')?.[1]) >= 3, String(errorstats.get('errorstat_ERR')));
});

test('keyspace: db0 keys match DBSIZE, expires counts the keys with a TTL, avg_ttl in ms', async () => {
  await c.call('DEL', 'twin', 'e');
  for (let i = 0; i < 10; i++) await c.call('SET', `k${i}`, 'v');
  for (let i = 0; i < 3; i++) await c.call('SET', `t${i}`, 'v', 'EX', '1000');
  await c.call('SET', 'gone', 'v');
  await c.call('DEL', 'gone');
  const dbsize = await c.call('DBSIZE');
  assert.is(dbsize, 13);
  const db0 = (await info('keyspace')).get('db0') ?? '';
  const m = /^keys=(\d+),expires=(\d+),avg_ttl=(\d+)$/.exec(db0);
  assert.ok(m !== null, db0);
  assert.is(Number(m![1]), 13);
  assert.is(Number(m![2]), 3);
  assert.ok(Number(m![3]) > 990_000 && Number(m![3]) <= 1_000_000, m![3]);
  // The default INFO has the same line.
  assert.match((await info()).get('db0') ?? '', /^keys=13,expires=3,avg_ttl=\d+$/);
});

test('memory: used memory, RSS and the shards\' memtables', async () => {
  const mem = await info('memory');
  assert.ok(Number(mem.get('used_memory')) > 0);
  assert.ok(Number(mem.get('used_memory_rss')) > 0);
  assert.ok(/^[\d.]+[BKMGT]$/.test(mem.get('used_memory_human') ?? ''), mem.get('used_memory_human'));
  assert.ok(Number(mem.get('ringkv_memtable_bytes')) > 0, 'the keys written sit in memtables');
  assert.ok(mem.has('ringkv_shard_s0_memtable_bytes'));
  assert.is(mem.get('maxmemory_policy'), 'noeviction');
});

test.run();
