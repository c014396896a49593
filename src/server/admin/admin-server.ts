// Runs on: the main thread. The admin HTTP server (node:http): routes GET requests to the
// handlers of index.ts's table. Each request reads the store's stats; nothing here runs on
// the request path of the RESP server.
//
// Access: on a loopback address every read endpoint is open (only this machine reaches
// it). On any other address the server needs a credential to start (the RESP password or
// the cluster secret; without one it refuses, saying so), and every request but /livez and
// a plain /readyz (what load balancers probe; they say nothing about the data) must carry
// one of them: `Authorization: Bearer <credential>`, HTTP basic auth with it as the
// password (any user name), or the cluster secret in `x-ringkv-secret`. Others get 401.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Store } from '../../index.js';
import { ErrorCode, RingkvError } from '../../errors.js';
import type { ClusterAdmin } from '../../cluster/index.js';
import { isLoopback } from '../resp/index.js';
import { dashboardRoutes } from './dashboard/index.js';
import { latencyAnswer, type LatencySource, registerLatencyMetrics } from './latency-metrics.js';
import { StoreMetrics } from './metrics.js';
import { readinessChecks, renderChecks, repairChecks } from './readiness.js';
import { placementWarnings } from '../../ring/index.js';

/** Default admin port: the RESP default (6380) + 2000, so a second node on +1 pairs with +1. */
export const DEFAULT_ADMIN_PORT = 8380;
/** /ring without ?lists shows the preference lists of this many partitions: enough to eyeball. */
const RING_SAMPLE_PARTITIONS = 8;
/** close() waits this long for requests in progress (a slow scrape), then drops their sockets. */
const CLOSE_TIMEOUT_MS = 2000;

export interface AdminServerOptions {
  /** Address to listen on. Default '127.0.0.1'. */
  host?: string;
  /** TCP port; 0 = any free port (see AdminServer.port). Default DEFAULT_ADMIN_PORT. */
  port?: number;
  /** Replicas per key, for the preference lists of /ring. Default 3 (at most the shard count). */
  n?: number;
  /** Replicas /readyz needs reachable for the default quorum (max of R and W). Default: a majority of n (at most the ring's members). */
  needed?: number;
  /** True once the process is shutting down: /readyz then answers 503. */
  draining?: () => boolean;
  /** Where request failures are logged. Default: nowhere. */
  log?: Logger;
  /** A cluster node's membership view and commands (GET /cluster, POST /cluster/<command>). */
  cluster?: ClusterAdmin;
  /**
   * Credentials that open the port when it listens on a non-loopback address: the RESP
   * password and the cluster secret (undefined ones are ignored). Loopback: not needed.
   */
  credentials?: readonly (string | undefined)[];
  /** The RESP server's latency histograms, for /metrics (read on scrape). */
  latency?: LatencySource;
}

export interface AdminServer {
  /** The port listened on (the one chosen, for port 0). */
  readonly port: number;
  readonly address: string;
  /** Whether requests need a credential (a non-loopback address). */
  readonly authRequired: boolean;
  close(): Promise<void>;
}

const majority = (n: number): number => Math.floor(n / 2) + 1;

type Handler = (store: Store, url: URL, res: ServerResponse, req: IncomingMessage) => Promise<void>;

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value, null, 2) + '\n');
}

