// A peer node in a process of its own (for SIGSTOP/SIGCONT tests): serves replica n2/s0 on
// 127.0.0.3 and prints its port as one JSON line; exits when stdin closes.
import { servedNode } from './peer-harness.js';

const n = await servedNode('n2', 2);
process.stdout.write(JSON.stringify({ port: n.server.address.port }) + '\n');
process.stdin.resume();
process.stdin.on('end', () => void n.close().then(() => process.exit(0)));
