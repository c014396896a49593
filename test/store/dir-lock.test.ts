// One owner per data dir: open() takes `<dir>/LOCK` (an advisory lock the kernel drops when
// its holder dies), so a second open, in this process or another, fails with ERR_LOCKED
// naming the holder's PID, and a dir whose holder was kill -9'd opens at once.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ErrorCode, open, RingkvError } from '../../src/index.js';
import { takeDirLock } from '../../src/storage/env/dir-lock.js';

/** dist/test/store/ → dist/src/index.js, which a child process imports. */
const INDEX = fileURLToPath(new URL('../../src/index.js', import.meta.url));
/** A child opening a store of one shard worker takes about a second; far more under load. */
const CHILD_READY_MS = 60_000;

const dirs: string[] = [];
const children: ChildProcess[] = [];
test.after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ringkv-lock-'));
  dirs.push(dir);
  return dir;
}

const small = (dir: string) => ({ dir, shards: 1, n: 1, r: 1, w: 1, antiEntropyIntervalMs: 0 });

async function lockedError(p: Promise<unknown>): Promise<RingkvError> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, RingkvError);
    assert.is((err as RingkvError).code, ErrorCode.LOCKED, String(err));
    return err as RingkvError;
  }
  throw new assert.Assertion({ message: 'the second open succeeded', generated: false, operator: 'open', expects: 'ERR_LOCKED', actual: 'a store' });
}

/** A child process that opens `dir`, writes `k` and prints "open", then waits to be killed. */
/** Runs `script` as an ES module file in a child node (worker threads need a file, not -e). */
function node(script: string, stdio: 'pipe' | 'inherit' = 'pipe'): ChildProcess {
  const file = join(tempDir(), 'child.mjs');
  writeFileSync(file, script);
  const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', stdio] });
  children.push(child);
  return child;
}

function holder(dir: string): Promise<ChildProcess> {
  const script = `
    const { open } = await import(${JSON.stringify(INDEX)});
    const db = await open(${JSON.stringify(small(dir))});
    await db.put('k', 'from the child');
    process.stdout.write('open\\n');
    setInterval(() => {}, 1000);
  `;
  const child = node(script);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`the holder did not open in time: ${err}`)), CHILD_READY_MS);
    child.stderr!.on('data', (d: Buffer) => (err += d));
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      if (out.includes('open\n')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`the holder exited (${code}): ${err}`));
    });
  });
}

test('a second open() of a dir in the same process fails with ERR_LOCKED naming this PID; after close it opens', async () => {
  const dir = tempDir();
  const first = await open(small(dir));
  const err = await lockedError(open(small(dir)));
  assert.match(err.message, `in use by this process (pid ${process.pid})`);
  assert.match(err.message, join(dir, 'LOCK'));
  await first.put('a', '1');
  await first.close();
  const again = await open(small(dir));
  assert.is((await again.get('a'))?.values.map((v) => new TextDecoder().decode(v)).join(), '1');
  await again.close();
});

test('a failed open() releases the lock it took', async () => {
  const dir = tempDir();
  await (await open(small(dir))).close();
  // Another layout is refused after the lock is taken; the refusal must not keep it.
  await open({ ...small(dir), shards: 2 }).then(
    () => assert.unreachable('a changed layout opened'),
    (err: RingkvError) => assert.is(err.code, ErrorCode.INVALID_ARGUMENT),
  );
  const ok = await open(small(dir));
  await ok.close();
});

test('open() of a dir another process holds fails with ERR_LOCKED and its PID; after kill -9 the next open succeeds', async () => {
  const dir = tempDir();
  const child = await holder(dir);
  const err = await lockedError(open(small(dir)));
  assert.match(err.message, `in use by pid ${child.pid}`);
  // Taking the lock directly (as the server does) is refused the same way.
  assert.throws(() => takeDirLock(dir), (e: RingkvError) => e.code === ErrorCode.LOCKED);

  const died = new Promise((resolve) => child.on('close', resolve));
  child.kill('SIGKILL');
  await died;
  // The dead holder's LOCK file (with its PID) is still there: nothing deletes it by hand.
  assert.ok(existsSync(join(dir, 'LOCK')));
  assert.is(readFileSync(join(dir, 'LOCK'), 'utf8').trim(), String(child.pid));
  const db = await open(small(dir));
  assert.is(readFileSync(join(dir, 'LOCK'), 'utf8').trim(), String(process.pid));
  assert.equal((await db.get('k'))?.values.map((v) => new TextDecoder().decode(v)), ['from the child']);
  await db.close();
});

test('a process holding the dir keeps a second process out (a child that tries to open exits with ERR_LOCKED)', async () => {
  const dir = tempDir();
  const db = await open(small(dir));
  const script = `
    const { open } = await import(${JSON.stringify(INDEX)});
    try { await open(${JSON.stringify(small(dir))}); process.stdout.write('opened'); }
    catch (err) { process.stdout.write(err.code + ' ' + err.message); }
    process.exit(0);
  `;
  const out = await new Promise<string>((resolve, reject) => {
    const c = node(script, 'inherit');
    let text = '';
    c.stdout!.on('data', (d: Buffer) => (text += d));
    c.on('error', reject);
    c.on('close', () => resolve(text));
  });
  assert.match(out, `ERR_LOCKED data dir ${dir} in use by pid ${process.pid}`);
  await db.close();
});

test.run();
