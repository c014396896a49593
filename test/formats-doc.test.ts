// docs/formats.md carries each on-disk format's description exactly as the file that
// writes it opens with: when a format comment changes, this fails until the doc follows.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';

const FORMAT_FILES = [
  'src/storage/wal/wal-format.ts',
  'src/storage/db/write-batch.ts',
  'src/storage/table/block-format.ts',
  'src/storage/table/bloom.ts',
  'src/storage/table/sstable-format.ts',
  'src/storage/db/manifest.ts',
  'src/version/codec.ts',
  'src/version/context.ts',
  'src/protocol/frame.ts',
  'src/protocol/messages.ts',
  'src/ipc/queue-layout.ts',
  'src/ipc/fragment.ts',
  'src/cluster/peer/peer-protocol.ts',
  'src/cluster/membership/node-record.ts',
  'src/cluster/membership/gossip-message.ts',
  'src/shard/hint-store.ts',
  'src/shard/repair-mark.ts',
];

const root = new URL('../..', import.meta.url);

/** The leading comment of a source file, without the `// ` prefixes. */
export function headerComment(source: string): string {
  const lines: string[] = [];
  for (const line of source.split('\n')) {
    if (!line.startsWith('//')) break;
    lines.push(line.replace(/^\/\/ ?/, ''));
  }
  return lines.join('\n').trim();
}

test('docs/formats.md holds the format comment of every format file, verbatim', () => {
  const doc = readFileSync(new URL('docs/formats.md', root), 'utf8');
  for (const file of FORMAT_FILES) {
    const header = headerComment(readFileSync(new URL(file, root), 'utf8'));
    assert.ok(header.length > 200, `${file} opens with its format`);
    assert.ok(doc.includes(header), `docs/formats.md is out of date for ${file}: regenerate with node dist/test/formats-doc.test.js --write`);
  }
});

if (process.argv.includes('--write')) {
  const { writeFileSync } = await import('node:fs');
  const parts = [
    '# ringkv on-disk formats',
    '',
    'Each section is the opening comment of the file that reads and writes the format (kept in',
    'step by `test/formats-doc.test.ts`; regenerate with `npm run build && node dist/test/formats-doc.test.js --write`).',
    'Integers are little-endian unless a section says otherwise; every checksum is CRC32C',
    '(Castagnoli), stored masked as LevelDB does. Numbered constants (record kinds, block types,',
    'versions) are only ever added, never renumbered.',
    '',
  ];
  for (const file of FORMAT_FILES) {
    parts.push(`## ${file}`, '', '```text', headerComment(readFileSync(new URL(file, root), 'utf8')), '```', '');
  }
  writeFileSync(new URL('docs/formats.md', root), parts.join('\n'));
} else {
  test.run();
}
