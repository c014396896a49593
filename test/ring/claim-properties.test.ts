// Claim properties over random memberships (fast-check): balance, minimal moves,
// determinism whatever the member order.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { claim, type Assignment, type Member } from '../../src/ring/index.js';

const RUNS = 150;

/** Members on a few hosts and racks; ids unique. */
const membersArb = (min: number, max: number, weighted: boolean): fc.Arbitrary<Member[]> =>
  fc.uniqueArray(
    fc.record({
      n: fc.integer({ min: 0, max: 30 }),
      s: fc.integer({ min: 0, max: 3 }),
      weight: weighted ? fc.integer({ min: 1, max: 8 }).map((w) => w / 2) : fc.constant(1),
    }),
    { minLength: min, maxLength: max, selector: (m) => `${m.n}/${m.s}` },
  ).map((ms) => ms.map(({ n, s, weight }) => ({ id: `n${n}/s${s}`, host: `h${n}`, rack: `r${n % 3}`, dc: 'dc1', weight })));

const qArb = fc.constantFrom(8, 16, 64, 256, 1024);

function counts(a: Assignment): Map<string, number> {
  const c = new Map<string, number>();
  for (const id of a.owners) c.set(id, (c.get(id) ?? 0) + 1);
  return c;
}

function moved(a: Assignment, b: Assignment): number {
  let k = 0;
  for (let p = 0; p < a.owners.length; p++) if (a.owners[p] !== b.owners[p]) k++;
  return k;
}

/** Every member holds floor or ceil of q·w/Σw, and every partition's owner is a member. */
function assertBalanced(a: Assignment, members: Member[], q: number): void {
  assert.is(a.owners.length, q);
  const total = members.reduce((s, m) => s + m.weight, 0);
  const c = counts(a);
  const ids = new Set(members.map((m) => m.id));
  for (const id of c.keys()) assert.ok(ids.has(id), `owner ${id} is not a member`);
  for (const m of members) {
    const quota = (q * m.weight) / total;
    const k = c.get(m.id) ?? 0;
    assert.ok(k >= Math.floor(quota + 1e-9) && k <= Math.ceil(quota - 1e-9), `${m.id} holds ${k}, quota ${quota}`);
  }
}

/**
 * The fewest moves any balanced assignment needs from `prev`: departed members' partitions,
 * plus what each member holds above its floor, less one for each ceiling (there are
 * q − Σfloor of them) given to a member already holding at least that ceiling.
 */
function minimumMoves(prev: Assignment, members: Member[], q: number): number {
  const total = members.reduce((s, m) => s + m.weight, 0);
  const held = counts(prev);
  const ids = new Set(members.map((m) => m.id));
  let moves = 0;
  for (const [id, k] of held) if (!ids.has(id)) moves += k;
  let floors = 0;
  let savers = 0;
  for (const m of members) {
    const quota = (q * m.weight) / total;
    const f = Math.floor(quota + 1e-9);
    floors += f;
    const k = held.get(m.id) ?? 0;
    moves += Math.max(0, k - f);
    if (quota - f > 1e-9 && k > f) savers++;
  }
  return moves - Math.min(q - floors, savers);
}

function shuffle<T>(xs: T[], seed: number): T[] {
  const out = [...xs];
  let s = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

test('equal weights: every member within ±1 of q/M', () => {
  fc.assert(fc.property(membersArb(1, 40, false), qArb, (members, q) => {
    const c = counts(claim(undefined, members, q));
    const held = members.map((m) => c.get(m.id) ?? 0);
    assert.ok(Math.max(...held) - Math.min(...held) <= 1, `counts ${held}`);
    assert.is(held.reduce((a, b) => a + b, 0), q);
  }), { numRuns: RUNS });
});

test('weighted: every member holds floor or ceil of its quota', () => {
  fc.assert(fc.property(membersArb(1, 30, true), qArb, (members, q) => {
    assertBalanced(claim(undefined, members, q), members, q);
  }), { numRuns: RUNS });
});

test('a random membership change moves the minimum number of partitions, and stays balanced', () => {
  const change = fc.record({ removeMask: fc.array(fc.boolean(), { maxLength: 40 }), added: membersArb(0, 6, true), reweight: fc.array(fc.integer({ min: 1, max: 8 }), { maxLength: 40 }) });
  fc.assert(fc.property(membersArb(1, 30, true), qArb, change, (members, q, { removeMask, added, reweight }) => {
    const before = claim(undefined, members, q);
    const ids = new Set(members.map((m) => m.id));
    let next = members.filter((_, i) => !removeMask[i]).map((m, i) => (reweight[i] === undefined ? m : { ...m, weight: reweight[i]! / 2 }));
    next = [...next, ...added.filter((m) => !ids.has(m.id))];
    fc.pre(next.length > 0);
    const after = claim(before, next, q);
    assertBalanced(after, next, q);
    assert.is(moved(before, after), minimumMoves(before, next, q));
  }), { numRuns: RUNS });
});

test('equal weights: a join moves partitions only to the joiners, a leave only from the leavers', () => {
  fc.assert(fc.property(membersArb(2, 30, false), qArb, fc.integer({ min: 1, max: 4 }), (members, q, k) => {
    fc.pre(k < members.length);
    const all = claim(undefined, members, q);
    const stay = members.slice(k);
    const leavers = new Set(members.slice(0, k).map((m) => m.id));
    const fewer = claim(all, stay, q);
    for (let p = 0; p < q; p++) {
      if (all.owners[p] !== fewer.owners[p]) assert.ok(leavers.has(all.owners[p]!), `partition ${p} left ${all.owners[p]}`);
    }
    assert.is(moved(all, fewer), [...all.owners].filter((id) => leavers.has(id)).length);
    const back = claim(fewer, members, q);
    for (let p = 0; p < q; p++) {
      if (back.owners[p] !== fewer.owners[p]) assert.ok(leavers.has(back.owners[p]!), `partition ${p} went to ${back.owners[p]}`);
    }
    assert.is(moved(fewer, back), minimumMoves(fewer, members, q));
  }), { numRuns: RUNS });
});

test('deterministic: the same membership in any order gives the same ring, with or without a previous one', () => {
  fc.assert(fc.property(membersArb(1, 30, true), qArb, fc.integer(), (members, q, seed) => {
    const a = claim(undefined, members, q);
    const b = claim(undefined, shuffle(members, seed), q);
    assert.equal(a.owners, b.owners);
    const grown = [...members, { id: 'new/s0', host: 'new', rack: 'r0', dc: 'dc1', weight: 1 }];
    assert.equal(claim(a, grown, q).owners, claim(b, shuffle(grown, seed + 1), q).owners);
  }), { numRuns: RUNS });
});

test('claiming an unchanged membership again moves nothing', () => {
  fc.assert(fc.property(membersArb(1, 30, true), qArb, (members, q) => {
    const a = claim(undefined, members, q);
    assert.equal(claim(a, members, q).owners, a.owners);
  }), { numRuns: RUNS });
});

test.run();
