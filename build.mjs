// Builds src/, test/ and bench/ into dist/ with esbuild, one output file per source file.
// Nothing is bundled: every .ts file is its own entry point, so worker and piscina task
// files exist in dist/ at the same relative paths as in the sources, and
// `new URL('./x.js', import.meta.url)` resolves the same from tests and from production.
import { build } from 'esbuild';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

function sources(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sources(path));
    else if (/\.(ts|mts)$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

rmSync('dist', { recursive: true, force: true });
await build({
  entryPoints: ['src', 'test', 'bench'].flatMap(sources),
  outdir: 'dist',
  outbase: '.',
  bundle: false,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  logLevel: 'warning',
});
