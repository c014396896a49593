// MULTI/EXEC/DISCARD/WATCH/UNWATCH over real TCP: a raw client for exact replies, ioredis
// multi() and node-redis multi().exec() as users call them, redis-cli when it is installed.
import { spawn, spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
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

async function raw(): Promise<RawClient> {
  return RawClient.open(h.port);
}

test('commands queue (+QUEUED) and EXEC runs them in order, answering an array', async () => {
  const c = await raw();
  try {
    assert.is(await c.call('MULTI'), 'OK');
    assert.is(await c.call('SET', 'tx-a', '1'), 'QUEUED');
    assert.is(await c.call('INCR', 'tx-a'), 'QUEUED');
    assert.is(await c.call('GET', 'tx-a'), 'QUEUED');
    // Nothing ran yet.
    const other = await raw();
    assert.is(await other.call('GET', 'tx-a'), null);
    other.close();
    assert.equal(await c.call('EXEC'), ['OK', 2, '2']);
    assert.is(await c.call('GET', 'tx-a'), '2');
    // An empty transaction answers an empty array.
    assert.is(await c.call('MULTI'), 'OK');
    assert.equal(await c.call('EXEC'), []);
  } finally {
    c.close();
  }
});

test('a runtime error is one element of the EXEC array; the other commands still run', async () => {
  const c = await raw();
  try {
    await c.call('MULTI');
    await c.call('SET', 'tx-b', 'text');
    await c.call('INCR', 'tx-b');
    await c.call('SET', 'tx-b2', 'x', 'BADOPTION');
    await c.call('SET', 'tx-b3', 'y');
    assert.equal(await c.call('EXEC'), [
      'OK',
      { error: 'ERR value is not an integer or out of range' },
      { error: 'ERR syntax error' },
      'OK',
    ]);
    assert.is(await c.call('GET', 'tx-b3'), 'y');
  } finally {
    c.close();
  }
});

test('a command refused while queuing (unknown, wrong arity) makes EXEC answer EXECABORT and write nothing', async () => {
  const c = await raw();
  try {
    await c.call('MULTI');
    assert.is(await c.call('SET', 'tx-c', '1'), 'QUEUED');
    assert.equal(await c.call('NOSUCHCOMMAND', 'x'), { error: "ERR unknown command 'NOSUCHCOMMAND', with args beginning with: 'x'" });
    assert.is(await c.call('SET', 'tx-c2', '1'), 'QUEUED');
    assert.equal(await c.call('EXEC'), { error: 'EXECABORT Transaction discarded because of previous errors.' });
    assert.is(await c.call('GET', 'tx-c'), null);
    assert.is(await c.call('GET', 'tx-c2'), null);
    await c.call('MULTI');
    await c.call('SET', 'tx-c', '1');
    assert.equal(await c.call('GET'), { error: "ERR wrong number of arguments for 'get' command" });
    assert.equal(await c.call('EXEC'), { error: 'EXECABORT Transaction discarded because of previous errors.' });
    assert.is(await c.call('GET', 'tx-c'), null);
    // The connection is out of the transaction and works as before.
    assert.is(await c.call('SET', 'tx-c', 'after'), 'OK');
  } finally {
    c.close();
  }
});

test('DISCARD drops the queue; EXEC/DISCARD without MULTI, nested MULTI and WATCH inside MULTI are errors', async () => {
  const c = await raw();
  try {
    assert.equal(await c.call('EXEC'), { error: 'ERR EXEC without MULTI' });
    assert.equal(await c.call('DISCARD'), { error: 'ERR DISCARD without MULTI' });
    assert.is(await c.call('MULTI'), 'OK');
    assert.equal(await c.call('MULTI'), { error: 'ERR MULTI calls can not be nested' });
    assert.equal(await c.call('WATCH', 'tx-d'), { error: 'ERR WATCH inside MULTI is not allowed' });
    assert.is(await c.call('SET', 'tx-d', '1'), 'QUEUED');
    assert.is(await c.call('DISCARD'), 'OK');
    assert.is(await c.call('GET', 'tx-d'), null);
    // Neither error spoiled a transaction (Redis runs MULTI and WATCH at once, not queued).
    await c.call('MULTI');
    await c.call('MULTI');
    await c.call('SET', 'tx-d', '2');
    assert.equal(await c.call('EXEC'), ['OK']);
    assert.equal(await c.call('EXEC'), { error: 'ERR EXEC without MULTI' });
  } finally {
    c.close();
  }
});

test('WATCH: EXEC answers nil when another connection wrote a watched key, and runs nothing', async () => {
  const a = await raw();
  const b = await raw();
  try {
    await a.call('SET', 'tx-w', '1');
    assert.is(await a.call('WATCH', 'tx-w', 'tx-w-other'), 'OK');
    assert.is(await b.call('SET', 'tx-w', '2'), 'OK');
    await a.call('MULTI');
    await a.call('SET', 'tx-w', 'from-a');
    await a.call('SET', 'tx-w-side', 'from-a');
    assert.is(await a.call('EXEC'), null);
    assert.is(await a.call('GET', 'tx-w'), '2');
    assert.is(await a.call('GET', 'tx-w-side'), null);
    // EXEC forgot the watch: the next transaction runs.
    await a.call('MULTI');
    await a.call('SET', 'tx-w', 'from-a');
    assert.equal(await a.call('EXEC'), ['OK']);
  } finally {
    a.close();
    b.close();
  }
});

test('WATCH: EXEC runs when only other keys were written, and after UNWATCH', async () => {
  const a = await raw();
  const b = await raw();
  try {
    await a.call('SET', 'tx-x', '1');
    await a.call('WATCH', 'tx-x', 'tx-x-absent');
    await b.call('SET', 'tx-x-unrelated', '2');
    await b.call('GET', 'tx-x');
    await a.call('MULTI');
    await a.call('INCR', 'tx-x');
    assert.equal(await a.call('EXEC'), [2]);

    await a.call('WATCH', 'tx-x');
    await b.call('SET', 'tx-x', '10');
    assert.is(await a.call('UNWATCH'), 'OK');
    await a.call('MULTI');
    await a.call('INCR', 'tx-x');
    assert.equal(await a.call('EXEC'), [11]);

    // DISCARD forgets the watch too.
    await a.call('WATCH', 'tx-x');
    await b.call('SET', 'tx-x', '20');
    await a.call('MULTI');
    await a.call('DISCARD');
    await a.call('MULTI');
    await a.call('INCR', 'tx-x');
    assert.equal(await a.call('EXEC'), [21]);
  } finally {
    a.close();
    b.close();
  }
});

test('WATCH: a key created, deleted, or written past this server (the embedded store: another node) aborts EXEC', async () => {
  const a = await raw();
  const b = await raw();
  try {
    await a.call('WATCH', 'tx-y-new');
    await b.call('SET', 'tx-y-new', 'v');
    await a.call('MULTI');
    await a.call('GET', 'tx-y-new');
    assert.is(await a.call('EXEC'), null);

    await a.call('WATCH', 'tx-y-new');
    await b.call('DEL', 'tx-y-new');
    await a.call('MULTI');
    await a.call('GET', 'tx-y-new');
    assert.is(await a.call('EXEC'), null);

    await a.call('SET', 'tx-y', '1');
    await a.call('WATCH', 'tx-y');
    await h.store.put('tx-y', 'elsewhere', { overwrite: true });
    await a.call('MULTI');
    await a.call('SET', 'tx-y', 'mine');
    assert.is(await a.call('EXEC'), null);
    assert.is(await a.call('GET', 'tx-y'), 'elsewhere');

    // The connection's own write before MULTI counts too, as in Redis.
    await a.call('WATCH', 'tx-y');
    await a.call('SET', 'tx-y', 'own');
    await a.call('MULTI');
    await a.call('GET', 'tx-y');
    assert.is(await a.call('EXEC'), null);
  } finally {
    a.close();
    b.close();
  }
});

test('WATCH pipelined with MULTI and EXEC (as clients send it) sees the writes before it', async () => {
  const a = await raw();
  try {
    a.send('SET tx-p 5\r\nWATCH tx-p\r\nMULTI\r\nINCR tx-p\r\nEXEC\r\n');
    assert.equal(await a.replies(5), ['OK', 'OK', 'OK', 'QUEUED', [6]]);
  } finally {
    a.close();
  }
});

test('EXEC is isolated from other commands of this server on its keys: no reader sees it half-done', async () => {
  const a = await raw();
  const b = await raw();
  const STEPS = 40;
  try {
    for (let round = 0; round < 5; round++) {
      const key = `tx-iso-${round}`;
      await a.call('SET', key, '0');
      let tx = 'MULTI\r\n';
      for (let i = 0; i < STEPS; i++) tx += `INCR ${key}\r\n`;
      tx += 'EXEC\r\n';
      a.send(tx);
      // Reads from another connection while the transaction runs: before it or after it.
      const reads: Promise<unknown>[] = [];
      for (let i = 0; i < 5; i++) reads.push(b.call('GET', key));
      const seen = await Promise.all(reads);
      const replies = await a.replies(STEPS + 2);
      assert.equal(replies[STEPS + 1], Array.from({ length: STEPS }, (_, i) => i + 1));
      for (const v of seen) assert.ok(v === '0' || v === String(STEPS), `a reader saw ${String(v)}`);
    }
  } finally {
    a.close();
    b.close();
  }
});

test('ioredis multi(): exec answers [err, result] pairs; a queue-time error rejects with EXECABORT; watch aborts with null', async () => {
  const redis = new Redis({ port: h.port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
  const other = new Redis({ port: h.port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
  try {
    const r = await redis.multi().set('io-a', '1').incr('io-a').get('io-a').exec();
    assert.equal(r, [[null, 'OK'], [null, 2], [null, '2']]);

    const withError = await redis.multi().set('io-b', 'x').incr('io-b').exec();
    assert.is(withError![0]![1], 'OK');
    assert.match(String(withError![1]![0]), /not an integer/);

    await rejects(redis.multi().set('io-c', '1').call('NOSUCH').exec(), /EXECABORT/);
    assert.is(await redis.get('io-c'), null);

    await redis.set('io-w', '1');
    await redis.watch('io-w');
    await other.set('io-w', '2');
    const aborted = await redis.multi().set('io-w', '3').exec();
    assert.is(aborted, null);
    assert.is(await redis.get('io-w'), '2');

    // Optimistic locking as users write it: retry until EXEC goes through.
    await redis.set('io-counter', '0');
    const worker = async (c: Redis): Promise<void> => {
      for (let i = 0; i < 5; i++) {
        for (;;) {
          await c.watch('io-counter');
          const v = Number(await c.get('io-counter'));
          const done = await c.multi().set('io-counter', String(v + 1)).exec();
          if (done !== null) break;
        }
      }
    };
    await Promise.all([worker(redis), worker(other)]);
    assert.is(await redis.get('io-counter'), '10');
  } finally {
    redis.disconnect();
    other.disconnect();
  }
});

test('node-redis multi().exec(): results in order; WATCH then a write elsewhere throws WatchError', async () => {
  const client = createClient({ socket: { host: '127.0.0.1', port: h.port } });
  const other = createClient({ socket: { host: '127.0.0.1', port: h.port } });
  client.on('error', () => {});
  other.on('error', () => {});
  await client.connect();
  await other.connect();
  try {
    const r = await client.multi().set('nr-a', '1').incr('nr-a').get('nr-a').exec();
    assert.equal(r, ['OK', 2, '2']);
    await rejects(client.multi().set('nr-b', '1').addCommand(['NOSUCH']).exec(), /EXECABORT|unknown command 'NOSUCH'/);
    assert.is(await client.get('nr-b'), null);

    // WATCH needs an isolated connection in node-redis 5+/6 (a pool's or executeIsolated).
    await client.set('nr-w', '1');
    await client.watch('nr-w');
    await other.set('nr-w', '2');
    await rejects(client.multi().set('nr-w', '3').exec(), /WatchError|watched keys/i);
    assert.is(await client.get('nr-w'), '2');
  } finally {
    client.destroy();
    other.destroy();
  }
});

test('redis-cli: MULTI, SET, INCR, EXEC then GET (skipped when redis-cli is not installed)', async () => {
  if (spawnSync('redis-cli', ['--version']).error !== undefined) return;
  // Asynchronously: the server runs in this process, so a synchronous child would block it.
  const child = spawn('redis-cli', ['-p', String(h.port)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stdin.end('MULTI\nSET cli-t 1\nINCR cli-t\nEXEC\nGET cli-t\n');
  await new Promise((resolve) => child.on('close', resolve));
  assert.equal(out.trim().split('\n'), ['OK', 'QUEUED', 'QUEUED', 'OK', '2', '2']);
});

test.run();
