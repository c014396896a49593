// Runs on: the main thread. One client connection: parse, dispatch, answer in order.
//
// Commands run as soon as they are parsed, so the store calls of a pipeline are in flight
// together; their replies must still leave in the order the commands came. Each command
// that cannot answer at once takes a slot at the back of the connection's queue; when a
// slot at the front completes, every completed slot from the front is encoded into the
// ReplyWriter. A reply ready at once with nothing ahead of it (PING, an argument error)
// skips the queue.
//
// Writes: the replies of one socket read leave together, in one socket write, as soon as
// the last of them is encoded (the last slot a read queued is marked `endsRead`; a read
// whose commands all answered at once is written at the end of onData). Replies encoded
// before their read is complete are held (FlushQueue.hold: at most 2 x HOLD_MS, or until
// FLUSH_BYTES), so a pipeline answers in one write rather than in dribbles.
//
// Limits: at MAX_IN_FLIGHT queued commands, or with more than OUTPUT_HIGH_WATER bytes
// waiting in the socket (a client that does not read), the connection stops reading until
// it catches up; TCP then pushes back on the client. Replies encoded but not yet written
// beyond maxPendingReplyBytes (a huge MGET) close the connection, as Redis's output buffer
// limit does. A protocol error answers one error and closes.
//
// Input limits (parser.ts checks them at each header, before bytes are buffered): a bulk
// longer than the store's value limit is skipped unread and its command answered
// -TOOLARGE; a command longer than client-query-buffer-limit, or the client holding the
// most input when all clients' input passes maxmemory-clients (client-input.ts), is
// answered -ERR and closed, its buffers dropped at once (memory-release.ts). Until it
// authenticates, a client of a server with a password has Redis 6.2's limits: at most 10
// arguments and 16 KiB bulks, past which it is closed. A QUIT, a client's
// half-close (EOF) or a server shutdown stops reading and ends the socket once the replies
// of commands already received are written.
import type { Socket } from 'node:net';
import type { BatchSlots, ReadResult, WriteResult } from '../../index.js';
import { arityFits, type FastRead } from './command.js';
import { commandNames, execute, fastPutRun, fastReadKey, lookupCommand, unknownCommand, wrongArity } from './commands.js';
import type { BlindRun } from './key-locks.js';
import type { ClientInputBudget, InputHolder } from './client-input.js';
import type { MemoryRelease } from './memory-release.js';
import { type CommandStat, DEFAULT_LEVEL, type Histogram, type LatencyRecorder } from './latency.js';
import { type ParserEvents, type ParserLimits, RespParser } from './parser.js';
import { ErrorPrefix, errorReply, OK, type Reply, ReplyError } from './reply.js';
import { type ServerContext, Session } from './session.js';
import { FLUSH_BYTES, FlushQueue, type Protocol, ReplyWriter } from './writer.js';

/** Commands of one connection in flight before it stops reading (a pipeline of 1000 fits). */
const MAX_IN_FLIGHT = 4096;
/** Reply bytes queued in the socket beyond which the connection stops reading. */
const OUTPUT_HIGH_WATER = 1024 * 1024;
/** After the server ends a connection, how long the client has to close its side. */
const CLOSE_GRACE_MS = 5000;

const NOAUTH = new ReplyError(ErrorPrefix.NOAUTH, 'Authentication required.');

export interface ConnectionHost {
  readonly context: ServerContext;
  readonly flushQueue: FlushQueue;
  readonly limits: ParserLimits;
  /** The parser's limits until the client authenticates (with a password set). */
  readonly unauthenticatedLimits: ParserLimits;
  readonly inputBudget: ClientInputBudget;
  readonly memory: MemoryRelease;
  /** A client's AUTH (or HELLO ... AUTH) failed: for the rate-limited log line. */
  authFailed(address: string): void;
  readonly maxPendingReplyBytes: number;
  /** Called once, when the socket has closed. */
  closed(conn: Connection): void;
}

