// Runs on: the main thread. Reply encoding (RESP2 and RESP3) into one growing buffer per
// connection, written to the socket once the replies of a socket read are all in.
//
// docs/notes.md: one small socket write costs ~8 µs, so a connection's replies are appended to
// its buffer as they complete and leave in one write when the last command of a socket read
// has answered (connection.ts). The FlushQueue is the fallback: replies encoded outside that
// (or a buffer past FLUSH_BYTES) are written once per event-loop turn, and replies held
// behind a slow command of their read leave after HOLD_MS at most.
// A buffer handed to socket.write is not touched again until
// its write callback runs (Node may keep a reference until the kernel has the bytes); the
// writer then takes it back as a spare, so a busy connection cycles through two buffers
// and allocates nothing per reply.
//
// Wire forms (RESP2 / RESP3 where they differ):
//   +OK\r\n   -ERR msg\r\n   :42\r\n   $3\r\nfoo\r\n   *2\r\n<elem><elem>
//   null: $-1\r\n / _\r\n        map of n pairs: *2n\r\n... / %n\r\n...
import type { Socket } from 'node:net';
import { type Reply, ReplyError, RespMap, Simple } from './reply.js';

export type Protocol = 2 | 3;

/** First buffer of a connection: holds a pipeline of ~500 small replies. */
const INITIAL_BYTES = 16 * 1024;
/** A buffer grown past this (a large reply) is dropped after its write rather than kept. */
const KEEP_BYTES = 1024 * 1024;
/** Spare buffers a connection keeps: one being written, one being filled. */
const SPARE_BUFFERS = 2;
/**
 * Replies of a read still waiting for a slow command of that read are written anyway once
 * they pass this size (the client may need them to make room) or have waited HOLD_MS.
 */
export const FLUSH_BYTES = 64 * 1024;
/**
 * Longest wait, from one to two periods, of replies held for the rest of their read: a
 * pipeline whose commands all answer together leaves in one write (Redis writes a read's
 * replies together too), but a slow command does not hold the earlier replies for ever.
 */
export const HOLD_MS = 5;

const CR = 13;
const LF = 10;
const NULL2 = Buffer.from('$-1\r\n', 'latin1');
const NULL3 = Buffer.from('_\r\n', 'latin1');

/**
 * One connection's reply buffer. Owned by its Connection; the FlushQueue calls flush().
 * Not safe to share between connections.
 */
export class ReplyWriter {
  private buf: Buffer = Buffer.allocUnsafe(INITIAL_BYTES);
  private len = 0;
  /** Buffers handed to socket.write, oldest first (write callbacks run in order). */
  private readonly inFlight: Buffer[] = [];
  private readonly spare: Buffer[] = [];
  /** Set while this writer is on the FlushQueue's list of the turn. */
  queued = false;
  /** The FlushQueue's hold period in which this writer's replies were held; 0: not held. */
  heldSince = 0;
  /** Set while this writer is on the FlushQueue's hold list (held or not since). */
  onHoldList = false;
  constructor(
    private readonly socket: Socket,
    /** Counts the bytes handed to the socket and the error replies (the server's INFO stats). */
    private readonly counter: { netOutputBytes: number; errorReplies: Map<string, number> },
  ) {}

  /** Bytes encoded and not yet handed to the socket. */
  get pendingBytes(): number {
    return this.len;
  }

  /** Hands the encoded bytes to the socket (one write); false if there were none. */
  flush(): boolean {
    this.heldSince = 0;
    if (this.len === 0 || this.socket.destroyed || this.socket.writableEnded) return false;
    const out = this.buf;
    const n = this.len;
    this.inFlight.push(out);
    this.buf = this.spare.pop() ?? Buffer.allocUnsafe(INITIAL_BYTES);
    this.len = 0;
    this.counter.netOutputBytes += n;
    this.socket.write(out.subarray(0, n), this.written);
    return true;
  }

  private readonly written = (): void => {
    const done = this.inFlight.shift();
    if (done !== undefined && done.length <= KEEP_BYTES && this.spare.length < SPARE_BUFFERS) this.spare.push(done);
  };

  /** Appends one reply, encoded for `proto`. */
  write(reply: Reply, proto: Protocol): void {
    if (reply === null) {
      this.raw(proto === 3 ? NULL3 : NULL2);
    } else if (reply instanceof Uint8Array) {
      this.bulk(reply);
    } else if (typeof reply === 'string') {
      this.bulkString(reply);
    } else if (typeof reply === 'number') {
      this.integer(reply);
    } else if (typeof reply === 'bigint') {
      this.ensure(24);
      this.buf[this.len++] = 0x3a; // ':'
      this.len += this.buf.write(reply.toString(), this.len, 'latin1');
      this.crlf();
    } else if (reply instanceof Simple) {
      this.raw(reply.bytes);
    } else if (reply instanceof ReplyError) {
      this.error(reply);
    } else if (reply instanceof RespMap) {
      const pairs = reply.entries.length >> 1;
      if (proto === 3) this.header(0x25, pairs); // '%'
      else this.header(0x2a, pairs * 2);
      for (let i = 0; i < pairs * 2; i++) this.write(reply.entries[i]!, proto);
    } else {
      this.header(0x2a, reply.length); // '*'
      for (let i = 0; i < reply.length; i++) this.write(reply[i]!, proto);
    }
  }

