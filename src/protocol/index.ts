// Runs on: any thread. The frame protocol: one binary format for shard queues and TCP peers.
export { FRAME_HEADER_BYTES, FrameReader, FrameWriter, MAX_FRAME_BYTES, PROTOCOL_VERSION, protocolError } from './frame.js';
export { Slab } from './slab.js';
export { FrameType, HASH_BYTES, MAX_CLOCK_SKEW_MS, MAX_TREE_DEPTH, REPLICATE_MANY_MAX_BYTES, REPLICATE_MANY_MAX_ENTRIES, decodeReply, decodeRequest, encodeReply, encodeReplyInto, encodeRequest, encodeRequestInto, replyFrameSize, requestFrameSize } from './messages.js';
export type { DropRequest, GetRequest, HintDoneRequest, HintEntry, HintRequest, HintsForRequest, KeyRef, ObjectReply, PurgeRequest, RangeEntry, RangeRequest, ScanRequest, TokenBound, TreeRequest, PutRequest, Reply, ReplicateManyRequest, ReplicateRequest, Request } from './messages.js';
