// The compaction picker against text fixtures: sizes before -> the merge it picks.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { pickCompaction } from '../../src/storage/db/compaction-picker.js';

const fixtures = readFileSync(new URL('../../../test/storage/testdata/compaction-picker.txt', import.meta.url), 'utf8')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line && !line.startsWith('#'));

test(`picks as the ${fixtures.length} fixtures say`, () => {
  assert.ok(fixtures.length >= 10);
  for (const line of fixtures) {
    const [input, expected] = line.split('->').map((s) => s.trim()) as [string, string];
    const sizes = input.split(/\s+/).map(Number);
    const pick = pickCompaction(sizes, { minMergeWidth: 4, tierRatio: 4, maxRuns: 6, maxSpaceAmpPercent: 100 });
    const got = pick ? `${pick.reason} ${pick.start}..${pick.end}` : 'none';
    assert.is(got, expected, `sizes ${input}`);
  }
});

test('repeated flushes keep the run count and space amplification bounded', () => {
  // Simulate 2000 flushes of size 1 with merges applied at once; sizes are bytes of live data
  // (no overwrites), so a merge's output is the sum of its inputs.
  const options = { minMergeWidth: 4, tierRatio: 4, maxRuns: 12, maxSpaceAmpPercent: 100 };
  let runs: number[] = [];
  let maxRuns = 0;
  let written = 0;
  for (let i = 0; i < 2000; i++) {
    runs.unshift(1);
    written += 1;
    for (let pick = pickCompaction(runs, options); pick; pick = pickCompaction(runs, options)) {
      const merged = runs.slice(pick.start, pick.end).reduce((a, b) => a + b, 0);
      written += merged;
      runs = [...runs.slice(0, pick.start), merged, ...runs.slice(pick.end)];
    }
    maxRuns = Math.max(maxRuns, runs.length);
  }
  assert.ok(maxRuns <= 12, `runs reached ${maxRuns}`);
  const total = runs.reduce((a, b) => a + b, 0);
  assert.is(total, 2000);
  // Write amplification stays logarithmic: ~9 here, where merging into the biggest run at
  // every flush would be ~1000.
  assert.ok(written / total < 15, `write amplification ${written / total}`);
});

test.run();
