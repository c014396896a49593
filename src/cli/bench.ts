// Runs on: the main thread. `ringkv bench`: a small load generator against a running
// server over RESP (raw sockets: no client library), printing one redis-benchmark-like
// line per test:
//
//   SET: 41234.56 requests per second, p50=0.615 msec, p99=1.807 msec
//
// Each of --clients connections keeps --pipeline requests in flight; latency is from
// writing a request to reading its reply (so with pipelining it includes queueing).
import { connect, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { CliError, CliErrorCode, usage } from './cli-error.js';
import { DEFAULT_RESP_PORT } from './options.js';

const TESTS = ['set', 'get', 'ping'] as const;
type TestName = (typeof TESTS)[number];

/** redis-benchmark's defaults: 50 clients, 100000 requests, 3-byte values, keyspace of 100000 with -r. */
const DEFAULTS = { clients: 50, requests: 100_000, dataSize: 3, pipeline: 1, keyspace: 100_000 };
/** A connection that cannot be made in this long means the server is not there. */
const CONNECT_TIMEOUT_MS = 5000;

export const BENCH_HELP = `Usage: ringkv bench [options]

Loads a running ringkv (or any Redis) server over RESP and prints requests per second and
p50/p99 latency per test, like redis-benchmark.

  -h, --host <addr>       Server address. default: 127.0.0.1
  -p, --port <port>       Server port. default: ${DEFAULT_RESP_PORT}
  -a, --password <pass>   AUTH with this password. default: none; env: RINGKV_REQUIREPASS
  -c, --clients <n>       Parallel connections. default: ${DEFAULTS.clients}
  -n, --requests <n>      Requests per test. default: ${DEFAULTS.requests}
  -d, --data-size <n>     SET value size in bytes. default: ${DEFAULTS.dataSize}
  -P, --pipeline <n>      Requests in flight per connection. default: ${DEFAULTS.pipeline}
  -r, --keyspace <n>      Distinct random keys (key:000000012345). default: ${DEFAULTS.keyspace}
  -t, --tests <list>      Comma-separated tests: ${TESTS.join(', ')}. default: set,get
      --help              Show this help
`;

interface BenchOptions {
  host: string;
  port: number;
  password: string | undefined;
  clients: number;
  requests: number;
  dataSize: number;
  pipeline: number;
  keyspace: number;
  tests: TestName[];
}

export interface BenchResult {
  test: string;
  requests: number;
  errors: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
}

function positive(name: string, raw: string | undefined, fallback: number, min = 1): number {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isSafeInteger(v) || v < min) throw usage(`--${name}: expected an integer >= ${min}, got "${raw}"`);
  return v;
}

function parse(argv: readonly string[]): BenchOptions | undefined {
  let v: Record<string, string | boolean | undefined>;
  try {
    v = parseArgs({
      args: [...argv],
      options: {
        host: { type: 'string', short: 'h' },
        port: { type: 'string', short: 'p' },
        password: { type: 'string', short: 'a' },
        clients: { type: 'string', short: 'c' },
        requests: { type: 'string', short: 'n' },
        'data-size': { type: 'string', short: 'd' },
        pipeline: { type: 'string', short: 'P' },
        keyspace: { type: 'string', short: 'r' },
        tests: { type: 'string', short: 't' },
        help: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    throw usage(`${(err as Error).message} (see ringkv bench --help)`);
  }
  if (v.help === true) return undefined;
  const str = (k: string): string | undefined => (typeof v[k] === 'string' ? (v[k] as string) : undefined);
  const tests = (str('tests') ?? 'set,get').split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== '');
  for (const t of tests) if (!(TESTS as readonly string[]).includes(t)) throw usage(`--tests: unknown test "${t}" (known: ${TESTS.join(', ')})`);
  const port = positive('port', str('port'), DEFAULT_RESP_PORT);
  if (port > 65535) throw usage(`--port: expected at most 65535, got ${port}`);
  return {
    host: str('host') ?? '127.0.0.1',
    port,
    password: str('password') ?? (process.env.RINGKV_REQUIREPASS || undefined),
    clients: positive('clients', str('clients'), DEFAULTS.clients),
    requests: positive('requests', str('requests'), DEFAULTS.requests),
    dataSize: positive('data-size', str('data-size'), DEFAULTS.dataSize, 0),
    pipeline: positive('pipeline', str('pipeline'), DEFAULTS.pipeline),
    keyspace: positive('keyspace', str('keyspace'), DEFAULTS.keyspace),
    tests: tests as TestName[],
  };
}

function command(args: readonly string[]): string {
  let s = `*${args.length}\r\n`;
  for (const a of args) s += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
  return s;
}

/**
 * Length of the complete reply at buf[at..] (0 if incomplete), and whether it is an error.
 * Handles the replies of the benchmarked commands: simple, error, integer, bulk, null.
 */
function replyLength(buf: Buffer, at: number): { length: number; error: boolean } {
  const nl = buf.indexOf('\r\n', at);
  if (nl < 0) return { length: 0, error: false };
  const type = buf[at];
  if (type === 0x24 /* $ */) {
    const len = Number(buf.toString('latin1', at + 1, nl));
    if (len < 0) return { length: nl + 2 - at, error: false };
    const end = nl + 2 + len + 2;
    return end <= buf.length ? { length: end - at, error: false } : { length: 0, error: false };
  }
  return { length: nl + 2 - at, error: type === 0x2d /* - */ };
}

function open(o: BenchOptions): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: o.host, port: o.port, noDelay: true });
    socket.setTimeout(CONNECT_TIMEOUT_MS, () => socket.destroy(new Error('timed out')));
    socket.once('error', (err) =>
      reject(new CliError(CliErrorCode.UNREACHABLE, `cannot connect to ${o.host}:${o.port} (${err.message}); is ringkv running? set --host/--port`, { cause: err })),
    );
    socket.once('connect', () => {
      socket.setTimeout(0);
      resolve(socket);
    });
  });
}

