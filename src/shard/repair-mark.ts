// Runs on: a shard worker thread. The shard's repair mark: the NEEDS_REPAIR file in its
// directory (`<dir>/shard-<i>/NEEDS_REPAIR`), UTF-8 text, one field a line:
//
//   ringkv needs-repair 1          format and version
//   since <ISO 8601 UTC time>      when the shard was first marked
//   reason <text>                  one line per cause: a damaged WAL stretch skipped ("data: ..."
//                                  or "hints: ...", as /stats recovery.damage says it), or a
//                                  quarantined table ("data: table ... quarantined as ...")
//
// Written (file fsynced, renamed into place, directory fsynced) before the shard serves when
// its engines' WAL recovery skipped damaged records (--wal-recovery skip-damaged), so a
// restart before the repair keeps the mark although the salvaged WAL is clean by then; and
// before a data table whose block failed its checksum leaves service (tableDamage
// 'quarantine'), so no crash leaves its records gone unmarked. A later cause appends its
// reason and keeps `since`. Any file of that name is a mark,
// parsed or not. Removed (directory fsynced) only once anti-entropy has exchanged every
// partition the shard holds with another healthy replica (src/repair/repair-marks.ts).
// While it exists the replica answers GETs OBJECT_PARTIAL ("may be missing data").
import { readWholeFile, writeFileAtomic, type DamagedTable, type Vfs } from '../storage/index.js';

/** The marker file's name in the shard's directory. */
export const REPAIR_MARK_FILE = 'NEEDS_REPAIR';
/** First line of the file: its format and version (a reader refuses nothing: any file is a mark). */
const MARK_HEADER = 'ringkv needs-repair 1';

export interface RepairMark {
  /** When the shard was first marked (ISO 8601, UTC). */
  since: string;
  /** Why: what the recovery skipped (one line per cause). */
  reasons: string[];
}

/** The mark in `dir`, or undefined when the shard is not marked. A file that does not parse is still a mark. */
export function readRepairMark(vfs: Vfs, dir: string): RepairMark | undefined {
  const path = `${dir}/${REPAIR_MARK_FILE}`;
  if (!vfs.exists(path)) return undefined;
  const lines = new TextDecoder().decode(readWholeFile(vfs, path)).split('\n');
  let since = '';
  const reasons: string[] = [];
  for (const line of lines) {
    if (line.startsWith('since ')) since = line.slice('since '.length);
    else if (line.startsWith('reason ')) reasons.push(line.slice('reason '.length));
  }
  return { since, reasons };
}

/** Writes the mark durably (file fsynced, renamed into place, directory fsynced). */
export function writeRepairMark(vfs: Vfs, dir: string, mark: RepairMark): void {
  const body = [MARK_HEADER, `since ${mark.since}`, ...mark.reasons.map((r) => `reason ${r.replace(/\n/g, ' ')}`)].join('\n') + '\n';
  writeFileAtomic(vfs, dir, REPAIR_MARK_FILE, new TextEncoder().encode(body));
}

/** Removes the mark durably (the directory fsynced). No-op when there is none. */
export function clearRepairMark(vfs: Vfs, dir: string): void {
  const path = `${dir}/${REPAIR_MARK_FILE}`;
  if (!vfs.exists(path)) return;
  vfs.unlink(path);
  vfs.syncDir(dir);
}

/**
 * The shard's mark after its engines opened: the existing one, with `skipped` (this open's
 * recovery damage lines, empty when nothing was skipped) added; written before it serves.
 */
export function markAfterRecovery(vfs: Vfs, dir: string, skipped: readonly string[], now: Date): RepairMark | undefined {
  const existing = readRepairMark(vfs, dir);
  if (skipped.length === 0) return existing;
  return addRepairReasons(vfs, dir, skipped, now);
}

/** The prefix of a reason that a data table was quarantined (its records are lost here until repaired). */
export const TABLE_REASON = 'data: table ';

/**
 * Marks the shard (or adds to its mark) for `reasons` not already in it, durably, and
 * returns the mark: `since` stays the first mark's.
 */
export function addRepairReasons(vfs: Vfs, dir: string, reasons: readonly string[], now: Date): RepairMark {
  const existing = readRepairMark(vfs, dir);
  const known = new Set(existing?.reasons ?? []);
  const added = reasons.map((r) => r.replace(/\n/g, ' ')).filter((r) => !known.has(r));
  if (existing !== undefined && added.length === 0) return existing;
  const mark: RepairMark = { since: existing?.since || now.toISOString(), reasons: [...(existing?.reasons ?? []), ...added] };
  writeRepairMark(vfs, dir, mark);
  return mark;
}

/** The reason line of a quarantined data table. */
export function tableReason(d: DamagedTable): string {
  return `${TABLE_REASON}${d.table} failed its checksum (${d.error}); quarantined as ${d.quarantinedAs ?? '?'}: ` +
    `its ${d.entries} records (seq ${d.minSeq}..${d.maxSeq}) may be missing or older here until anti-entropy restores them`;
}
