// The claim against text fixtures (test/ring/testdata/claim.txt): ring before, change,
// ring after, partitions moved.
import { test } from 'uvu';
import { readFixtures, runFixture } from './fixture.js';

for (const c of readFixtures('claim.txt')) {
  test(c.name, () => runFixture('claim.txt', c));
}

test.run();
