// Runs on: the main thread. One shard's link as the ShardTransport keeps it: its worker,
// channel and control proxy, and (as a RequestGroup of request-table.ts) its request ids
// and requests in flight.
import type { Worker } from 'node:worker_threads';
import type { Remote } from 'comlink';
import type { CoordinatorChannel } from '../ipc/index.js';
import type { ShardControl } from '../shard/index.js';
import { RequestGroup } from './request-table.js';

/** One shard's worker, channel and requests in flight. Main thread only. */
export class ShardLink extends RequestGroup {
  worker: Worker | undefined;
  channel: CoordinatorChannel | undefined;
  control: Remote<ShardControl> | undefined;
  up = false;
  restarts = 0;
  /** Stopped for good (the node shrank): not restarted when its worker exits. */
  retired = false;
  /** Requests waiting for the worker's restart (whenRestarted): called with true once it is up again, false if the transport closes. */
  upWaiters: ((up: boolean) => void)[] = [];
  /** Control calls waiting for the worker: failed when it exits (a comlink call to a dead worker never settles). */
  readonly controlCalls = new Set<(err: Error) => void>();

  constructor(readonly id: string, readonly index: number) {
    super();
  }
}

/** One shard link as linkStats() reports it (the counters start again with each restart). */
export interface LinkStats {
  up: boolean;
  restarts: number;
  /** Requests waiting for their reply. */
  inFlight: number;
  /** Big requests whose last fragment is in the ring. */
  bigRequestsWritten: number;
  requestFragmentsWritten: number;
  /** Bytes of big requests accepted but not yet in the ring. */
  bigRequestBytesQueued: number;
  /** Bytes of a big reply received so far while it is incomplete. */
  partialReplyBytes: number;
}
