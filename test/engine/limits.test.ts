// Limits of the worker engine: a value too large for a shard ring's frame fails with
// ERR_TOO_LARGE (not a quorum error), and the store keeps serving.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { open } from '../../src/index.js';

test('a value larger than a shard frame fails with ERR_TOO_LARGE; smaller ones and later requests work', async () => {
  const dir = mkdtempSync(`${tmpdir()}/ringkv-limits-`);
  const db = await open({ dir, shards: 2, storage: { syncMode: 'none' } });
  try {
    await db.put('big', new Uint8Array(2 << 20)).then(
      () => assert.unreachable('a 2 MiB value went through'),
      (e) => assert.is(e.code, 'ERR_TOO_LARGE'),
    );
    await db.put('fits', new Uint8Array(200_000).fill(7));
    const r = await db.get('fits');
    assert.is(r!.values[0]!.length, 200_000);
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
