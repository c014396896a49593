// Runs on: the main thread. What big values need from the store beneath them: versioned
// puts and gets of single objects and a walk over every key, reserved ones included.
import type { ReadResult, RequestOptions, WriteOptions, WriteResult } from '../coordinator/index.js';

export interface ObjectIo {
  put(key: Uint8Array, value: Uint8Array | null, opts: WriteOptions): Promise<WriteResult>;
  get(key: Uint8Array, opts: RequestOptions): Promise<ReadResult | undefined>;
  /** One page of a walk over every key (reserved ones too); cursor '0' starts, and a returned '0' ends it. */
  scan(cursor: string, count: number): Promise<{ keys: Uint8Array[]; cursor: string }>;
}

/** Only the request part of `opts` (N, R, W, level, timeout, sloppiness): what a chunk's put or get takes from its value's. */
export function requestPart(opts: RequestOptions): RequestOptions {
  const out: RequestOptions = {};
  if (opts.n !== undefined) out.n = opts.n;
  if (opts.r !== undefined) out.r = opts.r;
  if (opts.w !== undefined) out.w = opts.w;
  if (opts.level !== undefined) out.level = opts.level;
  if (opts.timeoutMs !== undefined) out.timeoutMs = opts.timeoutMs;
  if (opts.sloppy !== undefined) out.sloppy = opts.sloppy;
  if (opts.notfoundOk !== undefined) out.notfoundOk = opts.notfoundOk;
  return out;
}
