// Same-key order through the RESP server, now that blind writes (plain SET, MSET, INCR at the
// replica) do not wait for each other (KeyLocks): pipelines of mixed commands on a few hot
// keys from many connections answer exactly as a sequential model, shared counters count
// every increment once, and a shard killed in the middle of a pipeline fails exactly the
// commands it held, with an error that says so. Real ioredis clients, real shard threads.
import { Redis } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Random } from '../../src/storage/env/random.js';
import { type Harness, rejects, startHarness } from './resp-harness.js';

/** A seeded generator (mulberry32, src/storage/env/random.ts): the same pipelines every run. */
function prng(seed: number): () => number {
  const r = new Random(seed);
  return () => r.next();
}

type Cmd = [string, ...string[]];
type Answer = string | number | null | { error: string };

const NOT_INTEGER = 'ERR value is not an integer or out of range';

/** Redis's answers for the commands the test sends, over a Map: the sequential model. */
function model(db: Map<string, string>, [name, key, arg]: Cmd): Answer {
  const intOf = (): bigint | undefined => {
    const v = db.get(key!);
    if (v === undefined) return 0n;
    return /^(0|-?[1-9][0-9]*)$/.test(v) ? BigInt(v) : undefined;
  };
  switch (name) {
    case 'set':
      db.set(key!, arg!);
      return 'OK';
    case 'setnx-opt': // SET key value NX
      if (db.has(key!)) return null;
      db.set(key!, arg!);
      return 'OK';
    case 'get':
      return db.get(key!) ?? null;
    case 'del':
      return db.delete(key!) ? 1 : 0;
    case 'incr':
    case 'incrby': {
      const n = intOf();
      if (n === undefined) return { error: NOT_INTEGER };
      const sum = n + (name === 'incr' ? 1n : BigInt(arg!));
      db.set(key!, sum.toString());
      return Number(sum);
    }
    case 'append': {
      const v = (db.get(key!) ?? '') + arg!;
      db.set(key!, v);
      return v.length;
    }
    default:
      throw new Error(`the model has no ${name}`);
  }
}

/** A random command on one of `keys`: blind writes, read-modify-writes and reads mixed. */
function randomCommand(rand: () => number, keys: readonly string[], serial: number): Cmd {
  const key = keys[Math.floor(rand() * keys.length)]!;
  const r = rand();
  if (r < 0.2) return ['set', key, rand() < 0.5 ? String(Math.floor(rand() * 100)) : `v${serial}`];
  if (r < 0.4) return ['get', key];
  if (r < 0.6) return ['incr', key];
  if (r < 0.7) return ['incrby', key, String(Math.floor(rand() * 21) - 10)];
  if (r < 0.8) return ['del', key];
  if (r < 0.9) return ['setnx-opt', key, `n${serial}`];
  return ['append', key, 'x'];
}

/** Sends `cmds` as one pipeline; the answers in order, errors as { error }. */
async function pipeline(client: Redis, cmds: readonly Cmd[]): Promise<Answer[]> {
  const p = client.pipeline();
  for (const [name, key, arg] of cmds) {
    if (name === 'setnx-opt') p.set(key!, arg!, 'NX');
    else if (arg === undefined) p.call(name, key!);
    else p.call(name, key!, arg);
  }
  const results = (await p.exec())!;
  return results.map(([err, value]) => (err ? { error: (err as Error).message } : (value as Answer)));
}

async function withHarness(store: Parameters<typeof startHarness>[0], body: (h: Harness) => Promise<void>): Promise<void> {
  const h = await startHarness(store);
  try {
    await body(h);
  } finally {
    await h.close();
  }
}

