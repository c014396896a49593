// Runs on: the main thread. One Transport for a node in a cluster: ring members are named
// '<node>/s<k>'; this node's own ('<self>/s<k>') go to its local transport as 's<k>' (the
// ShardTransport's or InProcessTransport's ids), every other to the PeerTransport. So a
// remote replica is just another replica to the coordinator.
//
// localReplicaHandler (and localReplicaSender, its form without a promise per request) is
// the other half: the peer server's handler on a node, mapping an incoming '<self>/s<k>' to
// the same local transport.
import { unavailableError, type ReplySink, type Transport } from '../../coordinator/index.js';
import type { Reply, Request } from '../../protocol/index.js';
import type { PeerRequestHandler, PeerRequestSender } from './peer-server.js';

/** Replica ids a sender remembers (a node has a few shards; a peer naming thousands gets no cache). */
const MAX_CACHED_IDS = 1024;

export class RoutedTransport implements Transport {
  private readonly prefix: string;
  /** '<self>/s<k>' -> 's<k>', undefined for another node's replica (parsed once per id). */
  private readonly localIds = new Map<string, string | undefined>();

  constructor(
    readonly self: string,
    private readonly local: Transport,
    private readonly peers: Transport,
  ) {
    this.prefix = `${self}/`;
  }

  request(replica: string, req: Request, timeoutMs: number): Promise<Reply> {
    const id = this.localId(replica);
    return id === undefined ? this.peers.request(replica, req, timeoutMs) : this.local.request(id, req, timeoutMs);
  }

  send(replica: string, req: Request, timeoutMs: number, sink: ReplySink, tag: number): void {
    const id = this.localId(replica);
    const t = id === undefined ? this.peers : this.local;
    const target = id ?? replica;
    if (t.send !== undefined) {
      t.send(target, req, timeoutMs, sink, tag);
      return;
    }
    t.request(target, req, timeoutMs).then(
      (reply) => sink.onReply(reply, tag),
      (err: Error) => sink.onError(err, tag),
    );
  }

  isDown(replica: string): boolean {
    const id = this.localId(replica);
    return id === undefined ? this.peers.isDown(replica) : this.local.isDown(id);
  }

  onUp(listener: (replica: string) => void): void {
    this.local.onUp((id) => listener(this.prefix + id));
    this.peers.onUp(listener);
  }

  whenRestarted(replica: string, timeoutMs: number): Promise<boolean> | undefined {
    const id = this.localId(replica);
    return id === undefined ? this.peers.whenRestarted?.(replica, timeoutMs) : this.local.whenRestarted?.(id, timeoutMs);
  }

  /** The local transport's id of a replica of this node, undefined for another node's. */
  localId(replica: string): string | undefined {
    if (this.localIds.has(replica)) return this.localIds.get(replica);
    const id = replica.startsWith(this.prefix) ? replica.slice(this.prefix.length) : undefined;
    this.localIds.set(replica, id);
    return id;
  }
}

/** The peer server's handler of node `self`: '<self>/s<k>' goes to `local` as 's<k>'; any other replica is refused. */
export function localReplicaHandler(self: string, local: Transport): PeerRequestHandler {
  const prefix = `${self}/`;
  return (replica, req, timeoutMs) => {
    if (!replica.startsWith(prefix)) return Promise.reject(unavailableError(replica, `it is not a replica of node ${self}`));
    return local.request(replica.slice(prefix.length), req, timeoutMs);
  };
}

/**
 * localReplicaHandler's allocation-light form for PeerServer's `sender`: through the local
 * transport's send() when it has one (replies stay views into its queue: no copy per value).
 */
export function localReplicaSender(self: string, local: Transport): PeerRequestSender {
  const prefix = `${self}/`;
  const ids = new Map<string, string>();
  return (replica, req, timeoutMs, sink, tag) => {
    let id = ids.get(replica);
    if (id === undefined) {
      if (!replica.startsWith(prefix)) {
        sink.onError(unavailableError(replica, `it is not a replica of node ${self}`), tag);
        return;
      }
      id = replica.slice(prefix.length);
      if (ids.size < MAX_CACHED_IDS) ids.set(replica, id);
    }
    if (local.send !== undefined) {
      local.send(id, req, timeoutMs, sink, tag);
      return;
    }
    local.request(id, req, timeoutMs).then(
      (reply) => sink.onReply(reply, tag),
      (err: Error) => sink.onError(err, tag),
    );
  };
}
