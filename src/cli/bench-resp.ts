// Runs on: the main thread. `ringkv bench`'s load over RESP against a running server (raw
// sockets: no client library, so the client costs little). Each of --clients connections
// keeps --pipeline requests in flight; a request's latency runs from writing it to reading
// its reply (so with pipelining it includes queueing).
import { connect, type Socket } from 'node:net';
import { CliError, CliErrorCode } from './cli-error.js';
import { type BenchResult, type ProgressSink, showProgress, TestRun } from './bench-report.js';
import { type BenchOptions, randomKey, type TestName } from './bench-options.js';

/** A connection that cannot be made in this long means the server is not there. */
const CONNECT_TIMEOUT_MS = 5000;

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

/** Runs one test: `o.requests` requests over the connections. */
async function runTest(o: BenchOptions, test: TestName, sockets: Socket[], progress: ProgressSink | undefined): Promise<BenchResult> {
  const value = 'x'.repeat(o.dataSize);
  const make = (): string =>
    test === 'set' ? command(['SET', randomKey(o.keyspace), value]) : test === 'get' ? command(['GET', randomKey(o.keyspace)]) : command(['PING']);
  const run = new TestRun(test.toUpperCase(), o.requests);
  const stopProgress = showProgress(run, progress);
  let issued = 0;
  try {
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
                run.record(performance.now() - sentAt[head++]!, r.error);
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
  } finally {
    stopProgress();
  }
  return run.result();
}

/** Connects --clients sockets (AUTH when asked) and runs every test; calls `report` per result. */
export async function benchResp(o: BenchOptions, report: (r: BenchResult) => void, progress: ProgressSink | undefined): Promise<void> {
  const clients = Math.min(o.clients, o.requests);
  const sockets: Socket[] = [];
  try {
    for (let i = 0; i < clients; i++) sockets.push(await open(o));
    if (o.password !== undefined) for (const s of sockets) await roundTrip(s, command(['AUTH', o.password]));
    for (const test of o.tests) report(await runTest(o, test, sockets, progress));
  } finally {
    for (const s of sockets) s.destroy();
  }
}
