// Runs on: any thread. The request parser: RESP arrays of bulk strings and inline commands,
// fed TCP chunks as they arrive, with limits so a client cannot make it hold unbounded
// memory.
//
// Wire format (requests):
//
//   *<argc>\r\n  then argc times  $<len>\r\n<len bytes>\r\n     (what clients send)
//   <words separated by spaces>\r\n                             (inline: nc, telnet)
//
// A frame may straddle any number of chunks. Bytes not yet parsed are kept as a list of
// chunks and joined once, when the line or bulk they belong to is complete: each byte is
// copied at most once, however small the chunks (never a quadratic re-concatenation).
// Arguments are views of the received chunks, not copies (a command name found in the
// parser's `names` table is that table's own Buffer: no view is made), except a bulk of BIG_BULK_BYTES
// or more that does not arrive whole: it is copied into one buffer of its declared size as
// its chunks come, so the chunks are dropped at once (thousands of small chunks kept alive
// fragment the heap, and the memory does not go back to the system when they are freed).
//
// Limits (Redis's names in brackets): a bulk of more than maxBulkBytes
// [proto-max-bulk-len], more than maxArgs arguments, or an inline or header line longer
// than maxInlineBytes [PROTO_INLINE_MAX_SIZE] is a protocol error. After a protocol error
// the parser stops: the connection answers one error and closes, as Redis does, because
// the stream's framing can no longer be trusted.
//
// Two limits on memory, checked at each bulk's header, before its bytes are buffered:
// - a bulk longer than maxValueBytes (the most the store can hold) is skipped as it
//   arrives, never buffered; its command is dropped and answered by `refused` once its
//   last byte has gone by. The connection stays usable.
// - a command whose bytes (its header and every argument so far, buffered or skipped)
//   would pass maxCommandBytes [client-query-buffer-limit] stops the parser (`overLimit`).
import { splitInline } from './inline.js';

export interface ParserLimits {
  maxBulkBytes: number;
  maxInlineBytes: number;
  maxArgs: number;
  /** A bulk longer than this is skipped unbuffered and its command refused. Default: no limit. */
  maxValueBytes?: number;
  /** Most bytes of one command, all its arguments together. Default: no limit. */
  maxCommandBytes?: number;
  /** The client has not authenticated: the limits are Redis's pre-AUTH ones and errors say so. */
  unauthenticated?: boolean;
}

/** Short byte strings the parser hands out as shared Buffers instead of views (command names). */
export interface ArgNames {
  /** The shared Buffer equal to buf[at, at + length), or undefined. Must not allocate. */
  find(buf: Uint8Array, at: number, length: number): Buffer | undefined;
}

export interface ParserEvents {
  /** One complete command (at least one argument). The buffers are views: do not write to them. */
  command(args: Buffer[]): void;
  /** The stream is malformed; the parser has stopped. `message` follows "Protocol error: ". */
  protocolError(message: string): void;
  /** A complete command that was dropped unread: one of its bulks had `bulkBytes` > maxValueBytes. */
  refused?(bulkBytes: number): void;
  /** The command being received would pass maxCommandBytes (`commandBytes` so far, with the next bulk); the parser has stopped. */
  overLimit?(commandBytes: number): void;
}

const STAR = 0x2a;
const DOLLAR = 0x24;
const CR = 0x0d;
const LF = 0x0a;
const EMPTY = Buffer.alloc(0);
/** More digits than any accepted length has (maxBulkBytes and maxArgs are safe integers). */
const MAX_DIGITS = 16;
/**
 * A bulk at least this long that does not arrive whole is copied into a buffer of its own
 * as its chunks come (Redis's PROTO_MBULK_BIG_ARG is 32 KiB): below it, stashing the few
 * chunks and joining them once is cheaper.
 */
export const BIG_BULK_BYTES = 64 * 1024;
/** Commands of at most this many arguments get an array of their size at once (a bigger count is not trusted before its bytes come). */
const PREALLOCATED_ARGS = 16;