/**
 * A command's place in the reply order. Reused (a connection keeps up to MAX_IN_FLIGHT
 * free), and so are its two callbacks: awaiting a store call allocates no closure.
 */
class Slot implements BatchSlots<ReadResult | undefined | WriteResult> {
  /** Its reply is in `reply`. */
  ready = false;
  reply: Reply = null;
  proto: Protocol = 2;
  /** The last command of its socket read: its replies are written once this one is encoded. */
  endsRead = false;
  /** Where its latency is counted (undefined: an unknown command), from startedAt (performance.now()). */
  stat: CommandStat | undefined = undefined;
  level: Histogram | undefined = undefined;
  startedAt = 0;
  readonly resolve: (reply: Reply) => void;
  readonly reject: (err: unknown) => void;
  /** A fastRead command's answer and key, while its read is in flight (Connection.fastRead). */
  answer: FastRead | undefined = undefined;
  key: Buffer | undefined = undefined;
  /** A fastPut command's blind run, while its put is in flight (Connection.fastPut). */
  run: BlindRun | undefined = undefined;

  constructor(private readonly conn: Connection) {
    this.resolve = (reply) => conn.settle(this, reply);
    this.reject = (err) => conn.settle(this, errorReply(err));
  }

  /** The fast read's or put's result (BatchSlots: the store calls it, no promise between). */
  done(_index: number, result: ReadResult | undefined | WriteResult): void {
    const run = this.run;
    if (run !== undefined) {
      this.run = undefined;
      run.end();
      this.conn.settle(this, OK);
      return;
    }
    const read = result as ReadResult | undefined;
    const answer = this.answer!;
    const key = this.key!;
    this.answer = undefined;
    this.key = undefined;
    let reply: Reply;
    try {
      reply = answer(this.conn.session, key, read);
    } catch (err) {
      reply = errorReply(err);
    }
    this.conn.settle(this, reply);
  }

  fail(err: Error): void {
    this.run?.end();
    this.run = undefined;
    this.answer = undefined;
    this.key = undefined;
    this.conn.settle(this, errorReply(err));
  }

  /** Counts the reply's latency (one clock read) and forgets where. */
  count(latency: LatencyRecorder, reply: Reply): void {
    if (this.stat === undefined) return;
    latency.record(this.stat, this.level!, (performance.now() - this.startedAt) * 1000, reply instanceof ReplyError);
    this.stat = undefined;
    this.level = undefined;
  }
}

export class Connection implements ParserEvents, InputHolder {
  readonly session: Session;
  /** Resolves when the socket has closed. */
  readonly finished: Promise<void>;
  private readonly parser: RespParser;
  private readonly writer: ReplyWriter;
  private queue: Slot[] = [];
  private head = 0;
  private readonly freeSlots: Slot[] = [];
  /** Slots ever taken (tells onData whether its read queued any). */
  private slotsTaken = 0;
  /** Set while onData parses a read: it writes or marks the read's replies itself when done. */
  private reading = false;
  private closing = false;
  private ended = false;
  private paused = false;
  /** performance.now() at the current socket read: the start of its commands' latency. */
  private readAt = 0;
  /** The latency histogram of the session's consistency level, for the readOptions it was found for. */
  private levelOf: object | undefined;
  private levelHistogram: Histogram | undefined;
  /** What the parser held when last reported to the input budget. */
  bufferedInput = 0;

  constructor(
    private readonly socket: Socket,
    private readonly host: ConnectionHost,
    id: number,
  ) {
    this.session = new Session(host.context, id, `${socket.remoteAddress}:${socket.remotePort}`);
    this.parser = new RespParser(this.session.authed ? host.limits : host.unauthenticatedLimits, this, commandNames);
    this.writer = new ReplyWriter(socket, host.context.stats);
    socket.setNoDelay(true);
    socket.on('data', this.onData);
    socket.on('end', () => this.beginClose());
    socket.on('drain', () => this.updateReading());
    // Resets and write errors end in 'close'; without a listener they would crash the process.
    socket.on('error', () => {});
    this.applyIdleTimeout(host.context.options.idleTimeoutMs);
    this.finished = new Promise((resolve) => {
      socket.once('close', () => {
        this.closing = true;
        this.dropInput();
        host.closed(this);
        resolve();
      });
    });
  }