/** Sends `cmd` and waits for its one reply; rejects on an error reply. */
function roundTrip(socket: Socket, cmd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      const r = replyLength(buf, 0);
      if (r.length === 0) return;
      socket.off('data', onData);
      const text = buf.toString('utf8', 0, r.length).trim();
      if (r.error) reject(new CliError(CliErrorCode.UNREACHABLE, `server answered ${text}`));
      else resolve(text);
    };
    socket.on('data', onData);
    socket.write(cmd);
  });
}

function key(o: BenchOptions): string {
  return `key:${String(Math.floor(Math.random() * o.keyspace)).padStart(12, '0')}`;
}

/** Runs one test: `o.requests` requests over `o.clients` connections. */
async function runTest(o: BenchOptions, test: TestName, sockets: Socket[]): Promise<BenchResult> {
  const value = 'x'.repeat(o.dataSize);
  const make = (): string => (test === 'set' ? command(['SET', key(o), value]) : test === 'get' ? command(['GET', key(o)]) : command(['PING']));
  const latencies = new Float64Array(o.requests);
  let issued = 0;
  let done = 0;
  let errors = 0;
  const started = performance.now();
  await Promise.all(
    sockets.map(
      (socket) =>
        new Promise<void>((resolve, reject) => {
          const sentAt: number[] = [];
          let head = 0;
          let buf: Buffer = Buffer.alloc(0);
          const send = (): void => {
            let batch = '';
            while (sentAt.length - head < o.pipeline && issued < o.requests) {
              issued++;
              batch += make();
              sentAt.push(performance.now());
            }
            if (batch !== '') socket.write(batch);
            if (sentAt.length === head) finish();
          };
          const onData = (d: Buffer): void => {
            buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
            let at = 0;
            for (;;) {
              const r = replyLength(buf, at);
              if (r.length === 0) break;
              at += r.length;
              if (r.error) errors++;
              latencies[done++] = performance.now() - sentAt[head++]!;
            }
            buf = buf.subarray(at);
            send();
          };
          const onClose = (): void => reject(new CliError(CliErrorCode.UNREACHABLE, 'the server closed the connection'));
          const finish = (): void => {
            socket.off('data', onData);
            socket.off('close', onClose);
            resolve();
          };
          socket.on('data', onData);
          socket.on('close', onClose);
          send();
        }),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  const sorted = latencies.subarray(0, done).sort();
  const pct = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
  return { test: test.toUpperCase(), requests: done, errors, seconds, p50Ms: pct(50), p99Ms: pct(99) };
}

export function formatResult(r: BenchResult): string {
  const rps = r.requests / r.seconds;
  return `${r.test}: ${rps.toFixed(2)} requests per second, p50=${r.p50Ms.toFixed(3)} msec, p99=${r.p99Ms.toFixed(3)} msec` +
    (r.errors > 0 ? ` (${r.errors} errors)` : '');
}

export async function bench(argv: readonly string[]): Promise<number> {
  const o = parse(argv);
  if (o === undefined) {
    process.stdout.write(BENCH_HELP);
    return 0;
  }
  const clients = Math.min(o.clients, o.requests);
  const sockets: Socket[] = [];
  try {
    for (let i = 0; i < clients; i++) sockets.push(await open(o));
    if (o.password !== undefined) for (const s of sockets) await roundTrip(s, command(['AUTH', o.password]));
    let errors = 0;
    for (const test of o.tests) {
      const r = await runTest(o, test, sockets);
      errors += r.errors;
      process.stdout.write(formatResult(r) + '\n');
    }
    return errors > 0 ? 1 : 0;
  } finally {
    for (const s of sockets) s.destroy();
  }
}
