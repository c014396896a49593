// One simulated cluster run and its checker. Clients read and write a few hot keys through
// random nodes' coordinators (the real Coordinator and Handoff, the real Replica over
// memory engines, real frames) while partitions, message loss and crashes come and go; then
// the faults stop, hinted handoff and read repair run, and the history is checked:
//
// - no acknowledged write lost: each acknowledged value is still a sibling of its key, or a
//   write whose context saw it (acknowledged or not: it may have been applied) superseded it;
// - nothing deleted or overwritten comes back: no value that an acknowledged write's
//   context saw is still there (unless the value has two versions: a coordinator that timed
//   out asked the next primary to coordinate it again, and the context saw only one);
// - replicas converge: every primary of a key holds the same object.
//
// With `tombstoneGc`, anti-entropy (led from the first node) runs rounds all along, purging
// tombstones past a short virtual grace, and hints expire well before it: the same checks
// then show that a purge never brings a deleted or overwritten value back nor loses a write.
//
// Writes whose primaries a coordinator cannot reach are taken by stand-ins (PutOp), which
// keep them in their own data; range cleanup hands those to the primaries: here a cleanup
// pass (AntiEntropy.handOff of every range a node holds but does not replicate) runs before
// each anti-entropy round and once the faults have stopped.
import { createTokenHasher } from '../../../src/hash/index.js';
import { Coordinator, Handoff, type QuorumDefaults } from '../../../src/coordinator/index.js';
import { FrameType } from '../../../src/protocol/index.js';
import { Ring } from '../../../src/ring/index.js';
import { decodeObject, equalObjects, mergeAll, visibleSiblings, type VObject } from '../../../src/version/index.js';
import { SimNetwork, type NetworkOptions, type SimNode, type SimTransport } from './sim-network.js';
import { SimWorld } from './sim-world.js';
import { AntiEntropy } from '../../../src/repair/anti-entropy.js';

export interface SimConfig {
  nodes: number;
  n: number;
  r: number;
  w: number;
  keys: number;
  clients: number;
  /** Virtual ms of client load with faults. */
  faultyMs: number;
  network: NetworkOptions;
  /** Mean virtual ms between fault events (partition or crash). */
  faultEveryMs: number;
  /** Crashed nodes come back with empty disks (to prove the checker sees lost writes). */
  wipeOnCrash?: boolean;
  /** Skip the final read-repair pass: replicas must converge by hinted handoff alone. */
  hintsOnly?: boolean;
  /**
   * Anti-entropy rounds every `everyMs` with tombstone GC after `graceMs`; hints live
   * `hintMaxAgeMs` (virtual ms); a read is followed by a delete of what it saw with
   * probability `deleteAfterRead`.
   */
  tombstoneGc?: { graceMs: number; hintMaxAgeMs: number; everyMs: number; deleteAfterRead?: number };
}

export const DEFAULT_SIM: SimConfig = {
  nodes: 5, n: 3, r: 2, w: 2, keys: 6, clients: 4, faultyMs: 4000,
  network: { minDelayMs: 1, maxDelayMs: 8, dropRate: 0.01, detectMs: 40 },
  faultEveryMs: 300,
};

interface WriteRecord {
  key: string;
  /** null: a delete. */
  value: string | null;
  /** Values the read whose context this write carries returned (what it supersedes). */
  seen: readonly string[];
  acked: boolean;
}

export interface SimResult {
  seed: number;
  writes: number;
  acked: number;
  failed: number;
  reads: number;
  lost: string[];
  resurrected: string[];
  diverged: string[];
  siblingsSeen: number;
  faults: string[];
  /** Objects removed by tombstone GC (with `tombstoneGc`). */
  purged: number;
  /** Ranges stand-ins handed to the primaries and deleted (range cleanup). */
  handedOff: number;
}

const TIMEOUT_MS = 100;
/** Virtual clock start: the version codec stores real-looking timestamps. */
const EPOCH_MS = 1_800_000_000_000;
const decoder = new TextDecoder();

