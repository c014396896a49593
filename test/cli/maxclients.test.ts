// Issue 17's connection flood against `ringkv start` as a real process with its default
// maxclients (10,000): 20,000 TCP connections from raw sockets. The first 10,000 are served;
// every one over the limit gets `-ERR max number of clients reached` and is closed; storage
// keeps answering on the admitted connections; a freed slot admits a new client.
// Needs an open-file limit of about 11,000 for this process (it holds 10,000 sockets and a
// few hundred in flight); the test skips below that.
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openFileLimit } from '../../src/server/resp/fd-limit.js';
import { startServer, type Server } from '../support/cli-harness.js';

/** Redis's default maxclients, and ringkv's. */
const MAXCLIENTS = 10_000;
const FLOOD = 20_000;
/** Connections opened at once: enough to overlap, few enough to stay under the fd limit. */
const WAVE = 500;
const REFUSED = '-ERR max number of clients reached\r\n';
/** A refused wave is hung up at once; this only bounds a server that wrongly admits it. */
const WAVE_DEADLINE_MS = 30_000;
/** This process holds MAXCLIENTS sockets plus one wave, plus its own files. */
const FDS_NEEDED = MAXCLIENTS + WAVE + 500;

/** One raw connection: `text` is what the server sent, `closed` settles when it hung up. */
interface Conn {
  socket: Socket;
  text: string;
  closed: Promise<void>;
}

function open(port: number): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let settle!: () => void;
    const conn: Conn = { socket, text: '', closed: new Promise<void>((r) => (settle = r)) };
    socket.on('data', (d: Buffer) => (conn.text += d.toString('latin1')));
    socket.on('close', () => settle());
    socket.on('error', () => {}); // a reset shows as the close and the text it left
    socket.once('connect', () => resolve(conn));
    socket.once('error', reject);
  });
}

/** Sends one inline command and resolves with the first reply line. */
function call(conn: Conn, line: string): Promise<string> {
  const before = conn.text.length;
  conn.socket.write(`${line}\r\n`);
  return new Promise((resolve, reject) => {
    const check = (): void => {
      const got = conn.text.slice(before);
      const end = got.indexOf('\r\n');
      if (end < 0) return;
      conn.socket.off('data', check);
      conn.socket.off('close', closed);
      resolve(got.slice(0, end + 2));
    };
    const closed = (): void => reject(new Error(`closed before answering ${line}`));
    conn.socket.on('data', check);
    conn.socket.once('close', closed);
    check();
  });
}

const limit = openFileLimit();
if (limit !== undefined && limit >= FDS_NEEDED) {
  test(`${FLOOD} connections against maxclients ${MAXCLIENTS}: the excess refused with the Redis error, storage keeps working`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ringkv-maxclients-'));
    let server: Server | undefined;
    const held: Conn[] = [];
    try {
      // The server's own open-file limit is this process's (inherited): at least FDS_NEEDED,
      // so the default 10,000 is not lowered.
      server = await startServer(['--dir', dir, '--port', '0', '--admin-port', '0', '--shards', '1', '--sync-mode', 'none']);
      const port = server.respPort;
      for (let opened = 0; opened < MAXCLIENTS; opened += WAVE) {
        const wave = await Promise.all(Array.from({ length: WAVE }, () => open(port)));
        const replies = await Promise.all(wave.map((c) => call(c, 'PING').catch((err: Error) => err.message)));
        assert.equal(replies.filter((r) => r !== '+PONG\r\n'), [], 'each of the first 10,000 is served');
        held.push(...wave);
      }
      // Over the limit the server sends the error unasked and hangs up: wait for that,
      // sending nothing (a write racing the hang-up could lose the reply to a reset).
      let refused = 0;
      let other = 0;
      for (let opened = MAXCLIENTS; opened < FLOOD; opened += WAVE) {
        const wave = await Promise.all(Array.from({ length: WAVE }, () => open(port)));
        const hungUp = Promise.all(wave.map((c) => c.closed));
        const deadline = new Promise<'late'>((r) => setTimeout(() => r('late'), WAVE_DEADLINE_MS).unref());
        const late = (await Promise.race([hungUp, deadline])) === 'late';
        if (late) held.push(...wave.filter((c) => !c.socket.destroyed));
        for (const c of wave) {
          if (c.text === REFUSED) refused++;
          else other++;
        }
        if (late) break; // a server that admits over the limit: fail now, not after every wave
      }
      assert.is(other, 0, 'every connection over the limit got the Redis error');
      assert.is(held.length, MAXCLIENTS, 'no connection over the limit stayed open');
      assert.is(refused, FLOOD - MAXCLIENTS, 'every connection over the limit is refused');
      // Storage keeps working on the admitted connections, the oldest and the newest.
      assert.is(await call(held[0]!, 'SET flood:key v1'), '+OK\r\n');
      assert.is(await call(held[held.length - 1]!, 'GET flood:key'), '$2\r\n');
      // A freed slot admits a new client once the server has seen the close.
      const leaving = held.shift()!;
      leaving.socket.destroy();
      await leaving.closed;
      const deadline = Date.now() + 30_000;
      let admitted: Conn | undefined;
      while (admitted === undefined && Date.now() < deadline) {
        const c = await open(port);
        if ((await call(c, 'PING').catch(() => '')) === '+PONG\r\n') admitted = c;
        else await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(admitted !== undefined, 'a client is admitted after one left');
      held.push(admitted!);
      assert.is(await call(admitted!, 'SET flood:key v22'), '+OK\r\n');
      assert.is(await call(held[0]!, 'STRLEN flood:key'), ':3\r\n');
    } finally {
      for (const c of held) c.socket.destroy();
      await server?.stop('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    }
  });
} else {
  test(`skipped: ${FLOOD} connections need an open-file limit of ${FDS_NEEDED} (it is ${limit})`, () => {});
}

test.run();
