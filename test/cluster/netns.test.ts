// The namespace harness itself: loopback hosts talk, a partition really cuts them (silently:
// connects hang), and heal restores them. The cluster's process tests rely on all three.
import { connect, createServer, type Server } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { enterNetns, heal, partition } from '../support/netns.js';

const inside = await enterNetns();

function listen(host: string): Promise<Server> {
  const server = createServer((s) => s.end('hi'));
  return new Promise((resolve) => server.listen(0, host, () => resolve(server)));
}

/** 'ok' if a connection from `from` to the server gets its greeting within `ms`, else 'timeout'/'error'. */
function reach(from: string, server: Server, ms: number): Promise<string> {
  const { address, port } = server.address() as { address: string; port: number };
  return new Promise((resolve) => {
    const s = connect({ host: address, port, localAddress: from });
    const timer = setTimeout(() => {
      s.destroy();
      resolve('timeout');
    }, ms);
    s.on('data', () => {
      clearTimeout(timer);
      s.destroy();
      resolve('ok');
    });
    s.on('error', () => {
      clearTimeout(timer);
      resolve('error');
    });
  });
}

if (inside) {
  test('loopback hosts reach each other, a partition drops their packets, heal restores them', async () => {
    const b = await listen('127.0.0.3');
    const c = await listen('127.0.0.4');
    try {
      assert.is(await reach('127.0.0.2', b, 5000), 'ok');
      partition(['127.0.0.2'], ['127.0.0.3']);
      assert.is(await reach('127.0.0.2', b, 500), 'timeout', 'a DROP partition makes connects hang');
      assert.is(await reach('127.0.0.2', c, 5000), 'ok', 'hosts outside the partition still talk');
      heal();
      assert.is(await reach('127.0.0.2', b, 5000), 'ok');
    } finally {
      heal();
      b.close();
      c.close();
    }
  });
}

test.run();
