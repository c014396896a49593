// Runs on: the main thread; pure logic, time and randomness injected (time-source.ts). Who is
// in the cluster: node records, gossip and its messages, the failure detector, the ring in
// force and the staged one, and the snapshot `ringkv status` shows.
export { systemTime, type TimeSource } from './time-source.js';
export type { ClusterSnapshot } from './cluster-snapshot.js';
export { Gossiper } from './gossip.js';
export type { GossipMessage } from './gossip-message.js';
export type { Destination } from './gossip-targets.js';
export type { GossipOptions } from './gossip-options.js';
export { nodeOfMember, nodesOfRing } from './ring-state.js';
export type { NodeStatus, NodeRecord } from './node-record.js';
export type { Liveness } from './failure-detector.js';