  /** Closes the connection once it has been idle `ms` (no command in flight); 0 = never (CONFIG SET timeout). */
  applyIdleTimeout(ms: number): void {
    if (this.ended) return;
    this.socket.setTimeout(ms, ms === 0 ? undefined : this.onIdle);
    if (ms === 0) this.socket.removeListener('timeout', this.onIdle);
  }

  private readonly onIdle = (): void => {
    if (this.queue.length === this.head) this.socket.destroy();
  };

  /** Stops reading, lets the commands already received answer, then ends the socket. */
  shutdown(): Promise<void> {
    this.beginClose();
    return this.finished;
  }

  /** Closes at once, dropping unsent replies. */
  destroy(): void {
    this.socket.destroy();
  }

  private readonly onData = (chunk: Buffer): void => {
    this.host.context.stats.netInputBytes += chunk.length;
    this.readAt = performance.now();
    this.session.lastCommandAt = Date.now();
    const taken = this.slotsTaken;
    this.reading = true;
    try {
      this.parser.feed(chunk);
    } finally {
      this.reading = false;
    }
    // A fast read or put can settle its slot inside the read (an error known at once), so
    // the read's slots may all be encoded already: then it is written now, as one without.
    if (this.slotsTaken !== taken && this.head < this.queue.length) {
      this.queue[this.queue.length - 1]!.endsRead = true;
      // Replies encoded at once before the first queued command wait for the rest of the read.
      if (this.writer.pendingBytes > 0 && !this.ended) this.host.flushQueue.hold(this.writer);
    } else if (!this.ended) {
      this.writer.flush(); // every reply of this read is encoded: one write
    }
    const held = this.parser.bufferedBytes;
    if (held !== this.bufferedInput) {
      const delta = held - this.bufferedInput;
      this.bufferedInput = held;
      this.host.inputBudget.change(delta);
    }
    this.updateReading();
  };

  /** Stops the parser and gives its buffered input back (budget and memory). */
  private dropInput(): void {
    this.parser.stop();
    const held = this.bufferedInput;
    if (held === 0) return;
    this.bufferedInput = 0;
    this.host.inputBudget.change(-held);
    this.host.memory.released(held);
  }

  /** InputHolder: all clients' input is over maxmemory-clients and this one holds the most. */
  closeForInputBudget(): void {
    const held = this.bufferedInput;
    this.bufferedInput = 0;
    this.parser.stop();
    this.host.memory.released(held);
    this.closeWithError(
      `client input memory limit reached: this connection held the most unparsed input (${held} bytes) when all ` +
        `clients' input passed maxmemory-clients (${this.host.inputBudget.limit} bytes); the connection is closed`,
    );
  }

  /** ParserEvents: the command being received would pass client-query-buffer-limit. */
  overLimit(commandBytes: number): void {
    this.session.server.stats.queryLimitCloses++;
    this.dropInput();
    this.closeWithError(
      `query buffer limit reached: a command of ${commandBytes} bytes or more passes client-query-buffer-limit ` +
        `(${this.parser.currentLimits.maxCommandBytes} bytes); the connection is closed`,
    );
  }

  /** ParserEvents: a command with a bulk over the store's value limit, skipped unread. */
  refused(bulkBytes: number): void {
    if (this.closing) return;
    this.session.server.stats.commandsProcessed++;
    this.push(
      new ReplyError(
        ErrorPrefix.TOOLARGE,
        `an argument of ${bulkBytes} bytes exceeds the limit of ${this.parser.currentLimits.maxValueBytes} bytes of a ` +
          'stored value (16 MiB - 64 KiB: a stored record holds the value with its version metadata); the command was not run',
      ),
      this.session.proto,
    );
  }

