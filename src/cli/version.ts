// Runs on: the main thread. `ringkv version`: the package's version (from package.json).
import { readFileSync } from 'node:fs';

/** dist/src/cli/version.js → the package root's package.json. */
const PACKAGE_JSON = new URL('../../../package.json', import.meta.url);

export function ringkvVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export function version(): number {
  process.stdout.write(`ringkv ${ringkvVersion()} (node ${process.version})\n`);
  return 0;
}