  private error(e: ReplyError): void {
    const counts = this.counter.errorReplies;
    counts.set(e.prefix, (counts.get(e.prefix) ?? 0) + 1);
    const line = e.line;
    this.ensure(Buffer.byteLength(line) + 3);
    this.buf[this.len++] = 0x2d; // '-'
    this.len += this.buf.write(line, this.len, 'utf8');
    this.crlf();
  }

  private bulk(bytes: Uint8Array): void {
    this.ensure(bytes.length + 16);
    this.buf[this.len++] = 0x24; // '$'
    this.digits(bytes.length);
    this.crlf();
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
    this.crlf();
  }

  private bulkString(text: string): void {
    const n = Buffer.byteLength(text);
    this.ensure(n + 16);
    this.buf[this.len++] = 0x24;
    this.digits(n);
    this.crlf();
    this.len += this.buf.write(text, this.len, 'utf8');
    this.crlf();
  }

  private integer(n: number): void {
    this.ensure(24);
    this.buf[this.len++] = 0x3a; // ':'
    this.digits(n);
    this.crlf();
  }

  private header(type: number, n: number): void {
    this.ensure(24);
    this.buf[this.len++] = type;
    this.digits(n);
    this.crlf();
  }

  private raw(bytes: Buffer): void {
    this.ensure(bytes.length);
    bytes.copy(this.buf, this.len);
    this.len += bytes.length;
  }

  /** REQUIRES: room for 21 bytes; `n` a safe integer. Writes its decimal digits, no allocation. */
  private digits(n: number): void {
    const buf = this.buf;
    if (n < 0) {
      buf[this.len++] = 0x2d;
      n = -n;
    }
    if (n < 10) {
      buf[this.len++] = 0x30 + n;
      return;
    }
    let count = 0;
    for (let t = n; t >= 1; t = Math.floor(t / 10)) count++;
    for (let i = count - 1; i >= 0; i--) {
      buf[this.len + i] = 0x30 + (n % 10);
      n = Math.floor(n / 10);
    }
    this.len += count;
  }

  private crlf(): void {
    this.buf[this.len++] = CR;
    this.buf[this.len++] = LF;
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
}

/**
 * Writes every dirty connection's replies once per event-loop turn (one setImmediate for
 * the whole server, however many connections have replies), and held replies after
 * HOLD_MS to 2 x HOLD_MS (one timer for the whole server, armed while any are held).
 */
export class FlushQueue {
  private dirty: ReplyWriter[] = [];
  private other: ReplyWriter[] = [];
  private scheduled = false;
  private held: ReplyWriter[] = [];
  /** Counts HOLD_MS periods; a writer held in an earlier period than the current one is due. */
  private period = 1;
  private timer: NodeJS.Timeout | undefined;

  /** Writes `writer`'s replies at the end of this event-loop turn. */
  mark(writer: ReplyWriter): void {
    if (writer.queued) return;
    writer.queued = true;
    this.dirty.push(writer);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.run);
    }
  }

  /** Writes `writer`'s replies within 2 x HOLD_MS unless something flushes them before. */
  hold(writer: ReplyWriter): void {
    if (writer.heldSince !== 0) return;
    writer.heldSince = this.period;
    if (!writer.onHoldList) {
      writer.onHoldList = true;
      this.held.push(writer);
    }
    this.timer ??= setTimeout(this.expire, HOLD_MS);
  }

  private readonly run = (): void => {
    this.scheduled = false;
    const list = this.dirty;
    this.dirty = this.other;
    for (const w of list) {
      w.queued = false;
      w.flush();
    }
    list.length = 0;
    this.other = list;
  };

  private readonly expire = (): void => {
    this.timer = undefined;
    const due = this.period++;
    let kept = 0;
    const held = this.held;
    for (let i = 0; i < held.length; i++) {
      const w = held[i]!;
      if (w.heldSince !== 0 && w.heldSince < due) w.flush();
      if (w.heldSince === 0) w.onHoldList = false; // flushed, now or meanwhile
      else held[kept++] = w;
    }
    held.length = kept;
    if (kept > 0) this.timer = setTimeout(this.expire, HOLD_MS);
  };
}