  private closeWithError(message: string): void {
    if (this.closing) return;
    this.push(new ReplyError(ErrorPrefix.ERR, message), this.session.proto);
    this.beginClose();
  }

  /** ParserEvents: one command, dispatched now. */
  command(args: Buffer[]): void {
    if (this.closing) return;
    const s = this.session;
    s.server.stats.commandsProcessed++;
    let result: Reply | Promise<Reply>;
    const spec = lookupCommand(args[0]!);
    let stat: CommandStat | undefined;
    if (spec === undefined) result = unknownCommand(args, s);
    else if (!arityFits(spec, args)) {
      result = wrongArity(spec, s);
      s.server.latency.command(spec.name).rejected++;
    } else if (!s.authed && !spec.noAuth) {
      result = NOAUTH;
      s.server.latency.command(spec.name).rejected++;
    } else {
      stat = s.server.latency.command(spec.name);
      try {
        const key = fastReadKey(spec, s, args);
        if (key !== undefined) {
          this.fastRead(spec.fastRead!, key, stat);
          return;
        }
        const run = fastPutRun(spec, s, args);
        if (run !== undefined) {
          this.fastPut(run, args[spec.firstKey]!, args[spec.firstKey + 1]!, stat);
          return;
        }
        result = execute(spec, s, args);
      } catch (err) {
        result = errorReply(err);
      }
    }
    // AUTH (or HELLO ... AUTH) changes which limits the parser applies from the next header.
    const limits = s.authed ? this.host.limits : this.host.unauthenticatedLimits;
    if (this.parser.currentLimits !== limits) this.parser.setLimits(limits);
    if (!s.authed && result instanceof ReplyError && result.prefix === ErrorPrefix.WRONGPASS) this.host.authFailed(s.address);
    // After the command: HELLO 3 answers in RESP3.
    this.push(result, s.proto, stat);
    if (s.quit) this.beginClose();
  }

  /**
   * GET and its kind (CommandSpec.fastRead) with nothing ordering it: its slot is the store
   * read's sink, so no promise is made between the store and the reply.
   */
  private fastRead(answer: FastRead, key: Buffer, stat: CommandStat): void {
    const s = this.session;
    const slot = this.timedSlot(s.proto, stat);
    slot.answer = answer;
    slot.key = key;
    try {
      s.server.store.getInto(key, s.readOptions, slot, 0);
    } catch (err) {
      slot.fail(err as Error); // the slot is queued already: it must settle
    }
  }

  /** A plain SET with only such writes in flight on its key (CommandSpec.fastPut): its slot is the store put's sink. */
  private fastPut(run: BlindRun, key: Buffer, value: Buffer, stat: CommandStat): void {
    const s = this.session;
    const slot = this.timedSlot(s.proto, stat);
    slot.run = run;
    try {
      s.server.store.putInto(key, value, s.overwriteOptions, slot, 0);
    } catch (err) {
      slot.fail(err as Error); // the slot is queued already: it must settle (and end the run)
    }
  }

  /** ParserEvents: the stream is malformed. */
  protocolError(message: string): void {
    this.session.server.stats.protocolErrors++;
    this.push(new ReplyError(ErrorPrefix.ERR, `Protocol error: ${message}`), this.session.proto);
    this.beginClose();
  }

  /** The latency histogram of the session's consistency level now. */
  private levelNow(): Histogram {
    const ro = this.session.readOptions;
    if (this.levelOf !== ro || this.levelHistogram === undefined) {
      this.levelOf = ro;
      this.levelHistogram = this.host.context.latency.level(ro.level ?? DEFAULT_LEVEL);
    }
    return this.levelHistogram;
  }

