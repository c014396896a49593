// Runs on: the main thread. Links between nodes over TCP: the peer protocol, links and their
// outboxes, the peer server, the transport that sends replica requests to other nodes, the
// routed transport (local or remote replica), and what a node refuses of its peers' requests.
export { PeerServer, errorReply, type PeerControlHandler, type PeerRequestHandler, type PeerRequestSender, type PeerServerCounters, type PeerServerOptions } from './peer-server.js';
export { PeerTransport, type PeerAddress, type PeerLinkStats, type PeerTransportOptions } from './peer-transport.js';
export { RoutedTransport, localReplicaHandler, localReplicaSender } from './routed-transport.js';
export { DEFAULT_LINK_LIMITS, silentLogger, type PeerIdentity, type PeerLinkLimits, type PeerLogger } from './peer-config.js';
export { PeerFrameType, RefusalCode } from './peer-protocol.js';
export { SEED_PREFIX, isSeedId } from './peer-link.js';
export { refuseStale } from './request-guard.js';
