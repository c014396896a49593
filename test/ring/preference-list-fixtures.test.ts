// Preference lists and fallbacks against text fixtures (test/ring/testdata/preference-list.txt).
import { test } from 'uvu';
import { readFixtures, runFixture } from './fixture.js';

for (const c of readFixtures('preference-list.txt')) {
  test(c.name, () => runFixture('preference-list.txt', c));
}

test.run();
