// The README's embedded example runs as written (import path and data dir pointed at the
// build and a temp dir): the README stays true.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

const root = new URL('../..', import.meta.url);

test('the embedded example in README.md runs and prints what it says', () => {
  const readme = readFileSync(new URL('README.md', root), 'utf8');
  const section = readme.slice(readme.indexOf('## Embedded use'));
  const code = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(code, 'README has a js example under "Embedded use"');
  const dir = mkdtempSync(`${tmpdir()}/ringkv-readme-`);
  try {
    const script = code!
      .replace("'./dist/src/index.js'", JSON.stringify(new URL('dist/src/index.js', root).href))
      .replace("'./my-store'", JSON.stringify(`${dir}/my-store`));
    writeFileSync(`${dir}/example.mjs`, script);
    const out = execFileSync(process.execPath, [`${dir}/example.mjs`], { encoding: 'utf8', timeout: 60_000 });
    assert.match(out, /\[ 'ada' \]/);
    assert.match(out, /id: 's0', up: true/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
