// Runs on: any thread. Splits an inline command line (`SET "a b" 'c'` typed through nc or
// telnet, redis-benchmark's PING_INLINE) into arguments, with the quoting rules of
// redis-cli: words separated by spaces or tabs; "double quotes" take the escapes \n \r \t
// \b \a \\ \" and \xHH; 'single quotes' take only \'. A closing quote must end the word.
//
// Words without quotes are views of the line (no copy); quoted words are new buffers.

const SPACE = 0x20;
const TAB = 0x09;
const CR = 0x0d;
const LF = 0x0a;
const VT = 0x0b;
const FF = 0x0c;
const NUL = 0x00;
const DQUOTE = 0x22;
const SQUOTE = 0x27;
const BACKSLASH = 0x5c;

function isSpace(c: number): boolean {
  return c === SPACE || c === TAB || c === CR || c === LF || c === VT || c === FF || c === NUL;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

const ESCAPES: Record<number, number> = { 0x6e: LF, 0x72: CR, 0x74: TAB, 0x62: 0x08, 0x61: 0x07 };

/** The words of `line`; null when a quote is not closed (or not followed by a space). */
export function splitInline(line: Buffer): Buffer[] | null {
  const out: Buffer[] = [];
  const n = line.length;
  let i = 0;
  for (;;) {
    while (i < n && isSpace(line[i]!)) i++;
    if (i >= n) return out;
    // The fast path: a word with no quotes is a view of the line.
    const start = i;
    while (i < n && !isSpace(line[i]!) && line[i] !== DQUOTE && line[i] !== SQUOTE) i++;
    if (i >= n || isSpace(line[i]!)) {
      out.push(line.subarray(start, i));
      continue;
    }
    const word = quotedWord(line, start);
    if (word === null) return null;
    out.push(word.bytes);
    i = word.end;
  }
}

/** Reads a word that has a quote somewhere from `start`; null when it is unbalanced. */
function quotedWord(line: Buffer, start: number): { bytes: Buffer; end: number } | null {
  const n = line.length;
  const bytes: number[] = [];
  let i = start;
  while (i < n && !isSpace(line[i]!)) {
    const c = line[i]!;
    if (c !== DQUOTE && c !== SQUOTE) {
      bytes.push(c);
      i++;
      continue;
    }
    const quote = c;
    i++;
    for (;;) {
      if (i >= n) return null;
      const d = line[i]!;
      if (quote === DQUOTE && d === BACKSLASH && i + 3 < n && line[i + 1] === 0x78 && hexValue(line[i + 2]!) >= 0 && hexValue(line[i + 3]!) >= 0) {
        bytes.push(hexValue(line[i + 2]!) * 16 + hexValue(line[i + 3]!));
        i += 4;
      } else if (quote === DQUOTE && d === BACKSLASH && i + 1 < n) {
        const e = line[i + 1]!;
        bytes.push(ESCAPES[e] ?? e);
        i += 2;
      } else if (quote === SQUOTE && d === BACKSLASH && i + 1 < n && line[i + 1] === SQUOTE) {
        bytes.push(SQUOTE);
        i += 2;
      } else if (d === quote) {
        i++;
        // As redis-cli: the closing quote must end the word.
        if (i < n && !isSpace(line[i]!)) return null;
        return { bytes: Buffer.from(bytes), end: i };
      } else {
        bytes.push(d);
        i++;
      }
    }
  }
  return { bytes: Buffer.from(bytes), end: i };
}
