// Test helper: the same commands against ringkv and a real redis-server started here,
// compared reply by reply (type, value, error string). Skipped when redis-server is not
// installed. Used by resp-redis-compare (commands) and resp-redis-compare-scripts (Lua).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Decoded, type Harness, RawClient, encodeCommand, startHarness } from './resp-harness.js';

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

async function run(port: number, commands: readonly (readonly string[])[]): Promise<Decoded[]> {
  const c = await RawClient.open(port);
  const replies: Decoded[] = [];
  try {
    for (const args of commands) {
      c.send(encodeCommand([...args]));
      replies.push(await c.reply());
    }
  } finally {
    c.close();
  }
  return replies;
}

/** Registers (on uvu's default suite) the before/after hooks and one test named `name`. */
export function compareWithRedis(name: string, commands: readonly (readonly string[])[]): void {
  const available = spawnSync('redis-server', ['--version']).error === undefined;
  let h: Harness;
  let redis: ChildProcess | undefined;
  let redisPort = 0;

  test.before(async () => {
    if (!available) return;
    h = await startHarness();
    redisPort = await freePort();
    redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        const c = await RawClient.open(redisPort);
        const pong = await c.call('PING');
        c.close();
        if (pong === 'PONG') break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error('redis-server did not start');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  test.after(async () => {
    if (!available) return;
    if (redis !== undefined) {
      const exited = new Promise((resolve) => redis!.once('exit', resolve));
      redis.kill('SIGTERM');
      await exited;
    }
    await h.close();
  });

  test(name, async () => {
    if (!available) return;
    const theirs = await run(redisPort, commands);
    const ours = await run(h.port, commands);
    const diffs: string[] = [];
    for (let i = 0; i < commands.length; i++) {
      if (JSON.stringify(theirs[i]) !== JSON.stringify(ours[i])) diffs.push(`${JSON.stringify(commands[i])}: redis ${JSON.stringify(theirs[i])}, ringkv ${JSON.stringify(ours[i])}`);
    }
    assert.equal(diffs, []);
  });
}
