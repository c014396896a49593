// Runs on: the main thread. The checks behind /readyz: this node can serve requests at its
// default consistency now. Ready when the server is not shutting down, every shard of THIS
// node is up and its storage is not failing (descriptors exhausted, disk full, EIO: the
// engines' `ioFault`, cleared once writes succeed again), and enough replicas are reachable
// for the default quorum (max of R and W, fallbacks included: sloppy quorum). A peer being
// down does not make a node unready: a load balancer keeps sending it traffic through an
// ordinary single-node failure. Reported as Kubernetes' own health endpoints report
// (`[+]name ok` / `[-]name failed: why`), with `?verbose` listing every check.
import type { StoreStats } from '../../index.js';
import { nodeOf } from '../../ring/index.js';

export interface Check {
  name: string;
  ok: boolean;
  /** Why it failed, when it did. */
  reason?: string;
}

/** The part of a shard's stats (StoreStats.shards) readiness reads. */
interface ShardFigures {
  id?: string;
  data?: { ioFault?: { message?: string } };
  hints?: { ioFault?: { message?: string } };
}

export interface ReadinessInput {
  /** Every ring member, up or not (StoreStats.replicas). */
  replicas: StoreStats['replicas'];
  draining: boolean;
  /** The shards' stats (StoreStats.shards): their storage faults. */
  shards?: readonly unknown[];
  /** A cluster node's own id: only its shards are checked one by one. Absent: a single server (all shards are its own). */
  self?: string | undefined;
  /** Members that must be reachable for the default quorum (max of R and W). */
  needed: number;
}

export function readinessChecks(input: ReadinessInput): Check[] {
  const checks: Check[] = [input.draining ? { name: 'serving', ok: false, reason: 'shutting down' } : { name: 'serving', ok: true }];
  const figures = new Map<string, ShardFigures>();
  for (const s of (input.shards ?? []) as readonly ShardFigures[]) if (typeof s?.id === 'string') figures.set(s.id, s);
  const own = input.self === undefined ? input.replicas : input.replicas.filter((r) => nodeOf(r.id) === input.self);
  for (const r of own) {
    const name = `shard ${r.id}`;
    const f = figures.get(r.id);
    const fault = f?.data?.ioFault ?? f?.hints?.ioFault;
    if (!r.up) checks.push({ name, ok: false, reason: 'down' });
    else if (fault !== undefined) checks.push({ name, ok: false, reason: `storage failing: ${fault.message ?? 'unknown error'}` });
    else checks.push({ name, ok: true });
  }
  const up = input.replicas.filter((r) => r.up).length;
  checks.push(up >= input.needed
    ? { name: 'quorum', ok: true }
    : { name: 'quorum', ok: false, reason: `${up} replica(s) reachable, the default quorum needs ${input.needed}` });
  return checks;
}

/**
 * One failed check per shard whose engines' last open skipped damaged WAL records
 * (walRecovery 'skip-damaged'): it may miss acknowledged writes, so it should not be read as
 * the sole replica until repaired. `/readyz?exclude=repair` leaves these checks out (as
 * Kubernetes' `exclude`), for an operator who accepts that.
 */
export function repairChecks(shards: readonly unknown[] | undefined): Check[] {
  const checks: Check[] = [];
  (shards ?? []).forEach((entry, i) => {
    const s = entry as {
      id?: unknown; repairMark?: { reasons?: unknown };
      data?: { recovery?: { needsRepair?: unknown } }; hints?: { recovery?: { needsRepair?: unknown } };
    };
    const engines = (['data', 'hints'] as const).filter((e) => s[e]?.recovery?.needsRepair === true);
    const name = `repair ${typeof s.id === 'string' ? s.id : `s${i}`}`;
    if (engines.length === 0) return;
    // A quarantined table (tableDamage, docs/storage.md) marks the shard too: say which cause.
    const reasons = Array.isArray(s.repairMark?.reasons) ? (s.repairMark.reasons as unknown[]) : [];
    const table = reasons.some((r) => typeof r === 'string' && r.startsWith('data: table '));
    const wal = reasons.length === 0 || reasons.some((r) => typeof r === 'string' && !r.startsWith('data: table '));
    const causes = [
      ...(wal ? [`WAL recovery skipped damaged records (${engines.join(', ')}; see /stats recovery)`] : []),
      ...(table ? ['a data table failed its checksum and was quarantined (see /stats repairMark, data.damagedTables)'] : []),
    ];
    checks.push({ name, ok: false, reason: `${causes.join('; ')}: it may miss acknowledged writes until repaired` });
  });
  return checks;
}

/** The body of /readyz: `ok` or the failed checks; every check when verbose. */
export function renderChecks(checks: readonly Check[], verbose: boolean): string {
  const ok = checks.every((c) => c.ok);
  const lines = checks.filter((c) => verbose || !c.ok).map((c) => (c.ok ? `[+]${c.name} ok` : `[-]${c.name} failed: ${c.reason ?? 'not ok'}`));
  lines.push(ok ? 'readyz check passed' : 'readyz check failed');
  return lines.join('\n') + '\n';
}
