// Runs on: the main thread. The checks behind /readyz: this node can serve requests at its
// default consistency now. Ready when the server is not shutting down, every shard of THIS
// node is up, and enough replicas are reachable for the default quorum (R and W of N,
// fallbacks included: sloppy quorum). A peer being down does not make a node unready: a
// load balancer keeps sending it traffic through an ordinary single-node failure.
// Reported as Kubernetes' own health endpoints report (`[+]name ok` / `[-]name failed:
// why`), with `?verbose` listing every check.
import type { StoreStats } from '../../index.js';
import { nodeOf } from '../../ring/index.js';

export interface Check {
  name: string;
  ok: boolean;
  /** Why it failed, when it did. */
  reason?: string;
}

export interface ReadinessInput {
  /** Every ring member, up or not (StoreStats.replicas). */
  replicas: StoreStats['replicas'];
  draining: boolean;
  /** A cluster node's own id: only its shards are checked one by one. Absent: a single server (all shards are its own). */
  self?: string | undefined;
  /** Members that must be reachable for the default quorum (max of R and W). */
  needed: number;
}

export function readinessChecks(input: ReadinessInput): Check[] {
  const checks: Check[] = [input.draining ? { name: 'serving', ok: false, reason: 'shutting down' } : { name: 'serving', ok: true }];
  const own = input.self === undefined ? input.replicas : input.replicas.filter((r) => nodeOf(r.id) === input.self);
  for (const r of own) checks.push(r.up ? { name: `shard ${r.id}`, ok: true } : { name: `shard ${r.id}`, ok: false, reason: 'down' });
  const up = input.replicas.filter((r) => r.up).length;
  checks.push(up >= input.needed
    ? { name: 'quorum', ok: true }
    : { name: 'quorum', ok: false, reason: `${up} replica(s) reachable, the default quorum needs ${input.needed}` });
  return checks;
}

/** The body of /readyz: `ok` or the failed checks; every check when verbose. */
export function renderChecks(checks: readonly Check[], verbose: boolean): string {
  const ok = checks.every((c) => c.ok);
  const lines = checks.filter((c) => verbose || !c.ok).map((c) => (c.ok ? `[+]${c.name} ok` : `[-]${c.name} failed: ${c.reason ?? 'not ok'}`));
  lines.push(ok ? 'readyz check passed' : 'readyz check failed');
  return lines.join('\n') + '\n';
}
