// Runs on: any thread. An in-memory model of the StorageEngine contract: a Map and a sort.
// For tests of logic (the conformance suite and the random-ops check compare the LSM
// engine with it), never as a production store.
import { TOKEN_BYTES, createTokenHasher, readToken, type TokenHasher } from '../../hash/index.js';
import { ErrorCode, RingkvError } from '../../errors.js';
import { makeIkey, MAX_KEY_BYTES, MAX_VALUE_BYTES } from '../record/index.js';
import type { EngineStats, ScanEntry, StorageEngine, WriteOp } from './types.js';

export class MemoryEngine implements StorageEngine {
  /** Keyed by the ikey as latin1 text, so sorting the keys sorts by (token, key). */
  private readonly map = new Map<string, Uint8Array>();
  private lastSeq = 0;
  private closed = false;

  private constructor(private readonly hasher: TokenHasher) {}

  static async open(): Promise<MemoryEngine> {
    return new MemoryEngine(await createTokenHasher());
  }

  private ikeyText(key: Uint8Array): string {
    this.hasher.hash(key);
    return Buffer.from(makeIkey(key, this.hasher.hi, this.hasher.lo)).toString('latin1');
  }

  get(key: Uint8Array): Uint8Array | undefined {
    this.checkOpen();
    return this.map.get(this.ikeyText(key));
  }

  put(key: Uint8Array, value: Uint8Array): void {
    this.write([{ type: 'put', key, value }]);
  }

  delete(key: Uint8Array): void {
    this.write([{ type: 'delete', key }]);
  }

  write(ops: readonly WriteOp[]): void {
    this.checkOpen();
    for (const op of ops) {
      if (op.key.length > MAX_KEY_BYTES) throw new RingkvError(ErrorCode.TOO_LARGE, 'key too large');
      if (op.type === 'put' && op.value.length > MAX_VALUE_BYTES) throw new RingkvError(ErrorCode.TOO_LARGE, 'value too large');
    }
    for (const op of ops) {
      if (op.type === 'put') this.map.set(this.ikeyText(op.key), op.value.slice());
      else this.map.delete(this.ikeyText(op.key));
      this.lastSeq++;
    }
  }

  *scan(fromToken: bigint, toToken: bigint): IterableIterator<ScanEntry> {
    this.checkOpen();
    const sorted = [...this.map.keys()].sort();
    for (const text of sorted) {
      const ikey = Buffer.from(text, 'latin1');
      const token = readToken(ikey, 0);
      if (token < fromToken || token >= toToken) continue;
      const value = this.map.get(text);
      if (value) yield { key: new Uint8Array(ikey.subarray(TOKEN_BYTES)), token, value: value.slice() };
    }
  }

  async flush(): Promise<void> {}
  async compact(): Promise<void> {}

  stats(): EngineStats {
    return {
      lastSeq: this.lastSeq, approxEntries: this.map.size, memtableBytes: 0, frozenMemtables: 0, tables: 0, tableBytes: 0, walBytes: 0,
      flushes: 0, compactions: 0, compactionBytesRead: 0, compactionBytesWritten: 0,
      blockCache: { hits: 0, misses: 0, bytes: 0, capacity: 0 },
      recovery: { walRecords: 0, droppedBytes: 0, damage: [], orphansRemoved: [], salvagedRecords: 0, damagedSegments: [], needsRepair: false },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private checkOpen(): void {
    if (this.closed) throw new RingkvError(ErrorCode.CLOSED, 'the storage engine is closed');
  }
}
