// Runs on: any thread. The ring: Q equal partitions of the token space (Dynamo's strategy 3,
// as in Riak), claimed by members in proportion to their weight, with preference lists that
// prefer distinct racks and hosts, per-DC replication, and sloppy-quorum fallbacks.
// Pure code: imports nothing thread-specific.
export { Ring, type Move, type RingJSON, type RingOptions } from './ring.js';
export { DEFAULT_PARTITIONS, MAX_PARTITIONS, nodeOf, type Member } from './member.js';
export { claim, DEFAULT_SPREAD, type Assignment, type ClaimOptions } from './claim.js';
export { placementWarnings, type PlacementView } from './placement-warnings.js';
export { fallbacks, preferenceList, type Fallback, type PlacementOptions, type Replication, type RingView } from './preference-list.js';
export { invalid, partitionBits } from './member.js';
