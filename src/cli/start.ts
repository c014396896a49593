// Runs on: the main thread. `ringkv start`: takes the data dir's lock, opens the store,
// serves it over RESP and admin HTTP, and on SIGINT/SIGTERM shuts down in order:
//
//   1. /readyz turns 503 (load balancers stop sending)
//   2. the RESP server stops accepting and lets commands already received finish and answer
//   3. the admin server closes
//   4. the store closes (each shard syncs and closes its WAL and engines)
//   5. the lock is released; exit 0
//
// A second signal during shutdown exits at once (status 1), as most servers do.
import type { Logger } from 'pino';
import type { RecoveryReport } from '../storage/index.js';
import { open, type Store } from '../index.js';
import { ClusterNode } from '../cluster/index.js';
import { startAdminServer, type AdminServer } from '../server/admin/index.js';
import { reservedFds, startRespServer, type RespServer } from '../server/resp/index.js';
import { CliError, CliErrorCode } from './cli-error.js';
import { takeDirLock, type DirLock } from './lock-file.js';
import { createLogger } from './logger.js';
import { resolveStartOptions, startHelp, optionsInto, type StartOptions } from './options.js';
import { ringkvVersion } from './version.js';

/** Shutdown taking longer than this (a wedged shard) ends the process with status 1. */
const SHUTDOWN_TIMEOUT_MS = 30_000;
/** After a clean shutdown, a handle something leaked must not keep the process up. */
const EXIT_GRACE_MS = 2000;
const SIGNALS = ['SIGINT', 'SIGTERM'] as const;
/** A cluster secret shorter than this is warned about: 16 random bytes (128 bits) resist guessing. */
const MIN_CLUSTER_SECRET_BYTES = 16;
/** A server sweeps pending hints to replicas that are up this often (besides when one comes back). */
const HANDOFF_INTERVAL_MS = 5000;

function isAddrInUse(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') return true;
  return false;
}

function portInUse(what: string, host: string, port: number, flag: string, env: string, err: unknown): CliError {
  return new CliError(
    CliErrorCode.PORT_IN_USE,
    `${what} port ${port} on ${host} is already in use (another ringkv or Redis?); choose another with --${flag} or ${env}`,
    { cause: err },
  );
}

/** The settings CONFIG GET reports (Redis-style names). */
function storeConfig(o: StartOptions): Record<string, string> {
  return {
    dir: o.dir,
    shards: String(o.shards),
    n: String(o.n),
    r: String(o.r),
    w: String(o.w),
    'sync-mode': o.syncMode,
    'memtable-bytes': String(o.memtableBytes),
    'block-cache-bytes': String(o.blockCacheBytes),
    'wal-recovery': o.walRecovery,
    'timeout-ms': String(o.timeoutMs),
  };
}

interface Running {
  lock: DirLock | undefined;
  store: Store;
  cluster: ClusterNode | undefined;
  resp: RespServer;
  admin: AdminServer;
}

