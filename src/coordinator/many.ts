// Runs on: the main thread. getMany and putMany: one get or put per key (get.ts, put.ts),
// each its own request with its own quorum, whose results gather into one promise (a
// ManyOp), in the order of the keys, rejected by the first failure as Promise.all would be.
import { GetOp, type GetHost } from './get.js';
import { NO_OPTIONS, capture, rejecter, resolver, type BatchSlots, type OpHost } from './op.js';
import { PutOp } from './put.js';
import type { ReadResult, RequestOptions, WriteOptions, WriteResult } from './requests.js';

/** put() of every entry, each its own versioned write; results in order, one promise. */
export function putMany(c: OpHost, entries: readonly (readonly [Uint8Array, Uint8Array | null])[], opts: WriteOptions = NO_OPTIONS): Promise<WriteResult[]> {
  const promise = new Promise<WriteResult[]>(capture);
  const many = new ManyOp<WriteResult>(entries.length, resolver(), rejecter());
  for (let i = 0; i < entries.length; i++) {
    const op = new PutOp(c);
    op.many = many;
    op.index = i;
    const [key, value] = entries[i]!;
    op.begin(key, value, opts);
  }
  return promise;
}

/** get() of every key; results in the order of `keys`, one promise. */
export function getMany(c: GetHost, keys: readonly Uint8Array[], opts: RequestOptions = NO_OPTIONS): Promise<(ReadResult | undefined)[]> {
  const promise = new Promise<(ReadResult | undefined)[]>(capture);
  const many = new ManyOp<ReadResult | undefined>(keys.length, resolver(), rejecter());
  for (let i = 0; i < keys.length; i++) {
    const op = c.freeGets.pop() ?? new GetOp(c);
    op.many = many;
    op.index = i;
    op.begin(keys[i]!, opts);
  }
  return promise;
}

/** Results of getMany/putMany: one promise for the whole batch, rejected by the first failure (as Promise.all). */
export class ManyOp<T> implements BatchSlots<T> {
  readonly results: T[];
  private remaining: number;
  private failed = false;

  constructor(
    count: number,
    private readonly resolve: (results: T[]) => void,
    private readonly reject: (err: Error) => void,
  ) {
    this.results = new Array<T>(count);
    this.remaining = count;
    if (count === 0) resolve(this.results);
  }

  done(index: number, result: T): void {
    if (this.failed) return;
    this.results[index] = result;
    if (--this.remaining === 0) this.resolve(this.results);
  }

  fail(err: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.reject(err);
  }
}
