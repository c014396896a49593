// Test helpers for the `ringkv` command: runs bin/ringkv.mjs as a child process (as an
// operator would), reads its JSON log lines, and stops it with a signal.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** dist/test/support/cli-harness.js → bin/ringkv.mjs at the package root. */
export const BIN = fileURLToPath(new URL('../../../bin/ringkv.mjs', import.meta.url));
/** Opening a store of shard workers takes ~1 s here; two shared cores under load, more. */
const READY_TIMEOUT_MS = 20_000;

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `ringkv <args>` to completion. */
export function runCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

export interface Server {
  child: ChildProcess;
  respPort: number;
  adminPort: number;
  /** The parsed ready log line. */
  ready: Record<string, unknown>;
  output(): { stdout: string; stderr: string };
  /** Sends `signal` and resolves with how the process ended. */
  stop(signal?: NodeJS.Signals): Promise<RunResult>;
}

/** Starts `ringkv start <args>` and resolves once it logs its ready line. */
export function startServer(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Server> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'start', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let ready: Record<string, unknown> | undefined;
    const exited = new Promise<RunResult>((done) => child.on('close', (code, signal) => done({ code, signal, stdout, stderr })));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ringkv start did not get ready in ${READY_TIMEOUT_MS} ms:\n${stdout}\n${stderr}`));
    }, READY_TIMEOUT_MS);
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d;
      if (ready !== undefined) return;
      for (const line of stdout.split('\n')) {
        if (!line.startsWith('{')) continue;
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (typeof entry.respPort !== 'number') continue;
        ready = entry;
        clearTimeout(timer);
        resolve({
          child,
          respPort: entry.respPort,
          adminPort: entry.adminPort as number,
          ready: entry,
          output: () => ({ stdout, stderr }),
          stop(signal = 'SIGTERM') {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            return exited;
          },
        });
        return;
      }
    });
    child.stderr!.on('data', (d: Buffer) => (stderr += d));
    void exited.then((r) => {
      if (ready !== undefined) return;
      clearTimeout(timer);
      reject(new Error(`ringkv start exited (${r.code ?? r.signal}) before it was ready:\n${r.stdout}\n${r.stderr}`));
    });
  });
}