  private push(result: Reply | Promise<Reply>, proto: Protocol, stat?: CommandStat): void {
    if (stat !== undefined && !(result instanceof Promise)) {
      this.host.context.latency.record(stat, this.levelNow(), (performance.now() - this.readAt) * 1000, result instanceof ReplyError);
    }
    if (!(result instanceof Promise)) {
      if (this.head === this.queue.length) {
        this.writer.write(result, proto);
        this.wrote(false);
        return;
      }
      const slot = this.takeSlot(proto);
      slot.ready = true;
      slot.reply = result;
      return;
    }
    const slot = stat === undefined ? this.takeSlot(proto) : this.timedSlot(proto, stat);
    result.then(slot.resolve, slot.reject);
  }

  /** A slot whose reply's latency counts under `stat`, from this socket read. */
  private timedSlot(proto: Protocol, stat: CommandStat): Slot {
    const slot = this.takeSlot(proto);
    slot.stat = stat;
    slot.level = this.levelNow();
    slot.startedAt = this.readAt;
    return slot;
  }

  private takeSlot(proto: Protocol): Slot {
    const slot = this.freeSlots.pop() ?? new Slot(this);
    slot.proto = proto;
    this.slotsTaken++;
    this.queue.push(slot);
    return slot;
  }

  /** A queued command's reply is ready (Slot's callbacks). */
  settle(slot: Slot, reply: Reply): void {
    slot.count(this.host.context.latency, reply);
    slot.ready = true;
    slot.reply = reply;
    if (slot === this.queue[this.head]) this.drain();
  }

  /** Encodes every completed reply at the front of the queue. */
  private drain(): void {
    const q = this.queue;
    let readDone = false;
    while (this.head < q.length && q[this.head]!.ready) {
      const slot = q[this.head++]!;
      this.writer.write(slot.reply, slot.proto);
      if (slot.endsRead) readDone = true;
      slot.ready = false;
      slot.reply = null;
      slot.endsRead = false;
      if (this.freeSlots.length < MAX_IN_FLIGHT) this.freeSlots.push(slot);
    }
    if (this.head === q.length) {
      q.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > q.length) {
      this.queue = q.slice(this.head);
      this.head = 0;
    }
    this.wrote(readDone);
    this.updateReading();
  }

  /**
   * After replies were encoded: enforce the output limit, finish a close, and write now
   * (`readDone`: the replies of a whole read are in), soon (FLUSH_BYTES or more, or encoded
   * outside a queue drain), or after a hold (the rest of their read is still running).
   */
  private wrote(readDone: boolean): void {
    const pending = this.writer.pendingBytes;
    if (pending + this.socket.writableLength > this.host.maxPendingReplyBytes) {
      this.session.server.stats.outputLimitCloses++;
      this.socket.destroy();
      return;
    }
    if (this.closing && this.head === this.queue.length) this.end();
    else if (readDone) this.writer.flush();
    else if (pending >= FLUSH_BYTES || (this.head === this.queue.length && !this.reading)) this.host.flushQueue.mark(this.writer);
    else if (this.reading) return; // onData decides once the whole read is parsed
    else if (pending > 0) this.host.flushQueue.hold(this.writer);
  }

  private beginClose(): void {
    if (this.closing) return;
    this.closing = true;
    this.parser.stop();
    this.updateReading();
    if (this.head === this.queue.length) this.end();
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.writer.flush();
    this.socket.end();
    // Read (and ignore) until the client's EOF, which is what lets the socket close.
    this.paused = false;
    this.socket.resume();
    this.socket.setTimeout(CLOSE_GRACE_MS, () => this.socket.destroy());
  }

  private updateReading(): void {
    if (this.ended) return;
    const stop = this.closing || this.queue.length - this.head >= MAX_IN_FLIGHT || this.socket.writableLength > OUTPUT_HIGH_WATER;
    if (stop && !this.paused) {
      this.paused = true;
      this.socket.pause();
    } else if (!stop && this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }
}
