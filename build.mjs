// Builds src/, test/ and bench/ into dist/ with esbuild, one output file per source file.
// Nothing is bundled: every .ts file is its own entry point, so worker and piscina task
// files exist in dist/ at the same relative paths as in the sources, and
// `new URL('./x.js', import.meta.url)` resolves the same from tests and from production.
import { build } from 'esbuild';
import { cpSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

// The admin dashboard's page script runs in a browser: it is bundled on its own (one file,
// platform browser) below, not built per file for Node.
const DASHBOARD = join('src', 'server', 'admin', 'dashboard');
const DASHBOARD_BROWSER = join(DASHBOARD, 'browser');
/** Static files of the dashboard, copied beside its built page script. */
const DASHBOARD_STATIC = ['index.html', 'dashboard.css'];

function sources(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (path !== DASHBOARD_BROWSER) out.push(...sources(path));
    }
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

// The dashboard's page script: a second entry point, bundled for the browser (the admin
// server serves dist/src/server/admin/dashboard/{index.html,dashboard.css,page.js}).
await build({
  entryPoints: [join(DASHBOARD_BROWSER, 'page.ts')],
  outfile: join('dist', DASHBOARD, 'page.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2020',
  sourcemap: 'linked',
  logLevel: 'warning',
});
for (const name of DASHBOARD_STATIC) cpSync(join(DASHBOARD, name), join('dist', DASHBOARD, name));
