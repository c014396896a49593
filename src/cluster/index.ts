// Runs on: the main thread. A node among nodes: peer links (TCP), routing between local and remote replicas.
export { PeerServer, errorReply, type PeerControlHandler, type PeerRequestHandler, type PeerRequestSender, type PeerServerCounters, type PeerServerOptions } from './peer/peer-server.js';
export { PeerTransport, type PeerAddress, type PeerLinkStats, type PeerTransportOptions } from './peer/peer-transport.js';
export { RoutedTransport, localReplicaHandler, localReplicaSender } from './peer/routed-transport.js';
export { DEFAULT_LINK_LIMITS, silentLogger, type PeerIdentity, type PeerLinkLimits, type PeerLogger } from './peer/peer-config.js';
export { PeerFrameType, RefusalCode } from './peer/peer-protocol.js';
export type { ClusterAdmin, ShardPolicyFigures, TransferFigures } from './cluster-admin.js';
export { DEFAULT_CLEANUP_DELAY_MS } from './transfer/range-cleanup.js';
export { DEFAULT_TRANSFER_BYTES_PER_SECOND } from './transfer/transfer.js';
export { ClusterNode } from './node.js';
