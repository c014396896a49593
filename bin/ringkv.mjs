#!/usr/bin/env node
// The `ringkv` command. Until the server lands (issue 4) it says what exists today.
const [command = 'help'] = process.argv.slice(2);
if (command === 'version') {
  const { readFileSync } = await import('node:fs');
  console.log(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version);
} else {
  console.log(`ringkv: '${command}' is not available yet.
Today ringkv is its storage engine, used embedded:
  import { openEngine } from 'ringkv/dist/src/storage/index.js'
The RESP server ('ringkv start') comes with the server issue. See README.md.`);
  process.exitCode = command === 'help' || command === 'start' ? 0 : 2;
}
