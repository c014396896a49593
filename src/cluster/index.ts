// Runs on: the main thread. A node among nodes: node.ts wires membership/ (gossip, failure
// detection, the ring in force), peer/ (TCP links, routing between local and remote
// replicas), transfer/ (range streaming and cleanup) and scaling/ (the shard policy).
export {
  DEFAULT_LINK_LIMITS,
  PeerFrameType,
  PeerServer,
  PeerTransport,
  RefusalCode,
  RoutedTransport,
  errorReply,
  localReplicaHandler,
  localReplicaSender,
  silentLogger,
  type PeerAddress,
  type PeerControlHandler,
  type PeerIdentity,
  type PeerLinkLimits,
  type PeerLinkStats,
  type PeerLogger,
  type PeerRequestHandler,
  type PeerRequestSender,
  type PeerServerCounters,
  type PeerServerOptions,
  type PeerTransportOptions,
} from './peer/index.js';
export { DEFAULT_CLEANUP_DELAY_MS, DEFAULT_TRANSFER_BYTES_PER_SECOND } from './transfer/index.js';
export type { ClusterAdmin, ShardPolicyFigures, TransferFigures } from './cluster-admin.js';
export { ClusterNode } from './node.js';