function routes(o: Required<Pick<AdminServerOptions, 'n' | 'draining'>> & Pick<AdminServerOptions, 'cluster' | 'needed' | 'latency'>, metrics: () => Promise<StoreMetrics>): Map<string, Handler> {
  const cluster = o.cluster;
  const latency = o.latency;
  return new Map<string, Handler>([
    ...(latency === undefined ? [] : [['/latency', async (_store, _url, res) => sendJson(res, 200, latencyAnswer(latency))] as [string, Handler]]),
    ...(cluster === undefined ? [] : clusterRoutes(cluster)),
    ...dashboardRoutes(),
    ['/livez', async (_store, _url, res) => send(res, 200, 'text/plain; charset=utf-8', 'ok\n')],
    [
      '/readyz',
      async (store, url, res) => {
        let replicas: { id: string; up: boolean }[];
        let shards: readonly unknown[] | undefined;
        try {
          ({ replicas, shards } = await store.stats());
        } catch (err) {
          // A cluster node without a ring yet (still joining) is alive but not ready.
          send(res, 503, 'text/plain; charset=utf-8', `not ready: ${(err as Error).message}\n`);
          return;
        }
        const self = cluster?.snapshot().self;
        const checks = readinessChecks({ replicas, draining: o.draining(), shards: shards === undefined ? [] : [...shards], self, needed: o.needed ?? majority(store.ring.listLength(o.n)) });
        if (!url.searchParams.getAll('exclude').includes('repair')) checks.push(...repairChecks(shards));
        const ok = checks.every((c) => c.ok);
        send(res, ok ? 200 : 503, 'text/plain; charset=utf-8', renderChecks(checks, url.searchParams.has('verbose')));
      },
    ],
    ['/metrics', async (_store, _url, res) => {
      const m = await metrics();
      send(res, 200, m.contentType, await m.render());
    }],
    ['/stats', async (store, _url, res) => sendJson(res, 200, await store.stats())],
    // The dashboard's anti-entropy backlog: ages of the last exchange per partition, compact.
    ['/anti-entropy', async (store, _url, res) => sendJson(res, 200, store.antiEntropy.exchangeAges())],
    [
      '/ring',
      async (store, url, res) => {
        const ring = store.ring;
        const n = ring.listLength(o.n);
        const shown = url.searchParams.has('lists') ? ring.q : Math.min(RING_SAMPLE_PARTITIONS, ring.q);
        const preferenceLists: Record<string, readonly string[]> = {};
        for (let p = 0; p < shown; p++) preferenceLists[p] = ring.listOf(p, n);
        const view = cluster?.snapshot();
        sendJson(res, 200, { ...ring.toJSON(), n, owned: Object.fromEntries(ring.counts()), preferenceLists, warnings: placementWarnings(ring, n), ...(view === undefined ? {} : { nodes: view.nodes, transfers: view.transfers }) });
      },
    ],
  ]);
}

/** POST /cluster/<command>: membership changes. */
const CLUSTER_COMMAND_PREFIX = '/cluster/';
const CLUSTER_COMMANDS = ['plan', 'commit', 'leave', 'remove', 'shards', 'cleanup', 'repair'] as const;