export async function runScenario(seed: number, cfg: SimConfig = DEFAULT_SIM): Promise<SimResult> {
  const world = new SimWorld(seed);
  const net = new SimNetwork(world, { ...cfg.network });
  const now = (): number => EPOCH_MS + world.now();
  if (cfg.tombstoneGc !== undefined) net.replicaOptions = { hints: { maxAgeMs: cfg.tombstoneGc.hintMaxAgeMs }, now };
  const nodes: SimNode[] = [];
  for (let i = 0; i < cfg.nodes; i++) nodes.push(await net.addNode(`n${i + 1}`));
  const ring = Ring.build(nodes.map((x) => ({ id: x.member, host: x.id, rack: 'r', dc: 'dc', weight: 1 })), 16);
  const hasher = await createTokenHasher();
  const defaults: QuorumDefaults = { n: cfg.n, r: cfg.r, w: cfg.w, timeoutMs: TIMEOUT_MS, sloppy: true, maxSiblings: 64, lww: false };
  const coordinators = new Map<SimNode, Coordinator>();
  const transports = new Map<SimNode, SimTransport>();
  for (const node of nodes) {
    const t = net.transportOf(node);
    transports.set(node, t);
    coordinators.set(node, new Coordinator(() => ring, t, hasher, defaults, now));
    const handoff = new Handoff(t, () => ring.members.map((m) => m.id), TIMEOUT_MS);
    t.onUp((replica) => void handoff.deliverTo(replica));
    const sweep = (): void => {
      if (!node.crashed) void handoff.sweep();
      world.schedule(500, sweep);
    };
    world.schedule(500 + node.index * 37, sweep);
  }

  const writes: WriteRecord[] = [];
  const result: SimResult = { seed, writes: 0, acked: 0, failed: 0, reads: 0, lost: [], resurrected: [], diverged: [], siblingsSeen: 0, faults: [], purged: 0, handedOff: 0 };

  // Range cleanup: stand-ins' copies handed to the primaries (led from the first node).
  const cleaner = new AntiEntropy(() => ring, transports.get(nodes[0]!)!, {
    n: cfg.n, intervalMs: 0, timeoutMs: TIMEOUT_MS, partitionPauseMs: 0, bytesPerSecond: 0, purgeTombstones: false, now,
    clockSkewMs: 0, // one virtual clock
  });
  const cleanupPass = async (): Promise<void> => {
    for (const node of nodes) {
      for (let p = 0; p < ring.q; p++) {
        if (ring.listOf(p, cfg.n).includes(node.member) || node.crashed) continue;
        const { from, to } = ring.partitionRange(p);
        let holds = false;
        for (const _ of node.replica.scanRange(from, to)) {
          holds = true;
          break;
        }
        if (holds) await cleaner.handOff(p, node.member).then(() => result.handedOff++, () => {});
      }
    }
  };

  // Anti-entropy with tombstone GC, led from the first node (skipped while it is down).
  let ae: AntiEntropy | undefined;
  let aeRound: Promise<unknown> = Promise.resolve();
  let aeOn = true;
  const gc = cfg.tombstoneGc;
  if (gc !== undefined) {
    const leader = nodes[0]!;
    ae = new AntiEntropy(() => ring, transports.get(leader)!, {
      n: cfg.n, intervalMs: 0, timeoutMs: TIMEOUT_MS, partitionPauseMs: 0, bytesPerSecond: 0,
      tombstoneGraceMs: gc.graceMs, purgeIntervalMs: 0, now,
    });
    const round = (): void => {
      if (!aeOn) return;
      if (!leader.crashed) aeRound = aeRound.then(cleanupPass).then(() => ae!.runOnce());
      world.schedule(gc.everyMs, round);
    };
    world.schedule(gc.everyMs, round);
  }
  const keys = Array.from({ length: cfg.keys }, (_, i) => `k${i}`);
  let loadOn = true;

  // Clients: each a sequential process with its own last read per key.
  for (let c = 0; c < cfg.clients; c++) {
    const lastRead = new Map<string, { values: string[]; context: Uint8Array }>();
    let i = 0;
    const step = (): void => {
      if (!loadOn) return;
      const alive = nodes.filter((x) => !x.crashed);
      if (alive.length === 0) {
        world.schedule(20, step);
        return;
      }
      const node = world.pick(alive);
      const coordinator = coordinators.get(node)!;
      const incarnation = node.incarnation;
      const key = world.pick(keys);
      const roll = world.random.next();
      const next = (): void => world.schedule(world.between(0, 20), step);
      if (roll < 0.4) {
        result.reads++;
        coordinator.get(enc(key)).then(
          (read) => {
            if (incarnation === node.incarnation) {
              const values = read?.values.map((v) => decoder.decode(v)) ?? [];
              if (values.length > 1) result.siblingsSeen++;
              lastRead.set(key, { values, context: read ? read.context.slice() : new Uint8Array(0) });
              // With tombstone GC, often delete what was just read: keys left tombstone-only, for GC to find.
              if (gc !== undefined && read !== undefined && world.chance(gc.deleteAfterRead ?? 0)) {
                const record: WriteRecord = { key, value: null, seen: values, acked: false };
                writes.push(record);
                coordinator.put(enc(key), null, { context: read.context.slice() }).then(
                  () => {
                    if (incarnation === node.incarnation) record.acked = true;
                    next();
                  },
                  () => next(),
                );
                return;
              }
            }
            next();
          },
          () => next(),
        );
        return;
      }
      const read = roll < 0.9 ? lastRead.get(key) : undefined; // 10% blind writes
      const isDelete = roll >= 0.8 && roll < 0.9;
      const value = isDelete ? null : `${key}=c${c}.${i++}`;
      const record: WriteRecord = { key, value, seen: read?.values ?? [], acked: false };
      writes.push(record);
      coordinator.put(enc(key), value === null ? null : enc(value), read ? { context: read.context } : {}).then(
        () => {
          if (incarnation === node.incarnation) record.acked = true;
          next();
        },
        () => next(),
      );
    };
    world.schedule(world.between(0, 10), step);
  }

  // Faults: partitions that heal, crashes that restart.
  const faults = (): void => {
    if (world.now() >= cfg.faultyMs) return;
    const roll = world.random.next();
    if (roll < 0.45) {
      const side = nodes.filter(() => world.chance(0.5));
      const other = nodes.filter((x) => !side.includes(x));
      for (const a of side) for (const b of other) net.cut(a, b);
      result.faults.push(`${world.now()}: cut [${side.map((x) => x.id)}] | [${other.map((x) => x.id)}]`);
      world.schedule(world.between(100, 1200), () => net.healAll());
    } else if (roll < 0.8) {
      const node = world.pick(nodes);
      if (!node.crashed) {
        net.crash(node);
        result.faults.push(`${world.now()}: crash ${node.id}`);
        world.schedule(world.between(50, 1000), () => void net.restart(node, cfg.wipeOnCrash === true));
      }
    }
    world.schedule(world.between(cfg.faultEveryMs / 2, (cfg.faultEveryMs * 3) / 2), faults);
  };
  world.schedule(cfg.faultEveryMs, faults);

  await world.runUntil(cfg.faultyMs);
  loadOn = false;
  net.healAll();
  net.stopDrops();
  for (const node of nodes) if (node.crashed) await net.restart(node, cfg.wipeOnCrash === true);
  // Hints flow back (onUp and sweeps), in-flight requests finish.
  await world.runUntil(cfg.faultyMs + 3000);
  // Read every key at R = N: read repair brings every primary up to the merge.
  const reader = coordinators.get(nodes[0]!)!;
  if (cfg.hintsOnly !== true) for (const key of keys) void reader.get(enc(key), { r: cfg.n }).catch(() => {});
  await world.runUntil(cfg.faultyMs + 4000);
  // Range cleanup on the healed cluster: what stand-ins took reaches the primaries.
  {
    let done = false;
    void cleanupPass().finally(() => (done = true));
    for (let t = world.now() + 100; !done; t += 100) await world.runUntil(t);
  }
  if (ae !== undefined) {
    // One last round on the healed cluster: every primary takes part, so what is old is purged everywhere.
    aeOn = false;
    let done = false;
    aeRound = aeRound.then(() => ae!.runOnce()).finally(() => (done = true));
    for (let t = cfg.faultyMs + 4000; !done; t += 100) await world.runUntil(t);
    await world.runUntil(world.now() + 500);
    result.purged = ae.stats().tombstonesPurged;
  }

  // Final state: each key's primaries, read straight from their replicas.
  const finalValues = new Map<string, string[]>();
  /** Per key, the values each primary holds (visible or not). */
  const held = new Map<string, { member: string; values: Set<string> }[]>();
  for (const key of keys) {
    const token = tokenOf(hasher, key);
    const primaries = ring.preferenceList(token.hi, token.lo, cfg.n);
    const objects: (VObject | undefined)[] = [];
    for (const member of primaries) {
      const node = net.nodeOf(member);
      const reply = node.replica.handleBatch([{ type: FrameType.GET, hi: token.hi, lo: token.lo, key: enc(key) }])[0]!;
      objects.push(reply.type === FrameType.OBJECT && reply.object.length > 0 ? decodeObject(reply.object.slice()) : undefined);
    }
    held.set(key, objects.map((o, j) => ({ member: primaries[j]!, values: new Set(o?.siblings.filter((x) => x.value !== null).map((x) => decoder.decode(x.value!)) ?? []) })));
    const first = objects[0];
    for (let j = 1; j < objects.length && cfg.hintsOnly !== true; j++) {
      const o = objects[j];
      const same = first === undefined || o === undefined ? first === o : equalObjects(first, o);
      if (!same) result.diverged.push(`${key}: ${primaries[0]} and ${primaries[j]} differ`);
    }
    const merged = mergeAll(objects);
    finalValues.set(key, visibleSiblings(merged, now()).map((s) => decoder.decode(s.value!)));
  }

  const supersededByAny = new Set<string>();
  const supersededByAcked = new Set<string>();
  for (const wr of writes) {
    for (const v of wr.seen) {
      supersededByAny.add(v);
      if (wr.acked) supersededByAcked.add(v);
    }
  }
  for (const wr of writes) {
    result.writes++;
    if (wr.acked) result.acked++;
    else result.failed++;
    if (!wr.acked || wr.value === null) continue;
    const present = finalValues.get(wr.key)!.includes(wr.value);
    if (!present && !supersededByAny.has(wr.value)) result.lost.push(wr.value);
    // Caught up: without read repair, hinted handoff alone must bring every acknowledged
    // value that nothing superseded to every primary of its key.
    if (cfg.hintsOnly === true && !supersededByAny.has(wr.value)) {
      for (const h of held.get(wr.key)!) if (!h.values.has(wr.value)) result.diverged.push(`${wr.value} missing on ${h.member}`);
    }
  }
  for (const [key, values] of finalValues) {
    // A value coordinated twice has two versions; a context may have seen only one of them.
    for (const v of values) if (supersededByAcked.has(v) && net.coordinations.get(v) === 1) result.resurrected.push(`${key}: ${v}`);
  }
  return result;
}

const encoder = new TextEncoder();
function enc(s: string): Uint8Array {
  return encoder.encode(s);
}

function tokenOf(hasher: Awaited<ReturnType<typeof createTokenHasher>>, key: string): { hi: number; lo: number } {
  const t = hasher.token(enc(key));
  return { hi: Number(t >> 32n), lo: Number(t & 0xffffffffn) };
}
