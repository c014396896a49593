// Damage in the middle of a shard's WAL, from the outside (issue 17's repair-mark tests): 8
// bytes flipped where each given key's record holds the key, in the one non-empty segment of
// an engine's directory, so valid records follow each damaged one.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { parseWalFileName } from '../../src/storage/wal/wal-format.js';

/** Bytes flipped per damaged record: enough to break its CRC, inside the key. */
const FLIPPED_BYTES = 8;

/** Flips bytes inside each of `keys`' records in the WAL of the engine directory `data` (the engine closed). */
export function damageWalRecords(data: string, keys: readonly string[]): void {
  const logs = readdirSync(data).filter((n) => parseWalFileName(n) !== undefined && readFileSync(join(data, n)).length > 0);
  assert.is(logs.length, 1, `one WAL segment: ${readdirSync(data)}`);
  const log = join(data, logs[0]!);
  const bytes = readFileSync(log);
  for (const key of keys) {
    const at = bytes.indexOf(Buffer.from(key));
    assert.ok(at > 0, `${key} is in ${log}`);
    for (let b = 0; b < FLIPPED_BYTES; b++) bytes[at + b]! ^= 0xff;
  }
  writeFileSync(log, bytes);
}
