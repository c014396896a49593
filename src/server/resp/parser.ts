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
// Arguments are views of the received chunks, not copies.
//
// Limits (Redis's names in brackets): a bulk of more than maxBulkBytes
// [proto-max-bulk-len], more than maxArgs arguments, or an inline or header line longer
// than maxInlineBytes [PROTO_INLINE_MAX_SIZE] is a protocol error. After a protocol error
// the parser stops: the connection answers one error and closes, as Redis does, because
// the stream's framing can no longer be trusted.
import { splitInline } from './inline.js';

export interface ParserLimits {
  maxBulkBytes: number;
  maxInlineBytes: number;
  maxArgs: number;
}

export interface ParserEvents {
  /** One complete command (at least one argument). The buffers are views: do not write to them. */
  command(args: Buffer[]): void;
  /** The stream is malformed; the parser has stopped. `message` follows "Protocol error: ". */
  protocolError(message: string): void;
}

const STAR = 0x2a;
const DOLLAR = 0x24;
const CR = 0x0d;
const LF = 0x0a;
const EMPTY = Buffer.alloc(0);
/** More digits than any accepted length has (maxBulkBytes and maxArgs are safe integers). */
const MAX_DIGITS = 16;

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
  private argsLeft = 0;
  /** Length of the bulk whose body is awaited; -1 when a `$` line is awaited instead. */
  private bulkLen = -1;
  private stopped = false;

  constructor(
    private readonly limits: ParserLimits,
    private readonly events: ParserEvents,
  ) {}

  /** Bytes received and not yet part of a complete command. */
  get bufferedBytes(): number {
    return this.stashBytes;
  }

  /** Stops parsing (QUIT, a closing connection): later bytes are ignored. */
  stop(): void {
    this.stopped = true;
    this.stash = [];
    this.stashBytes = 0;
    this.args = null;
  }

  feed(chunk: Buffer): void {
    if (this.stopped || chunk.length === 0) return;
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
        const nl = buf.indexOf(LF, this.pos);
        if (nl < 0) {
          if (end - this.pos > this.limits.maxInlineBytes) this.fail('too big bulk count string');
          return;
        }
        const n = lineNumber(buf, this.pos + 1, nl);
        if (!(n >= 0 && n <= this.limits.maxBulkBytes)) return this.fail('invalid bulk length');
        this.pos = nl + 1;
        this.bulkLen = n;
      } else {
        const n = this.bulkLen;
        if (end - this.pos < n + 2) return;
        if (buf[this.pos + n] !== CR || buf[this.pos + n + 1] !== LF) return this.fail('bulk string not followed by CRLF');
        this.args.push(buf.subarray(this.pos, this.pos + n));
        this.pos += n + 2;
        this.bulkLen = -1;
        if (--this.argsLeft === 0) {
          const args = this.args;
          this.args = null;
          this.events.command(args);
        }
      }
    }
  }

  /** `*<n>\r\n`: false when the line is incomplete (or bad: then the parser has stopped). */
  private multibulkHeader(): boolean {
    const buf = this.buf;
    const nl = buf.indexOf(LF, this.pos);
    if (nl < 0) {
      if (buf.length - this.pos > this.limits.maxInlineBytes) this.fail('too big mbulk count string');
      return false;
    }
    const n = lineNumber(buf, this.pos + 1, nl, true);
    if (!(n <= this.limits.maxArgs)) {
      this.fail('invalid multibulk length');
      return false;
    }
    this.pos = nl + 1;
    if (n > 0) {
      this.args = [];
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

  private lineTooLong(first: number): string {
    if (this.args !== null) return 'too big bulk count string';
    return first === STAR ? 'too big mbulk count string' : 'too big inline request';
  }

  private fail(message: string): void {
    this.stop();
    this.events.protocolError(message);
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
