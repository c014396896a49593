// Runs on: the main thread. The checks behind /readyz: the store is ready when every shard
// is up, no shard's storage is failing (descriptors exhausted, disk full, EIO: the engines'
// `ioFault`, cleared once writes succeed again), and the server is not shutting down. Reported as Kubernetes' own health endpoints
// report (`[+]name ok` / `[-]name failed: why`), with `?verbose` listing every check.
import type { StoreStats } from '../../index.js';

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

export function readinessChecks(replicas: StoreStats['replicas'], draining: boolean, shards: readonly unknown[] = []): Check[] {
  const checks: Check[] = [draining ? { name: 'serving', ok: false, reason: 'shutting down' } : { name: 'serving', ok: true }];
  for (const r of replicas) checks.push(r.up ? { name: `shard ${r.id}`, ok: true } : { name: `shard ${r.id}`, ok: false, reason: 'down' });
  for (const s of shards as readonly ShardFigures[]) {
    const fault = s?.data?.ioFault ?? s?.hints?.ioFault;
    const name = `storage ${s?.id ?? '?'}`;
    checks.push(fault === undefined ? { name, ok: true } : { name, ok: false, reason: fault.message ?? 'failing' });
  }
  return checks;
}

/** The body of /readyz: `ok` or the failed checks; every check when verbose. */
export function renderChecks(checks: readonly Check[], verbose: boolean): string {
  const ok = checks.every((c) => c.ok);
  const lines = checks.filter((c) => verbose || !c.ok).map((c) => (c.ok ? `[+]${c.name} ok` : `[-]${c.name} failed: ${c.reason ?? 'not ok'}`));
  lines.push(ok ? 'readyz check passed' : 'readyz check failed');
  return lines.join('\n') + '\n';
}