/**
 * Parses one connection's byte stream. Owned by its Connection; not shared.
 */
export class RespParser {
  private buf: Buffer = EMPTY;
  private pos = 0;
  /** Unparsed bytes of an incomplete line or bulk, in arrival order. */
  private stash: Buffer[] = [];
  private stashBytes = 0;
  /** The command being assembled from a multibulk frame, or null between commands. */
  private args: Buffer[] | null = null;
  /** Arguments of `args` filled so far. */
  private argc = 0;
  private argsLeft = 0;
  /** Length of the bulk whose body is awaited; -1 when a `$` line is awaited instead. */
  private bulkLen = -1;
  private stopped = false;
  /** Wire bytes of the command being assembled (headers and bulks so far, stash excluded). */
  private commandBytes = 0;
  /** The current bulk is skipped, not kept (its command is refused). */
  private skipping = false;
  /** Length of the first bulk of the current command that was too long (0: none): the command is refused. */
  private refusedLen = 0;
  /** A big bulk being received: its buffer (null when skipped), bytes still due (body and CRLF). */
  private big: Buffer | null = null;
  private bigLeft = 0;

  /** Where the line a quick header parse read ends (the byte after its LF). */
  private lineNext = 0;

  constructor(
    private limits: ParserLimits,
    private readonly events: ParserEvents,
    /** A command name found here is handed out as the table's Buffer. */
    private readonly names?: ArgNames,
  ) {}

  /** Bytes received and held, not yet part of a complete command (skipped bulks excluded). */
  get bufferedBytes(): number {
    return (this.refusedLen > 0 ? 0 : this.commandBytes) + this.stashBytes;
  }

  /** Replaces the limits (a client that authenticated gets the full ones); they apply from the next header. */
  setLimits(limits: ParserLimits): void {
    this.limits = limits;
  }

  get currentLimits(): ParserLimits {
    return this.limits;
  }

  /** Stops parsing (QUIT, a closing connection): later bytes are ignored, buffered ones released. */
  stop(): void {
    this.stopped = true;
    this.stash = [];
    this.stashBytes = 0;
    this.args = null;
    this.big = null;
    this.bigLeft = 0;
    this.commandBytes = 0;
    this.refusedLen = 0;
  }

  feed(chunk: Buffer): void {
    if (this.stopped || chunk.length === 0) return;
    if (this.bigLeft > 0) {
      const at = this.takeBig(chunk, 0);
      if (this.stopped || at === chunk.length) return;
      chunk = chunk.subarray(at);
    }
    if (this.stashBytes > 0) {
      const waitingForBulk = this.args !== null && this.bulkLen >= 0;
      const complete = waitingForBulk ? this.stashBytes + chunk.length >= this.bulkLen + 2 : chunk.indexOf(LF) >= 0;
      if (!complete) {
        this.stash.push(chunk);
        this.stashBytes += chunk.length;
        if (!waitingForBulk && this.stashBytes > this.limits.maxInlineBytes) this.fail(this.lineTooLong(this.stash[0]![0]!));
        return;
      }
      this.stash.push(chunk);
      this.buf = Buffer.concat(this.stash, this.stashBytes + chunk.length);
      this.stash = [];
      this.stashBytes = 0;
    } else {
      this.buf = chunk;
    }
    this.pos = 0;
    this.parse();
    if (!this.stopped && this.pos < this.buf.length) {
      this.stash.push(this.buf.subarray(this.pos));
      this.stashBytes = this.buf.length - this.pos;
    }
    this.buf = EMPTY;
    this.pos = 0;
  }

