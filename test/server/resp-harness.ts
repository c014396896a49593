// Test helpers for the RESP server: a store and a server on a free port in a fresh
// directory, and a raw socket client that reads replies (for inline commands, malformed
// frames and exact wire bytes, which real clients will not send).
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { open, type OpenOptions, type Store } from '../../src/index.js';
import { type RespServer, type RespServerOptions, startRespServer } from '../../src/server/resp/index.js';

export interface Harness {
  store: Store;
  server: RespServer;
  port: number;
  dir: string;
  /** Closes the server, then the store, then removes the directory (unless keepDir). */
  close(keepDir?: boolean): Promise<void>;
}

export async function startHarness(
  options: { server?: RespServerOptions; store?: Partial<OpenOptions>; dir?: string } = {},
): Promise<Harness> {
  const dir = options.dir ?? mkdtempSync(`${tmpdir()}/ringkv-resp-`);
  const store = await open({ dir, shards: 2, storage: { syncMode: 'none' }, ...options.store });
  const server = await startRespServer(store, { port: 0, ...options.server });
  return {
    store,
    server,
    port: server.port,
    dir,
    async close(keepDir = false) {
      await server.close();
      await store.close();
      if (!keepDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A decoded reply: errors as { error }, RESP3 maps as Map, nulls as null. */
export type Decoded = string | number | bigint | null | boolean | { error: string } | Decoded[] | Map<Decoded, Decoded> | Buffer;

/**
 * Decodes one reply from buf[at..]; undefined when it is incomplete. Bulk strings decode to
 * strings (UTF-8) unless `binary`.
 */
export function decodeReply(buf: Buffer, at: number, binary = false): { value: Decoded; end: number } | undefined {
  if (at >= buf.length) return undefined;
  const nl = buf.indexOf('\r\n', at);
  if (nl < 0) return undefined;
  const type = String.fromCharCode(buf[at]!);
  const line = buf.toString('latin1', at + 1, nl);
  const next = nl + 2;
  switch (type) {
    case '+':
      return { value: line, end: next };
    case '-':
      return { value: { error: line }, end: next };
    case ':':
      return { value: Number(line), end: next };
    case '_':
      return { value: null, end: next };
    case '#':
      return { value: line === 't', end: next };
    case '$': {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      if (buf.length < next + n + 2) return undefined;
      const bytes = buf.subarray(next, next + n);
      return { value: binary ? Buffer.from(bytes) : bytes.toString('utf8'), end: next + n + 2 };
    }
    case '*':
    case '%': {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      const items: Decoded[] = [];
      let pos = next;
      for (let i = 0; i < (type === '%' ? 2 * n : n); i++) {
        const r = decodeReply(buf, pos, binary);
        if (r === undefined) return undefined;
        items.push(r.value);
        pos = r.end;
      }
      if (type === '*') return { value: items, end: pos };
      const map = new Map<Decoded, Decoded>();
      for (let i = 0; i < items.length; i += 2) map.set(items[i]!, items[i + 1]!);
      return { value: map, end: pos };
    }
    default:
      throw new Error(`unexpected reply type ${JSON.stringify(type)} at ${at}`);
  }
}

/** A client on a bare socket: send bytes, await decoded replies, see the server close. */
export class RawClient {
  readonly socket: Socket;
  private buf = Buffer.alloc(0);
  private pos = 0;
  private waiters: (() => void)[] = [];
  closed = false;
  readonly ready: Promise<void>;

  constructor(port: number) {
    this.socket = connect({ port, host: '127.0.0.1' });
    this.ready = new Promise((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('error', reject);
    });
    this.socket.on('error', () => {});
    this.socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf.subarray(this.pos), d]);
      this.pos = 0;
      this.wake();
    });
    this.socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  static async open(port: number): Promise<RawClient> {
    const c = new RawClient(port);
    await c.ready;
    return c;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** The next reply; rejects if the connection closes first or after `timeoutMs`. */
  async reply(timeoutMs = 5000, binary = false): Promise<Decoded> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = decodeReply(this.buf, this.pos, binary);
      if (r !== undefined) {
        this.pos = r.end;
        return r.value;
      }
      if (this.closed) throw new Error('connection closed before a reply');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a reply');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async replies(n: number, timeoutMs = 5000): Promise<Decoded[]> {
    const out: Decoded[] = [];
    for (let i = 0; i < n; i++) out.push(await this.reply(timeoutMs));
    return out;
  }

  /** Sends one command as a RESP array of bulk strings and returns its reply. */
  async call(...args: (string | Buffer)[]): Promise<Decoded> {
    this.send(encodeCommand(args));
    return this.reply();
  }

  /** Resolves once the server has closed the connection (rejects after `timeoutMs`). */
  async whenClosed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('the server did not close the connection');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

export function encodeCommand(args: readonly (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a) : a;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** Asserts that `p` rejects with an error whose message (or string form) matches `pattern`. */
export async function rejects(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  let outcome: unknown;
  try {
    outcome = await p;
  } catch (err) {
    const text = `${String(err)} ${(err as Error)?.message ?? ''}`;
    if (!pattern.test(text)) throw new Error(`rejected with ${text}, expected ${pattern}`);
    return;
  }
  throw new Error(`resolved with ${JSON.stringify(outcome)}, expected a rejection matching ${pattern}`);
}
