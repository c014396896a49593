// Runs on: the main thread. Moving ranges when the ring changes: plans, streaming them from
// their current owners (with resumable files and fills), and range cleanup afterwards.
export { DEFAULT_CLEANUP_DELAY_MS, RangeCleanup, type CleanupStatus, type RangeCleanupOptions } from './range-cleanup.js';
export { DEFAULT_TRANSFER_BYTES_PER_SECOND, Transfers, type TransferOptions, type TransferStatus } from './transfer.js';
export { FILLING_FILE, Filling, FillingTransport, parseTransferDone, type TransferDone } from './transfer-fill.js';
