// Runs on: any thread. Rate limit for a log line that an outsider can trigger at will (a
// refused peer connection, a failed AUTH): at most one line per source per interval, and
// the next line that is let through says how many were held back, so a flood neither
// fills the disk nor hides how big it was.

/** One line per source per minute: enough to see an attack, too few to fill a disk. */
export const LOG_LIMIT_INTERVAL_MS = 60_000;
/** Sources remembered at most; past it the ones whose minute is over are forgotten (memory bound under a spoofed flood). */
const MAX_SOURCES = 10_000;

/** The part of a pino logger the limited lines need. */
export interface WarnLog {
  warn(fields: object, message: string): void;
}

/** Owned by the component that logs; not shared across threads. */
export class LogLimiter {
  private readonly sources = new Map<string, { since: number; suppressed: number }>();

  constructor(
    private readonly intervalMs = LOG_LIMIT_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Whether a line for `source` may be logged now: the number of lines held back for it
   * since the last one let through (log it with the line), or false to drop this one.
   */
  allow(source: string): number | false {
    const t = this.now();
    const s = this.sources.get(source);
    if (s !== undefined && t - s.since < this.intervalMs) {
      s.suppressed++;
      return false;
    }
    if (this.sources.size >= MAX_SOURCES) this.forget(t);
    const suppressed = s?.suppressed ?? 0;
    this.sources.set(source, { since: t, suppressed: 0 });
    return suppressed;
  }

  private forget(t: number): void {
    for (const [k, s] of this.sources) if (t - s.since >= this.intervalMs) this.sources.delete(k);
    if (this.sources.size >= MAX_SOURCES) this.sources.clear();
  }
}

/** The source of a connection for rate limiting: its address without the port. */
export function sourceOf(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