  private parse(): void {
    const buf = this.buf;
    const end = buf.length;
    while (!this.stopped && this.pos < end) {
      if (this.args === null) {
        if (buf[this.pos] === STAR) {
          if (!this.multibulkHeader()) return;
        } else if (!this.inline()) {
          return;
        }
      } else if (this.bulkLen < 0) {
        if (buf[this.pos] !== DOLLAR) {
          const c = buf[this.pos]!;
          const shown = c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
          return this.fail(`expected '$', got '${shown}'`);
        }
        let n = this.quickNumber(buf, this.pos + 1, end);
        let nl: number;
        if (n >= 0) nl = this.lineNext - 1;
        else {
          nl = buf.indexOf(LF, this.pos);
          if (nl < 0) {
            if (end - this.pos > this.limits.maxInlineBytes) this.fail('too big bulk count string');
            return;
          }
          n = lineNumber(buf, this.pos + 1, nl);
        }
        if (!(n >= 0 && n <= this.limits.maxBulkBytes)) {
          return this.fail(this.limits.unauthenticated === true && n >= 0 ? 'unauthenticated bulk length' : 'invalid bulk length');
        }
        const header = nl + 1 - this.pos;
        if (this.commandBytes + header + n + 2 > (this.limits.maxCommandBytes ?? Infinity)) return this.over(this.commandBytes + header + n + 2);
        this.commandBytes += header;
        this.pos = nl + 1;
        this.bulkLen = n;
        if (n > (this.limits.maxValueBytes ?? Infinity) && this.refusedLen === 0) {
          // Too long to store: the command is refused; its arguments are dropped, and this
          // bulk and the ones after it are skipped as they come.
          this.refusedLen = n;
          this.args.length = 0;
          this.argc = 0;
        }
        this.skipping = this.refusedLen > 0;
      } else {
        const n = this.bulkLen;
        if (end - this.pos < n + 2) {
          if (n < BIG_BULK_BYTES && !this.skipping) return;
          // A big bulk: take it chunk by chunk from here (feed hands over what follows).
          this.big = this.skipping ? null : Buffer.allocUnsafeSlow(n + 2);
          this.bigLeft = n + 2;
          this.pos = this.takeBig(buf, this.pos);
          continue;
        }
        if (buf[this.pos + n] !== CR || buf[this.pos + n + 1] !== LF) return this.fail('bulk string not followed by CRLF');
        let arg: Buffer | null = null;
        if (!this.skipping) {
          if (this.argc === 0 && this.names !== undefined) arg = this.names.find(buf, this.pos, n) ?? null;
          arg ??= buf.subarray(this.pos, this.pos + n);
        }
        this.pos += n + 2;
        this.commandBytes += n + 2;
        this.endBulk(arg);
      }
    }
  }

  /**
   * Copies (or skips) the next bytes of the big bulk being received from buf[from..);
   * returns where they end. When the bulk is complete, it becomes an argument.
   */
  private takeBig(buf: Buffer, from: number): number {
    const total = this.bulkLen + 2;
    const done = total - this.bigLeft;
    const take = Math.min(this.bigLeft, buf.length - from);
    const big = this.big;
    if (big !== null) buf.copy(big, done, from, from + take);
    else {
      // Skipped: only its closing CRLF is looked at.
      for (let p = Math.max(done, total - 2); p < done + take; p++) {
        if (buf[from + p - done] !== (p === total - 2 ? CR : LF)) {
          this.fail('bulk string not followed by CRLF');
          return buf.length;
        }
      }
    }
    this.bigLeft -= take;
    this.commandBytes += take;
    if (this.bigLeft > 0) return from + take;
    this.big = null;
    if (big !== null && (big[total - 2] !== CR || big[total - 1] !== LF)) {
      this.fail('bulk string not followed by CRLF');
      return buf.length;
    }
    this.endBulk(big === null ? null : big.subarray(0, total - 2));
    return from + take;
  }

  /** A bulk (null: skipped) is complete. */
  private endBulk(arg: Buffer | null): void {
    if (arg !== null) this.args![this.argc++] = arg;
    this.bulkLen = -1;
    this.skipping = false;
    if (--this.argsLeft > 0) return;
    const args = this.args!;
    const refused = this.refusedLen;
    this.args = null;
    this.argc = 0;
    this.commandBytes = 0;
    this.refusedLen = 0;
    if (refused > 0) this.events.refused?.(refused);
    else this.events.command(args);
  }