function clusterRoutes(cluster: ClusterAdmin): [string, Handler][] {
  const view: Handler = async (_store, _url, res) => sendJson(res, 200, cluster.snapshot());
  const commands = CLUSTER_COMMANDS.map((name): [string, Handler] => [
    `${CLUSTER_COMMAND_PREFIX}${name}`,
    async (_store, url, res, req) => {
      const secret = req.headers['x-ringkv-secret'];
      if (typeof secret !== 'string' || !cluster.authorized(secret)) {
        sendJson(res, 401, { error: 'membership commands need the cluster secret in the x-ringkv-secret header (ringkv cluster reads RINGKV_CLUSTER_SECRET)', code: 'ERR_UNAUTHORIZED' });
        return;
      }
      try {
        sendJson(res, 200, await cluster.command(name, url.searchParams));
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        sendJson(res, code === ErrorCode.INVALID_ARGUMENT || code === ErrorCode.NOT_READY ? 409 : 500, { error: (err as Error).message, code });
      }
    },
  ]);
  return [['/cluster', view], ...commands];
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** The credential a request carries (bearer token, basic-auth password, x-ringkv-secret), if any. */
function presented(req: IncomingMessage): string[] {
  const out: string[] = [];
  const auth = req.headers.authorization;
  if (typeof auth === 'string') {
    const m = /^(Bearer|Basic)\s+(.+)$/i.exec(auth.trim());
    if (m !== null && m[1]!.toLowerCase() === 'bearer') out.push(m[2]!);
    else if (m !== null) {
      const plain = Buffer.from(m[2]!, 'base64').toString('utf8');
      const colon = plain.indexOf(':');
      if (colon >= 0) out.push(plain.slice(colon + 1));
    }
  }
  const secret = req.headers['x-ringkv-secret'];
  if (typeof secret === 'string') out.push(secret);
  return out;
}

/** Paths open without a credential even when one is required: liveness and the plain readiness probe. */
function openPath(url: URL): boolean {
  return url.pathname === '/livez' || (url.pathname === '/readyz' && !url.searchParams.has('verbose'));
}

export async function startAdminServer(store: Store, options: AdminServerOptions = {}): Promise<AdminServer> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? DEFAULT_ADMIN_PORT;
  if (!Number.isSafeInteger(port) || port < 0 || port > 65535) {
    throw new RingkvError(ErrorCode.INVALID_ARGUMENT, `admin server port must be an integer in 0..65535, got ${String(port)}`);
  }
  const authRequired = !isLoopback(host);
  // Compared as SHA-256 digests in constant time: neither length nor content leaks by timing.
  const accepted = (options.credentials ?? []).filter((c): c is string => typeof c === 'string' && c !== '').map(digest);
  if (authRequired && accepted.length === 0) {
    throw new RingkvError(
      ErrorCode.INVALID_ARGUMENT,
      `refusing to serve the admin port on ${host} without a password: /stats, /ring and /metrics would be open to anyone ` +
        'who reaches it. Set --requirepass (or the cluster secret of a cluster node): requests then need it as a bearer ' +
        'token or basic-auth password. Or listen on 127.0.0.1 (--admin-host)',
    );
  }
  const authorized = (req: IncomingMessage): boolean => {
    for (const p of presented(req)) {
      const d = digest(p);
      if (accepted.some((a) => timingSafeEqual(a, d))) return true;
    }
    return false;
  };
  const cluster = options.cluster;
  // Made on the first scrape (prom-client is loaded then, not at start).
  let made: Promise<StoreMetrics> | undefined;
  const metrics = (): Promise<StoreMetrics> => made ??= StoreMetrics.create(store, cluster === undefined ? undefined : () => cluster.snapshot()).then((m) => {
    if (options.latency !== undefined) registerLatencyMetrics(m.registry, options.latency);
    return m;
  });
  const table = routes({ n: options.n ?? 3, draining: options.draining ?? (() => false), cluster, needed: options.needed, latency: options.latency }, metrics);
  const log = options.log;

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    if (authRequired && !openPath(url) && !authorized(req)) {
      res.setHeader('www-authenticate', 'Basic realm="ringkv admin", charset="UTF-8"');
      return sendJson(res, 401, { error: 'this admin port needs the RESP password or the cluster secret: Authorization: Bearer <it>, or basic auth with it as the password', code: 'ERR_UNAUTHORIZED' });
    }
    const handler = table.get(url.pathname);
    if (handler === undefined) return sendJson(res, 404, { error: 'not found', endpoints: [...table.keys()] });
    const post = url.pathname.startsWith(CLUSTER_COMMAND_PREFIX);
    if (post ? req.method !== 'POST' : req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', post ? 'POST' : 'GET, HEAD');
      return sendJson(res, 405, { error: 'method not allowed' });
    }
    handler(store, url, res, req).catch((err: unknown) => {
      log?.warn({ err, path: url.pathname }, 'admin request failed');
      if (!res.headersSent) sendJson(res, 500, { error: (err as Error).message, code: (err as { code?: unknown }).code });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(new RingkvError(ErrorCode.IO, `admin server cannot listen on ${host}:${port}: ${err.message}`, { cause: err })),
    );
    server.listen(port, host, () => resolve());
  });
  server.on('error', (err) => log?.warn({ err }, 'admin server error'));
  const addr = server.address();
  const listening = typeof addr === 'object' && addr !== null ? addr.port : port;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const timer = setTimeout(() => server.closeAllConnections(), CLOSE_TIMEOUT_MS);
    return stopped.finally(() => clearTimeout(timer));
  };
  return { port: listening, address: host, authRequired, close: () => (closing ??= close()) };
}
