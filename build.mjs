// Builds src/, test/ and bench/ into dist/ with esbuild, one output file per source file,
// so worker and piscina task files exist in dist/ at the same relative paths as in the
// sources and `new URL('./x.js', import.meta.url)` resolves the same from tests and from
// production. Then the files a process or thread starts from (the CLI, the shard worker,
// the merge task) are rebuilt as bundles over their per-file twins: loading ~100 modules
// one by one cost a `ringkv start` ~0.25 s of CPU and each shard worker about as much.
import { build } from 'esbuild';
import { cpSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

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

/**
 * Entry points that start a process or a thread: bundled (packages stay external: piscina
 * starts its own workers by path, and native addons load from node_modules).
 */
const BUNDLED = [join('src', 'cli', 'main.ts'), join('src', 'shard', 'worker.ts'), join('src', 'storage', 'db', 'merge-tables.ts')];

/**
 * In a bundle every module's `import.meta.url` would be the bundle's: each source file's
 * own use is rewritten to the URL of its per-file twin in dist/, so relative URLs (the
 * shard worker, the merge task, the dashboard assets, package.json) resolve as unbundled.
 */
function ownImportMetaUrl(outfile) {
  return {
    name: 'own-import-meta-url',
    setup(b) {
      b.onLoad({ filter: /\.ts$/ }, (args) => {
        const source = readFileSync(args.path, 'utf8');
        if (!source.includes('import.meta.url')) return undefined;
        const twin = resolve('dist', relative(resolve('.'), args.path)).replace(/\.ts$/, '.js');
        const rel = relative(dirname(resolve(outfile)), twin).split('\\').join('/');
        const href = `new URL(${JSON.stringify(rel.startsWith('.') ? rel : './' + rel)}, import.meta.url).href`;
        return { contents: source.replaceAll('import.meta.url', href), loader: 'ts' };
      });
    },
  };
}

for (const entry of BUNDLED) {
  const outfile = join('dist', entry.replace(/\.ts$/, '.js'));
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    packages: 'external',
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: 'linked',
    logLevel: 'warning',
    plugins: [ownImportMetaUrl(outfile)],
  });
}

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
