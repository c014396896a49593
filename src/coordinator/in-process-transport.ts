// Runs on: one thread (tests). A Transport to Replicas living in this very thread: requests
// are queued and handled as one batch per replica per macrotask turn (as a shard drains its
// ring), and the frames really are encoded and decoded. Replicas can be marked down or made
// to stall, to test quorum, timeouts, hints and handoff without threads.
import { ErrorCode, RingkvError } from '../errors.js';
import { FrameReader, FrameWriter, decodeReply, decodeRequest, encodeReply, encodeRequest, type Reply, type Request } from '../protocol/index.js';
import type { Replica } from '../shard/index.js';
import { timeoutError, unavailableError, type Transport } from './transport.js';

interface Pending {
  frame: Uint8Array;
  resolve: (reply: Reply) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class InProcessTransport implements Transport {
  private readonly queues = new Map<string, Pending[]>();
  private readonly down = new Set<string>();
  /** Replicas that receive requests but never answer (a paused process). */
  readonly stalled = new Set<string>();
  private readonly upListeners: ((replica: string) => void)[] = [];
  private readonly w = new FrameWriter();
  private readonly r = new FrameReader();
  private nextId = 1;

  constructor(private readonly replicas: Map<string, Replica>) {}

  request(replica: string, req: Request, timeoutMs: number): Promise<Reply> {
    if (this.down.has(replica) || !this.replicas.has(replica)) return Promise.reject(unavailableError(replica, 'it is down'));
    const frame = encodeRequest(this.w, this.nextId++, req).slice();
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        const q = this.queues.get(replica);
        const i = q ? q.indexOf(entry) : -1;
        if (i >= 0) q!.splice(i, 1);
        reject(timeoutError(replica, timeoutMs));
      }, timeoutMs);
      const entry: Pending = { frame, resolve, reject, timer };
      let q = this.queues.get(replica);
      if (!q) {
        q = [];
        this.queues.set(replica, q);
        setImmediate(() => this.drain(replica));
      }
      q.push(entry);
    });
  }

  isDown(replica: string): boolean {
    return this.down.has(replica);
  }

  onUp(listener: (replica: string) => void): void {
    this.upListeners.push(listener);
  }

  setDown(replica: string, down: boolean): void {
    if (down) {
      this.down.add(replica);
      for (const p of this.queues.get(replica) ?? []) {
        clearTimeout(p.timer);
        p.reject(unavailableError(replica, 'it went down'));
      }
      this.queues.delete(replica);
    } else if (this.down.delete(replica)) {
      for (const l of this.upListeners) l(replica);
    }
  }

  private drain(replica: string): void {
    const q = this.queues.get(replica) ?? [];
    this.queues.delete(replica);
    if (this.stalled.has(replica) || this.down.has(replica)) return; // requests time out
    const target = this.replicas.get(replica);
    if (!target || q.length === 0) return;
    const requests = q.map((p) => {
      this.r.reset(p.frame);
      return decodeRequest(this.r);
    });
    let replies: Reply[];
    try {
      replies = target.handleBatch(requests);
    } catch (err) {
      const e = err instanceof RingkvError ? err : new RingkvError(ErrorCode.IO, String(err));
      for (const p of q) { clearTimeout(p.timer); p.reject(e); }
      return;
    }
    q.forEach((p, i) => {
      clearTimeout(p.timer);
      this.r.reset(encodeReply(this.w, 0, replies[i]!).slice());
      p.resolve(decodeReply(this.r));
    });
  }
}
