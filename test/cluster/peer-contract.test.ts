// The store contract over TCP: a Store on n1 whose ring holds n1/s0 (in this thread),
// n2/s0 and n3/s0 (PeerServers on 127.0.0.3 and .4), every write replicated to all three.
import { storeContract } from '../support/store-contract.js';
import { peerCluster } from './peer-harness.js';

storeContract('three nodes over TCP peer links (N=3, R=W=2)', { create: async () => (await peerCluster()).store });
