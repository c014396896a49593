// The layer order of src/, written once in docs/design.md (the ```layers block), holds for
// every import statement in src/: value and type-only imports, re-exports and dynamic
// imports alike. Three rules (tests and benchmarks may reach in anywhere):
//   (a) a unit imports only units on lines below its own (never up, never sideways);
//   (b) no cycle between folders (every folder, subfolders included, is one node of the graph);
//   (c) a file in another folder is reached through that folder's index.ts, never directly.
// A unit is a top-level folder of src/ (its subfolders included) or a file at src/'s root.
// dependency-cruiser cannot parse TypeScript 7 sources (docs/notes.md), hence this script.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const SRC = join(root, 'src');

interface Edge { from: string; to: string; spec: string }

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(path));
    else if (/\.m?ts$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out.sort();
}

/** Drops comments (so an import in a comment does not count), keeping strings intact enough. */
function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[\s;{}])\/\/.*$/gm, '$1');
}

// `import x from`, `import type { a, b } from`, `export * as n from`, `export { a as b } from`:
// between the keyword and `from` only identifiers, braces, commas, `*` and spaces may occur,
// so a match never runs on into code.
const STATIC = /\b(?:import|export)\s+(?:type\s+)?[\w$\s{},*]*?\s*from\s*['"]([^'"]+)['"]/g;
const BARE = /\bimport\s*['"]([^'"]+)['"]/g;
const DYNAMIC = /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Paths relative to src/, with forward slashes. */
function rel(path: string): string {
  return relative(SRC, path).split('\\').join('/');
}

function importsOf(file: string): Edge[] {
  const text = withoutComments(readFileSync(file, 'utf8'));
  const edges: Edge[] = [];
  for (const re of [STATIC, BARE, DYNAMIC]) {
    for (const m of text.matchAll(re)) {
      const spec = m[1]!;
      if (!spec.startsWith('.')) continue;
      const target = join(dirname(file), spec).replace(/\.js$/, '.ts').replace(/\.mjs$/, '.mts');
      if (!existsSync(target)) throw new Error(`${rel(file)}: cannot resolve import '${spec}'`);
      edges.push({ from: rel(file), to: rel(target), spec });
    }
  }
  return edges;
}

/** The unit a file belongs to: its top-level folder, or the file itself at src/'s root. */
function unitOf(path: string): string {
  const slash = path.indexOf('/');
  return slash < 0 ? path : path.slice(0, slash);
}

/** The node of the folder graph: a file's folder, or the file itself at src/'s root. */
function folderOf(path: string): string {
  const d = posix.dirname(path);
  return d === '.' ? path : d;
}

/** The ```layers block of docs/design.md: top line first; names on one line are peers. */
function layerOrder(): Map<string, number> {
  const design = readFileSync(join(root, 'docs/design.md'), 'utf8');
  const block = /```layers\n([\s\S]*?)```/.exec(design)?.[1];
  if (!block) throw new Error('docs/design.md has no ```layers block');
  const lines = block.split('\n').map((l) => l.replace(/#.*$/, '').trim()).filter(Boolean);
  const rank = new Map<string, number>();
  lines.forEach((line, i) => {
    for (const name of line.split(/\s+/)) rank.set(name.replace(/\/$/, ''), lines.length - i);
  });
  return rank;
}

function allEdges(): Edge[] {
  return sourceFiles(SRC).flatMap(importsOf);
}

/** Rule (a). Returns one line per violation. */
function upwardImports(edges: Edge[], rank: Map<string, number>): string[] {
  const out: string[] = [];
  const units = new Set(sourceFiles(SRC).map((f) => unitOf(rel(f))));
  for (const u of units) if (!rank.has(u)) out.push(`${u} is in no layer of docs/design.md`);
  for (const e of edges) {
    const a = unitOf(e.from);
    const b = unitOf(e.to);
    if (a === b || !rank.has(a) || !rank.has(b)) continue;
    if (rank.get(b)! >= rank.get(a)!) {
      const how = rank.get(b) === rank.get(a) ? 'sideways to' : 'up to';
      out.push(`${e.from} imports ${how} ${e.to} ('${e.spec}')`);
    }
  }
  return out;
}

/** Strongly connected components with more than one node, of the graph `nodeOf` makes of files. */
function cycles(edges: Edge[], nodeOf: (path: string) => string): string[] {
  const next = new Map<string, Set<string>>();
  for (const e of edges) {
    const a = nodeOf(e.from);
    const b = nodeOf(e.to);
    if (a === b) continue;
    if (!next.has(a)) next.set(a, new Set());
    next.get(a)!.add(b);
  }
  // Tarjan's algorithm.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[] = [];
  let counter = 0;
  const visit = (v: string): void => {
    index.set(v, counter); low.set(v, counter); counter++;
    stack.push(v); onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do { w = stack.pop()!; onStack.delete(w); scc.push(w); } while (w !== v);
      if (scc.length > 1) {
        const inside = new Set(scc);
        const links = edges.filter((e) => inside.has(nodeOf(e.from)) && inside.has(nodeOf(e.to)) && nodeOf(e.from) !== nodeOf(e.to));
        found.push(`cycle between ${scc.sort().join(', ')}: ${links.map((e) => `${e.from} -> ${e.to}`).join('; ')}`);
      }
    }
  };
  for (const v of [...next.keys()].sort()) if (!index.has(v)) visit(v);
  return found;
}

/** Rule (c): a file of another folder must be that folder's index.ts (root files are their own face). */
function deepImports(edges: Edge[]): string[] {
  return edges
    // A `browser/` folder is bundled apart for the browser: it takes a pure file directly,
    // so that the bundle does not pull in the Node-only code behind that folder's index.ts.
    .filter((e) => folderOf(e.from) !== folderOf(e.to) && e.to.includes('/') && posix.basename(e.to) !== 'index.ts' && !e.from.includes('/browser/'))
    .map((e) => `${e.from} reaches into ${e.to} ('${e.spec}'): import it from ${posix.dirname(e.to)}/index.ts`);
}

const edges = allEdges();
const rank = layerOrder();

test('the import scanner sees the imports there are', () => {
  assert.ok(edges.length > 100, `only ${edges.length} imports found`);
  assert.ok(edges.some((e) => e.from === 'index.ts' && e.to === 'errors.ts'), 'index.ts -> errors.ts');
});

test('(a) no import runs up or sideways in the layer order of docs/design.md', () => {
  const bad = upwardImports(edges, rank);
  assert.ok(bad.length === 0, `${bad.length} found:\n${bad.join('\n')}\n`);
});

test('(b) no cycle between folders, type-only imports included', () => {
  const bad = cycles(edges, folderOf);
  assert.ok(bad.length === 0, `${bad.length} found:\n${bad.join('\n')}\n`);
});

test('no cycle between two files either (a type needed by both lives below both)', () => {
  const bad = cycles(edges, (path) => path);
  assert.ok(bad.length === 0, `${bad.length} found:\n${bad.join('\n')}\n`);
});

test('(c) imports between folders go through the folder index.ts', () => {
  const bad = deepImports(edges);
  assert.ok(bad.length === 0, `${bad.length} found:\n${bad.join('\n')}\n`);
});

test('docs/design.md lists every unit of src/ in its layer order and nothing more', () => {
  const units = new Set(sourceFiles(SRC).map((f) => unitOf(rel(f))));
  const stale = [...rank.keys()].filter((u) => !units.has(u));
  assert.ok(stale.length === 0, `layers that do not exist: ${stale.join(', ')}`);
});

test.run();
