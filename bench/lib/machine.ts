// Runs on: main thread of a bench process. What machine a result came from, free disk, and
// the resident memory of a child process.

import { readFileSync, statfsSync } from 'node:fs';
import os from 'node:os';

export interface MachineInfo {
  cpu: string;
  cores: number;
  ramBytes: number;
  node: string;
  os: string;
  /** 1-minute load average when the run started: other builds share these cores. */
  load1: number;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    ramBytes: os.totalmem(),
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    load1: os.loadavg()[0] ?? 0,
  };
}

export function describeMachine(m: MachineInfo): string {
  const ram = (m.ramBytes / 2 ** 30).toFixed(1);
  return `${m.cpu}, ${m.cores} cores, ${ram} GiB RAM, Node ${m.node}, ${m.os}, load ${m.load1.toFixed(2)} at start`;
}

/** Bytes available to an unprivileged writer on the file system holding `dir`. */
export function freeDiskBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

/**
 * Resident set size of process `pid` in bytes, read from /proc (Linux), or undefined when it
 * cannot be read (process gone, not Linux). Reading it from the parent samples the child even
 * while the child's thread is inside a long synchronous loop, and perturbs the child not at all.
 */
export function rssOf(pid: number): RssReading | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'latin1');
  } catch {
    return undefined;
  }
  const field = (name: string): number | undefined => {
    const m = new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, 'm').exec(status);
    return m?.[1] !== undefined ? Number(m[1]) * 1024 : undefined;
  };
  const total = field('VmRSS');
  if (total === undefined) return undefined;
  return { totalBytes: total, anonBytes: field('RssAnon') ?? total };
}

export interface RssReading {
  totalBytes: number;
  /**
   * Anonymous memory only (heaps, malloc, thread stacks): what a process holds itself, as
   * opposed to pages of files it maps (lmdb, LevelDB's table reads), which the kernel can
   * drop at will.
   */
  anonBytes: number;
}

/** Samples a process's RSS at a fixed period and keeps the peak, overall and per phase. */
export class RssSampler {
  private timer: NodeJS.Timeout | undefined;
  peakBytes = 0;
  peakAnonBytes = 0;
  samples = 0;
  /** Set by the caller when the process says it entered a new phase (open, load, gets, ...). */
  phase = 'start';
  readonly phasePeaks = new Map<string, number>();

  constructor(
    private readonly pid: number,
    private readonly periodMs = 100,
  ) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.periodMs);
  }

  enter(phase: string): void {
    this.sample();
    this.phase = phase;
    this.sample();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private sample(): void {
    const r = rssOf(this.pid);
    if (r === undefined) return;
    this.samples++;
    if (r.totalBytes > this.peakBytes) this.peakBytes = r.totalBytes;
    if (r.anonBytes > this.peakAnonBytes) this.peakAnonBytes = r.anonBytes;
    if (r.totalBytes > (this.phasePeaks.get(this.phase) ?? 0)) this.phasePeaks.set(this.phase, r.totalBytes);
  }
}
