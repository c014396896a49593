// Runs on: any thread.
// Causality for ringkv's objects: actors (replica incarnations), dotted version vectors,
// sibling sets, opaque contexts, the object codec and clock pruning. Pure code: no I/O,
// no timers, nothing thread-specific.
export { type Actor, actorKey, checkActor, compareActors, sameActor } from './actor.js';
export {
  type Dot,
  type Ordering,
  type VersionVector,
  EMPTY_CLOCK,
  clockEquals,
  clockFrom,
  compareClocks,
  concurrent,
  counterOf,
  covers,
  descends,
  dominates,
  formatClock,
  increment,
  mergeClocks,
} from './clock.js';
export {
  type PutOptions,
  type ReadOptions,
  type Sibling,
  type VObject,
  type Write,
  contextOf,
  coordinateOverwrite,
  coordinatePut,
  descendsObject,
  equalObjects,
  isExpired,
  isTombstoneOnly,
  mergeAll,
  mergeObjects,
  visibleSiblings,
  visibleValues,
} from './object.js';
export { contextFromString, contextToString, decodeContext, encodeContext } from './context.js';
export { type DecodeOptions, type SingleRead, type ValueCopier, decodeObject, decodeObjectClock, readSingle, encodeObject, encodeObjectInto, objectSize } from './codec.js';
export { type PruneOptions, pruneObject } from './prune.js';
export { type VersionMetrics, versionMetrics, versionMetricsSnapshot } from './metrics.js';
export { contextSize, encodeContextInto } from './context.js';
export { addDot } from './clock.js';
