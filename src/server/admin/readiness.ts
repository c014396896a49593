// Runs on: the main thread. The checks behind /readyz: the store is ready when every shard
// is up and the server is not shutting down. Reported as Kubernetes' own health endpoints
// report (`[+]name ok` / `[-]name failed: why`), with `?verbose` listing every check.
import type { StoreStats } from '../../index.js';

export interface Check {
  name: string;
  ok: boolean;
  /** Why it failed, when it did. */
  reason?: string;
}

export function readinessChecks(replicas: StoreStats['replicas'], draining: boolean): Check[] {
  const checks: Check[] = [draining ? { name: 'serving', ok: false, reason: 'shutting down' } : { name: 'serving', ok: true }];
  for (const r of replicas) checks.push(r.up ? { name: `shard ${r.id}`, ok: true } : { name: `shard ${r.id}`, ok: false, reason: 'down' });
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
    const s = entry as { id?: unknown; data?: { recovery?: { needsRepair?: unknown } }; hints?: { recovery?: { needsRepair?: unknown } } };
    const engines = (['data', 'hints'] as const).filter((e) => s[e]?.recovery?.needsRepair === true);
    const name = `repair ${typeof s.id === 'string' ? s.id : `s${i}`}`;
    if (engines.length > 0) checks.push({ name, ok: false, reason: `WAL recovery skipped damaged records (${engines.join(', ')}; see /stats recovery): it may miss acknowledged writes until repaired` });
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
