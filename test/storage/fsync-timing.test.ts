// The real Vfs times every fsync into the histogram it is given (the shard's fsync stats):
// a file's sync(), its syncInBackground() and a directory's syncDir() each count once, with
// real files; without a histogram nothing is timed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Histogram } from '../../src/histogram.js';
import { RealVfs } from '../../src/storage/index.js';

test('sync, syncInBackground and syncDir each record one fsync duration', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ringkv-fsync-timing-'));
  try {
    const fsyncs = new Histogram();
    const vfs = new RealVfs(fsyncs);
    const file = vfs.open(join(dir, 'f'), 'create');
    file.append(new Uint8Array(4096).fill(7));
    file.sync();
    assert.is(fsyncs.count, 1);
    file.append(new Uint8Array(4096).fill(8));
    await new Promise<void>((resolve, reject) => file.syncInBackground!((err) => (err === null ? resolve() : reject(err))));
    assert.is(fsyncs.count, 2);
    file.close();
    vfs.syncDir(dir);
    assert.is(fsyncs.count, 3);
    assert.is(fsyncs.summary().buckets.reduce((n, [, c]) => n + c, 0), 3);
    // An untimed Vfs (the default) records nowhere and still syncs.
    const plain = new RealVfs().open(join(dir, 'g'), 'create');
    plain.append(new Uint8Array(16));
    plain.sync();
    plain.close();
    assert.is(fsyncs.count, 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
