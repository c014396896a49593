// Runs on: the main thread. Routing, quorum (N/R/W), sloppy quorum, read repair, hinted handoff.
export { CONSISTENCY_LEVELS, Coordinator, type ConsistencyLevel, type CoordinatorCounters, type QuorumDefaults, type ReadResult, type Receipt, type RequestOptions, type StorageFaultSink, type WriteOptions, type WriteResult } from './coordinator.js';
export { Handoff } from './handoff.js';
export { type Transport, timeoutError, unavailableError } from './transport.js';
export { InProcessTransport } from './in-process-transport.js';
