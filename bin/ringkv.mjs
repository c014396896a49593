#!/usr/bin/env node
// The `ringkv` command: runs the built CLI (src/cli/main.ts → dist/src/cli/main.js).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('ringkv: dist/ is missing: run npm run build first\n');
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