async function bringUp(o: StartOptions, log: Logger, draining: () => boolean): Promise<Running> {
  // A single-host server's lock is taken (and released at close) by open(); a cluster
  // node's shards are opened by ClusterNode, so the lock is taken here.
  const lock: DirLock | undefined = o.nodeId === undefined ? undefined : takeDirLock(o.dir);
  let store: Store | undefined;
  let cluster: ClusterNode | undefined;
  let resp: RespServer | undefined;
  const storage = optionsInto(o, 'storage');
  const quorum = optionsInto(o, 'quorum');
  try {
    if (o.nodeId === undefined) {
      store = await open({
        dir: o.dir,
        shards: o.shards,
        ...quorum,
        storage,
      });
    } else {
      try {
        cluster = await ClusterNode.start({
          id: o.nodeId,
          host: o.host,
          port: o.clusterPort,
          seeds: o.seeds,
          cluster: o.clusterName,
          secret: o.clusterSecret!,
          dc: o.dc,
          rack: o.rack,
          weight: o.weight,
          dir: o.dir,
          shards: o.shards,
          storage,
          defaults: {
            ...quorum, sloppy: true, maxSiblings: 64, lww: false, localDc: o.dc,
            ...(o.consistency === undefined ? {} : { level: o.consistency }),
          },
          handoffIntervalMs: HANDOFF_INTERVAL_MS,
          cleanup: { delayMs: o.cleanupDelayMs },
          transfer: { bytesPerSecond: o.transferBytesPerSecond },
          gossip: { intervalMs: o.gossipIntervalMs, autoCommit: o.autoCommit, ...(o.replication === undefined ? {} : { replication: o.replication }) },
          ...(o.autoShards ? { autoShards: { minShards: o.minShards, maxShards: o.maxShards } } : {}),
          logger: log,
        });
      } catch (err) {
        throw isAddrInUse(err) ? portInUse('cluster', o.host, o.clusterPort, 'cluster-port', 'RINGKV_CLUSTER_PORT', err) : err;
      }
      store = cluster.store;
    }
    // Storage faults (descriptors exhausted, disk full, EIO) are logged once per cause and
    // replica, with the path; /readyz reports them while they last.
    store.onStorageFault((e) => {
      if (e.state === 'failing') log.error({ replica: e.replica, code: e.code, cause: e.message }, `storage of shard ${e.replica} failing: ${e.message}`);
      else log.info({ replica: e.replica, code: e.code }, `storage of shard ${e.replica} works again`);
    });
    // A table block that failed its checksum: one line per table, with its path.
    store.onTableDamage((replica, d, engine) => {
      if (engine === 'hints') {
        log.warn({ shard: replica, table: d.table, quarantinedAs: d.quarantinedAs, cause: d.error }, `shard ${replica}: hint table ${d.table} failed its checksum${d.quarantinedAs === undefined ? '' : `; quarantined as ${d.quarantinedAs}`}: hints it held may be lost (anti-entropy repairs the writes they carried)`);
      } else if (d.quarantinedAs !== undefined) {
        log.warn({ shard: replica, table: d.table, quarantinedAs: d.quarantinedAs, cause: d.error }, `shard ${replica}: table ${d.table} failed its checksum; quarantined as ${d.quarantinedAs} and the shard marked for repair (anti-entropy restores its records from the other replicas)`);
      } else {
        log.error({ shard: replica, table: d.table, cause: d.error }, `shard ${replica}: table ${d.table} failed its checksum (${d.error}); kept in service with N=1 (no replica to repair from): the keys of its damaged block answer ERR_CORRUPTION until the file is restored from a backup`);
      }
    });
    // A shard salvaged by --wal-recovery skip-damaged, restored by anti-entropy: one line.
    store.onRepaired((replica, partitions) => log.info({ shard: replica, partitions }, `shard ${replica} repaired: anti-entropy exchanged its ${partitions} partitions with healthy replicas; NEEDS_REPAIR removed`));
    try {
      resp = await startRespServer(store, {
        host: o.host,
        port: o.port,
        ...(o.requirepass === undefined ? {} : { requirepass: o.requirepass }),
        flushdbEnabled: o.allowFlushdb,
        maxclients: o.maxclients,
        reservedFds: reservedFds(o.maxShards > o.shards && o.autoShards ? o.maxShards : o.shards),
        queryBufferLimit: o.clientQueryBufferLimit,
        maxmemoryClients: o.maxmemoryClients,
        scriptTimeLimitMs: o.busyReplyThreshold,
        log,
        // CONFIG GET/SET loglevel speaks Redis's words; pino's levels below them.
        logLevel: ({ trace: 'debug', debug: 'debug', info: 'notice', silent: 'nothing' } as Record<string, string>)[o.logLevel] ?? 'warning',
        setLogLevel: (level) => (log.level = level),
        storeConfig: storeConfig(o),
        version: ringkvVersion(),
      });
    } catch (err) {
      throw isAddrInUse(err) ? portInUse('RESP', o.host, o.port, 'port', 'RINGKV_PORT', err) : err;
    }
    let admin: AdminServer;
    try {
      admin = await startAdminServer(store, {
        host: o.adminHost, port: o.adminPort, n: o.n, needed: Math.max(o.r, o.w), draining, log, credentials: [o.requirepass, o.clusterSecret], latency: resp.latency,
        ...(cluster === undefined ? {} : { cluster: cluster.admin(o.clusterSecret!) }),
      });
    } catch (err) {
      throw isAddrInUse(err) ? portInUse('admin', o.adminHost, o.adminPort, 'admin-port', 'RINGKV_ADMIN_PORT', err) : err;
    }
    return { lock, store, cluster, resp, admin };
  } catch (err) {
    await resp?.close().catch(() => {});
    await store?.close().catch(() => {});
    lock?.release();
    throw err;
  }
}

