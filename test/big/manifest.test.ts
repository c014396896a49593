// The manifest format of big values (src/big/manifest.ts) and the reserved key space
// (src/big/keys.ts): round trips, and every damaged or foreign value read as plain.
import { createHash } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CHUNK_BYTES, chunkHashOf, chunkKey, chunkLength, decodeManifest, encodeManifest, isChunkKey, isMarkerKey, isReservedKey, markedKey, markerKey, type Manifest } from '../../src/big/index.js';

function manifestOf(size: number): Manifest {
  const count = Math.ceil(size / CHUNK_BYTES);
  const hashes = Array.from({ length: count }, (_, i) => createHash('sha256').update(`chunk ${i}`).digest());
  return { size, chunkBytes: CHUNK_BYTES, expiresAt: 1_700_000_000_000, hashes };
}

test('a manifest round trips: size, chunk size, expiry and every hash in order', () => {
  for (const size of [0, 1, CHUNK_BYTES, CHUNK_BYTES + 1, 512 * CHUNK_BYTES]) {
    const m = manifestOf(size);
    const back = decodeManifest(encodeManifest(m))!;
    assert.ok(back, `size ${size}`);
    assert.is(back.size, size);
    assert.is(back.chunkBytes, CHUNK_BYTES);
    assert.is(back.expiresAt, m.expiresAt);
    assert.is(back.hashes.length, m.hashes.length);
    for (let i = 0; i < m.hashes.length; i++) assert.ok(Buffer.from(back.hashes[i]!).equals(m.hashes[i]!));
  }
  const m = manifestOf(CHUNK_BYTES + 1);
  assert.is(chunkLength(m, 0), CHUNK_BYTES);
  assert.is(chunkLength(m, 1), 1);
});

test('a value is a manifest only when everything checks: a flipped byte, a cut, text or the bare magic are plain values', () => {
  const bytes = encodeManifest(manifestOf(3 * CHUNK_BYTES));
  for (let i = 0; i < bytes.length; i++) {
    const bad = Buffer.from(bytes);
    bad[i] = bad[i]! ^ 0x01;
    assert.is(decodeManifest(bad), undefined, `byte ${i} flipped`);
  }
  assert.is(decodeManifest(bytes.subarray(0, bytes.length - 1)), undefined);
  assert.is(decodeManifest(Buffer.concat([bytes, Buffer.of(0)])), undefined);
  assert.is(decodeManifest(Buffer.from('hello world, a plain text value of some length')), undefined);
  assert.is(decodeManifest(bytes.subarray(0, 8)), undefined);
});

test('reserved keys: chunk and marker keys are reserved and tell their hash or user key; user keys are not', () => {
  const hash = createHash('sha256').update('x').digest();
  const c = chunkKey(hash);
  assert.ok(isReservedKey(c) && isChunkKey(c) && !isMarkerKey(c));
  assert.ok(Buffer.from(chunkHashOf(c)).equals(hash));
  const m = markerKey(Buffer.from('user-key'));
  assert.ok(isReservedKey(m) && isMarkerKey(m) && !isChunkKey(m));
  assert.is(Buffer.from(markedKey(m)).toString(), 'user-key');
  for (const k of ['user-key', '', '\u0000other', 'ringkv:c:x']) assert.not.ok(isReservedKey(Buffer.from(k)), k);
});

test.run();
