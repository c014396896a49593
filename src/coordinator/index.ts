// Runs on: the main thread. Routing, quorum (N/R/W), sloppy quorum, read repair, hinted handoff.
export { Coordinator, type QuorumDefaults } from './coordinator.js';
export { CONSISTENCY_LEVELS, type ConsistencyLevel, type CoordinatorCounters, type ReadResult, type Receipt, type RequestOptions, type StorageFaultSink, type WriteOptions, type WriteResult } from './requests.js';
export { Handoff } from './handoff.js';
export { type Transport, timeoutError, unavailableError } from './transport.js';
export { InProcessTransport } from './in-process-transport.js';
export { MAX_PUT_VALUE_BYTES, ShardTransport, type ShardLoad } from './shard-transport.js';
export type { ReplySink } from './transport.js';
export type { BatchSlots } from './op.js';
export { InFlight, PromiseSink, RequestGroup, RequestTable, copyReply } from './request-table.js';