/**
 * One line per damaged WAL segment the shards' recovery met: info for a torn tail (dropped,
 * normal after a crash), warn for damage skipped by --wal-recovery skip-damaged (the shard
 * needs repair). Stats that cannot be read are not worth failing a start for.
 */
async function logRecovery(store: Store, log: Logger): Promise<void> {
  let shards: readonly unknown[];
  try {
    shards = (await store.stats()).shards ?? [];
  } catch {
    return;
  }
  shards.forEach((entry, i) => {
    const s = entry as { id?: string; data?: { recovery?: RecoveryReport }; hints?: { recovery?: RecoveryReport } };
    for (const engine of ['data', 'hints'] as const) {
      const r = s[engine]?.recovery;
      if (r === undefined) continue;
      for (const line of r.damage) {
        const fields = { shard: s.id ?? `s${i}`, engine, needsRepair: r.needsRepair };
        if (line.includes(': torn tail: ')) log.info(fields, `WAL recovery: ${line}`);
        else log.warn(fields, `WAL recovery: ${line}`);
      }
    }
  });
}

async function shutDown(r: Running, log: Logger): Promise<void> {
  await r.resp.close();
  log.debug('RESP server closed');
  await r.admin.close();
  await r.store.close();
  log.debug('store closed');
  r.lock?.release();
}

export async function start(argv: readonly string[]): Promise<number> {
  const args = resolveStartOptions(argv, process.env);
  if (args.help) {
    process.stdout.write(startHelp());
    return 0;
  }
  const o = args.options;
  const log = createLogger(o.logLevel);
  if (o.clusterSecret !== undefined && Buffer.byteLength(o.clusterSecret) < MIN_CLUSTER_SECRET_BYTES) {
    log.warn(
      { bytes: Buffer.byteLength(o.clusterSecret), minimum: MIN_CLUSTER_SECRET_BYTES },
      `the cluster secret is shorter than ${MIN_CLUSTER_SECRET_BYTES} bytes: it can be guessed; use a random one (e.g. openssl rand -hex 32)`,
    );
  }

  // Signals are taken from the start: one that arrives while the store opens shuts down
  // as soon as it is open (the default action would leave the lock and the WAL unclosed).
  let signalled: (signal: string) => void = () => {};
  let pendingSignal: string | undefined;
  let draining = false;
  const stopRequested = new Promise<string>((resolve) => {
    signalled = resolve;
  });
  const onSignal = (signal: NodeJS.Signals): void => {
    if (pendingSignal !== undefined) {
      log.warn({ signal }, 'second signal: exiting without a clean shutdown');
      process.exit(1);
    }
    pendingSignal = signal;
    signalled(signal);
  };
  for (const s of SIGNALS) process.on(s, onSignal);

  let running: Running;
  try {
    running = await bringUp(o, log, () => draining);
  } catch (err) {
    for (const s of SIGNALS) process.off(s, onSignal);
    throw err;
  }
  await logRecovery(running.store, log);
  if (running.admin.authRequired) {
    log.info({ adminHost: o.adminHost }, `the admin port on ${o.adminHost} is not loopback: every request but /livez and /readyz needs the RESP password or the cluster secret (Authorization: Bearer <it>, or basic auth with it as the password)`);
  }
  const resp = `${o.host}:${running.resp.port}`;
  const admin = `http://${o.adminHost}:${running.admin.port}`;
  log.info(
    { resp, respPort: running.resp.port, admin, adminPort: running.admin.port, dir: o.dir, shards: o.shards, n: o.n, r: o.r, w: o.w, syncMode: o.syncMode },
    `ringkv ready: RESP on ${resp}, admin on ${admin}, data in ${o.dir}`,
  );

  const signal = await stopRequested;
  draining = true;
  log.info({ signal }, 'shutting down');
  const timer = setTimeout(() => {
    log.error({ timeoutMs: SHUTDOWN_TIMEOUT_MS }, 'shutdown timed out; exiting');
    process.exit(1);
  }, SHUTDOWN_TIMEOUT_MS);
  timer.unref();
  await shutDown(running, log);
  clearTimeout(timer);
  log.info('stopped');
  setTimeout(() => process.exit(0), EXIT_GRACE_MS).unref();
  return 0;
}
