// Hinted handoff replays a replica's hints at a bounded rate: a replica back from a long
// outage is not flooded while it serves clients. Every hint still arrives, and is deleted
// from its holder once delivered.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Handoff, InProcessTransport } from '../../src/coordinator/index.js';
import { createTokenHasher } from '../../src/hash/index.js';
import { FrameType } from '../../src/protocol/index.js';
import { Replica } from '../../src/shard/replica.js';
import { MemoryEngine } from '../../src/storage/index.js';
import { coordinatePut, encodeObject, EMPTY_CLOCK } from '../../src/version/index.js';

const hasher = await createTokenHasher();

async function withHints(count: number, valueBytes: number): Promise<{ transport: InProcessTransport; ids: string[]; data: MemoryEngine }> {
  const ids = ['s0', 's1'];
  const replicas = new Map<string, Replica>();
  let data!: MemoryEngine;
  for (const [i, id] of ids.entries()) {
    const engines = { data: await MemoryEngine.open(), hints: await MemoryEngine.open() };
    if (id === 's0') data = engines.data;
    replicas.set(id, new Replica({ replica: i + 1, epoch: 1 }, engines));
  }
  const transport = new InProcessTransport(replicas);
  for (let k = 0; k < count; k++) {
    const key = new TextEncoder().encode(`h${k}`);
    const t = hasher.token(key);
    const obj = coordinatePut(undefined, EMPTY_CLOCK, { replica: 2, epoch: 1 }, { value: new Uint8Array(valueBytes).fill(k), writtenAt: Date.now(), expiresAt: 0 }, { maxSiblings: 64, lww: false });
    const reply = await transport.request('s1', { type: FrameType.HINT, target: 's0', hi: Number(t >> 32n), lo: Number(t & 0xffffffffn), key, object: encodeObject(obj) }, 1000);
    assert.is(reply.type, FrameType.ACK);
  }
  return { transport, ids, data };
}

test('a throttled replay delivers every hint, no faster than its rate', async () => {
  const { transport, ids, data } = await withHints(40, 5000); // ~200 KB of hints
  const handoff = new Handoff(transport, () => ids, 1000, 100_000); // 100 KB/s
  const t0 = performance.now();
  assert.is(await handoff.deliverTo('s0'), 40);
  const took = performance.now() - t0;
  assert.ok(took >= 1500, `200 KB at 100 KB/s took only ${took.toFixed(0)} ms`);
  for (let k = 0; k < 40; k++) assert.ok(data.get(new TextEncoder().encode(`h${k}`)) !== undefined, `h${k} delivered`);
  const left = await transport.request('s1', { type: FrameType.HINTS_FOR, target: 's0', max: 100 }, 1000);
  assert.equal(left.type === FrameType.HINTS ? left.hints.length : -1, 0, 'the holder deleted what was delivered');
});

test('without a limit (0) the same replay delivers everything too', async () => {
  const { transport, ids } = await withHints(40, 5000);
  assert.is(await new Handoff(transport, () => ids, 1000, 0).deliverTo('s0'), 40);
});

test.run();
