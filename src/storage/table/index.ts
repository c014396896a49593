// Runs on: the thread that owns an engine, or a piscina job thread (merges). storage/table/:
// the SSTables, `<n>.sst`. Data blocks (block-format.ts: entries, trailer, lz4), the index
// and footer (sstable-format.ts), Bloom filters; the writer that lays them out, the reader
// and iterator that search them, and the cache of decoded blocks.
export { TableWriter, type TableProperties, type TableWriterOptions } from './sstable-writer.js';
export { TableReader, TableIterator, newTableGetResult, type TableGetResult } from './sstable-reader.js';
export { DAMAGED_TABLE_SUFFIX, parseTableFileName, tableFileName } from './sstable-format.js';
export { BlockCache, type BlockCacheStats } from './block-cache.js';
