// Runs on: the main thread. The dashboard's static files (GET /, /dashboard.css,
// /dashboard.js on the admin port), read from dist beside this module: build.mjs copies
// index.html and dashboard.css there and bundles browser/page.ts into page.js. Nothing is
// fetched from elsewhere: the Content-Security-Policy lets the page load only from the
// admin server itself.
import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';

/** One static file of the dashboard: where it is served, which built file, which type. */
interface Asset {
  readonly path: string;
  readonly file: string;
  readonly contentType: string;
}

const ASSETS: readonly Asset[] = [
  { path: '/', file: 'index.html', contentType: 'text/html; charset=utf-8' },
  { path: '/dashboard.css', file: 'dashboard.css', contentType: 'text/css; charset=utf-8' },
  { path: '/dashboard.js', file: 'page.js', contentType: 'text/javascript; charset=utf-8' },
];

/** The page loads its script, style and JSON from this server only; no inline script. */
const CONTENT_SECURITY_POLICY = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'";

type AssetHandler = (store: unknown, url: URL, res: ServerResponse) => Promise<void>;

/** The routes of the dashboard's files, for the admin server's route table. */
export function dashboardRoutes(): [string, AssetHandler][] {
  return ASSETS.map((asset): [string, AssetHandler] => {
    // Read once, on first request (the files do not change while the process runs).
    let body: Promise<Buffer> | undefined;
    return [
      asset.path,
      async (_store, _url, res) => {
        body ??= readFile(new URL(asset.file, import.meta.url)).catch((err: unknown) => {
          body = undefined;
          throw err;
        });
        const bytes = await body;
        res.writeHead(200, {
          'content-type': asset.contentType,
          'content-length': bytes.length,
          'cache-control': 'no-cache',
          'content-security-policy': CONTENT_SECURITY_POLICY,
          'x-content-type-options': 'nosniff',
        });
        res.end(bytes);
      },
    ];
  });
}