for (const shape of [
  { name: 'N=1 on one shard', store: { shards: 1, n: 1, r: 1, w: 1 } },
  { name: 'N=2 R=W=2 on two shards', store: { shards: 2, n: 2, r: 2, w: 2 } },
]) {
  test(`pipelines on hot keys from many connections answer as a sequential model (${shape.name})`, async () => {
    await withHarness({ store: shape.store }, async (h) => {
      const CONNECTIONS = 8;
      const ROUNDS = 12;
      const PER_PIPELINE = 40;
      const HOT = ['hot:a', 'hot:b'];
      const clients = Array.from({ length: CONNECTIONS }, () => new Redis({ port: h.port, lazyConnect: true, maxRetriesPerRequest: 0 }));
      try {
        await Promise.all(clients.map((c) => c.connect()));
        const increments = new Map<string, number[]>(HOT.map((k) => [k, []]));
        await Promise.all(clients.map(async (client, c) => {
          const rand = prng(1000 + c);
          const own = [`c${c}:x`, `c${c}:y`];
          const db = new Map<string, string>();
          let serial = 0;
          for (let round = 0; round < ROUNDS; round++) {
            const cmds: Cmd[] = [];
            for (let i = 0; i < PER_PIPELINE; i++) {
              // A third of the commands increment a counter every connection shares.
              cmds.push(rand() < 0.33 ? ['incr', HOT[Math.floor(rand() * HOT.length)]!] : randomCommand(rand, own, serial++));
            }
            const answers = await pipeline(client, cmds);
            for (let i = 0; i < cmds.length; i++) {
              const cmd = cmds[i]!;
              if (HOT.includes(cmd[1]!)) {
                assert.type(answers[i], 'number', `connection ${c}: INCR ${cmd[1]} answered ${JSON.stringify(answers[i])}`);
                increments.get(cmd[1]!)!.push(answers[i] as number);
                continue;
              }
              assert.equal(answers[i], model(db, cmd), `connection ${c}, round ${round}, command ${i}: ${cmd.join(' ')}`);
            }
          }
          // The connection's own keys end as the model does.
          for (const key of own) assert.equal(await client.get(key), db.get(key) ?? null, `final ${key}`);
        }));
        // Every increment of a shared counter counted exactly once: the answers are 1..count.
        for (const [key, seen] of increments) {
          const sorted = [...seen].sort((a, b) => a - b);
          assert.equal(sorted, Array.from({ length: seen.length }, (_, i) => i + 1), `${key}: each increment answered a distinct count, none lost`);
          assert.is(Number(await clients[0]!.get(key)), seen.length, `${key} holds the number of increments`);
        }
      } finally {
        for (const c of clients) c.disconnect();
      }
    });
  });
}

test('an increment of a non-integer, of siblings and past 64 bits answers as Redis (and CONFLICT for siblings)', async () => {
  await withHarness({ store: { shards: 1, n: 1, r: 1, w: 1 } }, async (h) => {
    const client = new Redis({ port: h.port, maxRetriesPerRequest: 0 });
    try {
      await client.set('word', 'abc');
      await rejects(client.incr('word'), /value is not an integer or out of range/);
      await client.set('big', '9223372036854775807');
      await rejects(client.incr('big'), /increment or decrement would overflow/);
      await rejects(client.decrby('big', '-9223372036854775808'), /overflow/);
      assert.is(await client.get('big'), '9223372036854775807', 'a refused increment wrote nothing');
      // A TTL survives INCR.
      await client.set('ttl', '5', 'EX', '100');
      assert.is(await client.incrby('ttl', 10), 15);
      const left = await client.ttl('ttl');
      assert.ok(left > 0 && left <= 100, `the key keeps its TTL (${left})`);
      // Two concurrent values (VSET without a context makes a sibling): INCR refuses to pick one.
      await client.call('vset', 'sib', '1');
      await client.call('vset', 'sib', '2');
      await rejects(client.incr('sib'), /CONFLICT/);
    } finally {
      client.disconnect();
    }
  });
});