  /** `*<n>\r\n`: false when the line is incomplete (or bad: then the parser has stopped). */
  private multibulkHeader(): boolean {
    const buf = this.buf;
    let n = this.quickNumber(buf, this.pos + 1, buf.length);
    let nl: number;
    if (n >= 0) nl = this.lineNext - 1;
    else {
      nl = buf.indexOf(LF, this.pos);
      if (nl < 0) {
        if (buf.length - this.pos > this.limits.maxInlineBytes) this.fail('too big mbulk count string');
        return false;
      }
      n = lineNumber(buf, this.pos + 1, nl, true);
    }
    if (!(n <= this.limits.maxArgs)) {
      this.fail(this.limits.unauthenticated === true && n > 0 ? 'unauthenticated multibulk length' : 'invalid multibulk length');
      return false;
    }
    this.commandBytes = n > 0 ? nl + 1 - this.pos : 0;
    this.pos = nl + 1;
    if (n > 0) {
      this.args = n <= PREALLOCATED_ARGS ? new Array<Buffer>(n) : [];
      this.argc = 0;
      this.argsLeft = n;
    }
    return true;
  }

  /** One inline command line: false when it is incomplete (or bad: then the parser has stopped). */
  private inline(): boolean {
    const buf = this.buf;
    const nl = buf.indexOf(LF, this.pos);
    if (nl < 0) {
      if (buf.length - this.pos > this.limits.maxInlineBytes) this.fail('too big inline request');
      return false;
    }
    if (nl - this.pos > this.limits.maxInlineBytes) {
      this.fail('too big inline request');
      return false;
    }
    const lineEnd = nl > this.pos && buf[nl - 1] === CR ? nl - 1 : nl;
    const words = splitInline(buf.subarray(this.pos, lineEnd));
    this.pos = nl + 1;
    if (words === null) {
      this.fail('unbalanced quotes in request');
      return false;
    }
    if (words.length > 0) this.events.command(words);
    return true;
  }

  /**
   * The common header, read without looking for its LF first: decimal digits from buf[from]
   * then CR LF, all before `end`. Returns the number and sets lineNext past the LF;
   * -1 for anything else (a sign, a bad byte, too many digits, a line not complete yet),
   * which the caller reads the general way (indexOf + lineNumber) to say what is wrong.
   */
  private quickNumber(buf: Buffer, from: number, end: number): number {
    const stop = Math.min(end, from + MAX_DIGITS);
    let n = 0;
    let i = from;
    for (; i < stop; i++) {
      const d = buf[i]! - 0x30;
      if (d < 0 || d > 9) break;
      n = n * 10 + d;
    }
    if (i === from || i + 1 >= end || buf[i] !== CR || buf[i + 1] !== LF) return -1;
    this.lineNext = i + 2;
    return n;
  }

  private lineTooLong(first: number): string {
    if (this.args !== null) return 'too big bulk count string';
    return first === STAR ? 'too big mbulk count string' : 'too big inline request';
  }

  private fail(message: string): void {
    this.stop();
    this.events.protocolError(message);
  }

  private over(commandBytes: number): void {
    this.stop();
    if (this.events.overLimit !== undefined) this.events.overLimit(commandBytes);
    else this.events.protocolError('command too long');
  }
}

/**
 * The decimal number in buf[from, nl - 1) where buf[nl - 1] is CR; NaN when malformed.
 * A minus sign is accepted only with `signed` (`*-1` is an empty command, as in Redis).
 */
function lineNumber(buf: Buffer, from: number, nl: number, signed = false): number {
  const to = nl - 1;
  if (to < from || buf[to] !== CR) return NaN;
  let i = from;
  let negative = false;
  if (signed && buf[i] === 0x2d) {
    negative = true;
    i++;
  }
  if (i === to || to - i > MAX_DIGITS) return NaN;
  let n = 0;
  for (; i < to; i++) {
    const d = buf[i]! - 0x30;
    if (d < 0 || d > 9) return NaN;
    n = n * 10 + d;
  }
  return negative ? -n : n;
}
