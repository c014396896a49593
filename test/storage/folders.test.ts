// The order of src/storage/'s subfolders, written once in docs/storage.md (the
// ```storage-layers block), holds for every relative import of src/storage/**: a subfolder
// imports only subfolders on lines below its own. (test/layers.test.ts checks cycles and
// deep imports; this adds the direction inside storage.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const STORAGE = join(root, 'src', 'storage');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(path));
    else if (entry.name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** The subfolder of src/storage/ a path (relative to it) lies in, or '' at its root. */
function subfolderOf(rel: string): string {
  const slash = rel.indexOf('/');
  return slash < 0 ? '' : rel.slice(0, slash);
}

function order(): Map<string, number> {
  const doc = readFileSync(join(root, 'docs', 'storage.md'), 'utf8');
  const block = /```storage-layers\n([\s\S]*?)```/.exec(doc)?.[1];
  if (!block) throw new Error('docs/storage.md has no ```storage-layers block');
  const lines = block.split('\n').map((l) => l.trim()).filter(Boolean);
  const rank = new Map<string, number>();
  lines.forEach((line, i) => { for (const name of line.split(/\s+/)) rank.set(name, lines.length - i); });
  return rank;
}

const rank = order();
const files = sourceFiles(STORAGE).map((f) => relative(STORAGE, f).split('\\').join('/'));

test('every subfolder of src/storage/ is in the order, and nothing more', () => {
  const folders = new Set(files.map(subfolderOf).filter(Boolean));
  assert.equal([...folders].sort(), [...rank.keys()].sort());
});

test('imports inside src/storage/ run only down the order of docs/storage.md', () => {
  const bad: string[] = [];
  for (const file of files) {
    const from = subfolderOf(file);
    if (!from) continue; // index.ts, the face, may use every subfolder
    const text = readFileSync(join(STORAGE, file), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[\s;{}])\/\/.*$/gm, '$1');
    for (const m of text.matchAll(/\bfrom\s*['"](\.[^'"]+)['"]/g)) {
      const target = posix.normalize(posix.join(posix.dirname(file), m[1]!));
      if (target.startsWith('..')) continue; // outside storage: test/layers.test.ts's business
      const to = subfolderOf(target);
      if (to === from) continue;
      if (!to || (rank.get(to) ?? 0) >= rank.get(from)!) bad.push(`${file} imports ${target}`);
    }
  }
  assert.ok(bad.length === 0, `${bad.length} found:\n${bad.join('\n')}\n`);
});

test.run();