test('a shard killed in the middle of a pipeline fails only commands it held, with UNAVAILABLE or TIMEOUT; every acknowledged one survives', async () => {
  await withHarness({ store: { shards: 2, n: 1, r: 1, w: 1, timeoutMs: 15_000 } }, async (h) => {
    const client = new Redis({ port: h.port, maxRetriesPerRequest: 0 });
    try {
      // A long request timeout: the requests in flight to the killed shard fail at once (its
      // exit), and on a loaded machine the other shard must not time out while s0 restarts.
      const COUNT = 4000;
      const keys = Array.from({ length: COUNT }, (_, i) => `crash:${i}`);
      const p = client.pipeline();
      for (const k of keys) p.incr(k);
      const sent = p.exec();
      // Kill shard s0 while the pipeline's increments are in flight.
      await new Promise((r) => setTimeout(r, 2));
      await h.store.shards!.kill('s0');
      const answers = (await sent)!;
      await h.store.shards!.waitUp('s0', 30_000);
      // Increments sent once s0 was marked down went to a stand-in (sloppy quorum), which
      // keeps a hint for s0: hand the hints over before reading s0.
      await h.store.handoffNow();
      let failed = 0;
      for (let i = 0; i < COUNT; i++) {
        const [err, value] = answers[i]!;
        const stored = await client.get(keys[i]!);
        // Which shard holds the key: its only replica (N=1); an increment by 0 changes no value.
        const owner = (await h.store.increment(keys[i]!, 0n)).receipt.replicas[0];
        if (err) {
          failed++;
          assert.match((err as Error).message, /^(UNAVAILABLE|TIMEOUT|QUORUM)/, `a failed command says why: ${(err as Error).message}`);
          assert.ok(stored === null || stored === '1', `a failed increment was applied once or not at all (${stored})`);
          assert.is(owner, "s0", `only commands of the killed shard fail (${keys[i]} is on ${owner}: ${(err as Error).message})`);
        } else {
          assert.is(value, 1);
          assert.is(stored, '1', `an acknowledged increment of ${keys[i]} survived the crash`);
        }
      }
      assert.ok(failed < COUNT, 'the other shard answered its commands');
    } finally {
      client.disconnect();
    }
  });
});

test('the lone shard (the default on 2 cores) killed in the middle of pipelines: every SET and GET waits for its restart and succeeds', async () => {
  await withHarness({ store: { shards: 1, restartDelayMs: 300 } }, async (h) => {
    const clients = Array.from({ length: 4 }, () => new Redis({ port: h.port, maxRetriesPerRequest: 0 }));
    try {
      const COUNT = 2000;
      const sent = clients.map((client, c) => {
        const p = client.pipeline();
        for (let i = 0; i < COUNT; i++) p.set(`one:${c}:${i % 100}`, `v${i}`).get(`one:${c}:${i % 100}`);
        return p.exec();
      });
      // Kill it once the pipelines are being served: some commands are inside the shard then.
      while ((await h.store.stats()).puts < 1000) await new Promise((r) => setTimeout(r, 1));
      await h.store.shards!.kill('s0');
      const answers = await Promise.all(sent);
      const errors = answers.flatMap((a) => a!.filter(([err]) => err !== null).map(([err]) => (err as Error).message));
      assert.equal(errors.slice(0, 3), [], `${errors.length} of ${answers.length * COUNT * 2} commands failed`);
      for (let c = 0; c < clients.length; c++) {
        const a = answers[c]!;
        for (let i = 0; i < COUNT; i++) assert.is(a[2 * i + 1]![1], `v${i}`, `GET after SET in one pipeline reads it (${c}, ${i})`);
        // Each key's last SET is what the store holds after the crash.
        for (let k = 0; k < 100; k++) assert.is(await clients[c]!.get(`one:${c}:${k}`), `v${COUNT - 100 + k}`);
      }
      const s0 = ((await h.store.stats()).shards as { id: string; restarts: number }[]).find((s) => s.id === 's0')!;
      assert.is(s0.restarts, 1, 'the shard died and restarted during the pipelines');
    } finally {
      for (const c of clients) c.disconnect();
    }
  });
});

test.run();
