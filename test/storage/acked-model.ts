// The model of acknowledged writes that the crash and corruption catalogues check an engine
// against: key -> value, or undefined once deleted.
import { TOKEN_END } from '../../src/hash/index.js';
import type { LsmEngine } from '../../src/storage/index.js';

export type Model = Map<string, Uint8Array | undefined>;

const enc = new TextEncoder();
const dec = new TextDecoder();

export const same = (a: Uint8Array | undefined, b: Uint8Array | undefined): boolean =>
  a === undefined || b === undefined ? a === b : Buffer.from(a).equals(Buffer.from(b));

export const show = (v: Uint8Array | undefined): string => (v === undefined ? 'undefined' : JSON.stringify(dec.decode(v.subarray(0, 24))));

/** How `db` differs from `model`: a get of every key, and a scan of the whole ring. [] if not at all. Throws what the engine throws. */
export function diff(db: LsmEngine, model: Model): string[] {
  const out: string[] = [];
  let live = 0;
  for (const [k, want] of model) {
    if (want !== undefined) live++;
    const got = db.get(enc.encode(k));
    if (!same(got, want)) out.push(`get ${k} = ${show(got)}, want ${show(want)}`);
  }
  let scanned = 0;
  for (const e of db.scan(0n, TOKEN_END)) {
    scanned++;
    const k = dec.decode(e.key);
    if (!same(e.value, model.get(k))) out.push(`scan ${k} = ${show(e.value)}, want ${show(model.get(k))}`);
  }
  if (scanned !== live) out.push(`scan finds ${scanned} live keys, want ${live}`);
  return out.slice(0, 5);
}
