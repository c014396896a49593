// Runs on: the main thread. What a caller passes to the coordinator's requests and what it
// gets back: options (N/R/W, consistency level, timeout, context, TTL) and results with
// their receipt. Shared by coordinator.ts and the request types (put.ts, get.ts, many.ts).
/**
 * Cassandra's consistency levels, for a request instead of numeric R and W. LOCAL_* and
 * EACH_QUORUM need per-DC replication in the ring; quorum = floor(replicas / 2) + 1.
 */
export const CONSISTENCY_LEVELS = ['ONE', 'QUORUM', 'ALL', 'LOCAL_ONE', 'LOCAL_QUORUM', 'EACH_QUORUM'] as const;
export type ConsistencyLevel = (typeof CONSISTENCY_LEVELS)[number];

export interface RequestOptions {
  n?: number;
  r?: number;
  w?: number;
  /** A consistency level: sets both R and W (r and w are then ignored). */
  level?: ConsistencyLevel;
  timeoutMs?: number;
  /** false: strict quorum (only primaries count, for writes and reads). */
  sloppy?: boolean;
  /**
   * Reads: whether a fallback's not-found counts toward R (Riak's notfound_ok; default
   * true). false: only primaries' not-founds and fallbacks that hold the key count.
   */
  notfoundOk?: boolean;
}

export interface WriteOptions extends RequestOptions {
  /** The context of the read this write follows: it supersedes exactly what that read saw. */
  context?: Uint8Array;
  /** The value expires this many ms after the write. */
  ttlMs?: number;
  /** The value expires at this time (ms since the epoch; EXPIREAT, KEEPTTL); wins over ttlMs. */
  expiresAt?: number;
  /** Supersede whatever the coordinating replica holds (Redis SET semantics), context or not. */
  overwrite?: boolean;
  /**
   * The value is a decimal 64-bit delta the coordinating replica adds to the integer it
   * holds (Redis INCRBY, one step at the replica: src/shard/increment.ts). Never retried on
   * another replica once sent: a timeout leaves its outcome unknown, as a Redis timeout does.
   */
  increment?: boolean;
}

/** What happened to a request: who answered, whether fallbacks stood in. */
export interface Receipt {
  /** Replicas that stored the write (or answered the read). */
  replicas: string[];
  /** Fallback replicas that keep a hint, and the primary each stands in for. */
  hints: { replica: string; for: string }[];
  /** Concurrent values of the key after the write (or in the read). */
  siblings: number;
  /** Reads: the replicas among `replicas` that stood in for down primaries (sloppy read). */
  fallbacks?: string[];
}

export interface WriteResult {
  context: Uint8Array;
  receipt: Receipt;
  /** An increment's result: the integer the key now holds. */
  sum?: bigint;
}

export interface ReadResult {
  /** Every concurrent value (one in the common case). */
  values: Uint8Array[];
  /** Pass it to the write that resolves these values. */
  context: Uint8Array;
  /** When each value expires (parallel to `values`), ms since the epoch; 0 = never. */
  expiresAt: number[];
  receipt: Receipt;
}

/** Counters for stats and metrics. */
export interface CoordinatorCounters {
  puts: number;
  gets: number;
  quorumFailures: number;
  hintsWritten: number;
  readRepairs: number;
}

/** Where the coordinator reports replicas' storage errors, and the first success after one. */
export interface StorageFaultSink {
  /** `replica` answered a write with ERR_IO / ERR_NO_SPACE (`message` names the file). */
  failed(replica: string, code: string, message: string): void;
  /** `replica` stored a write. Called for every write: keep it cheap when nothing failed. */
  stored(replica: string): void;
  /** `replica` answered a read with ERR_CORRUPTION (a table block failed its checksum there). */
  corrupt?(replica: string): void;
}
