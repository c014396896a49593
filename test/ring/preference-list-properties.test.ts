// Preference-list and fallback properties over random claimed rings (fast-check).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { Ring, type Member } from '../../src/ring/index.js';

const RUNS = 100;

const membersArb: fc.Arbitrary<Member[]> = fc.uniqueArray(
  fc.record({ n: fc.integer({ min: 0, max: 12 }), s: fc.integer({ min: 0, max: 3 }), dc: fc.integer({ min: 1, max: 2 }), weight: fc.integer({ min: 1, max: 4 }) }),
  { minLength: 1, maxLength: 24, selector: (m) => `${m.n}/${m.s}` },
).map((ms) => {
  // A host sits in one rack of one DC: derive both from the host number.
  return ms.map(({ n, s, weight }) => ({ id: `n${n}/s${s}`, host: `h${n}`, rack: `r${n % 2}`, dc: `dc${1 + (n % 3 === 0 ? 1 : 0)}`, weight }));
});

/** Several nodes per host (ports of one address): hosts h0..h2, nodes n0..n12. */
const sharedHostsArb: fc.Arbitrary<Member[]> = membersArb.map((ms) => ms.map((m) => {
  const n = Number(m.id.slice(1, m.id.indexOf('/')));
  return { ...m, host: `h${n % 3}`, rack: `r${n % 3 % 2}`, dc: 'dc1' };
}));

/** All members in dc1: per-DC factors with a DC that has no members. */
const oneDcArb = membersArb.map((ms) => ms.map((m) => ({ ...m, dc: 'dc1' })));

const qArb = fc.constantFrom(16, 64, 256);

const distinct = (xs: readonly string[]): number => new Set(xs).size;

test('every list: N distinct members, owner first, as many hosts and racks as N and the ring allow', () => {
  fc.assert(fc.property(membersArb, qArb, fc.integer({ min: 1, max: 5 }), (members, q, n) => {
    const ring = Ring.build(members, q);
    const owning = [...ring.counts()].filter(([, k]) => k > 0).map(([id]) => ring.member(id)!);
    fc.pre(n <= owning.length);
    const hosts = distinct(owning.map((m) => m.host));
    const racks = distinct(owning.map((m) => `${m.dc}/${m.rack}`));
    for (let p = 0; p < q; p++) {
      const list = ring.listOf(p, n);
      const ms = list.map((id) => ring.member(id)!);
      assert.is(distinct(list), n);
      assert.is(list[0], ring.ownerOf(p));
      assert.is(distinct(ms.map((m) => m.host)), Math.min(n, hosts), `hosts in list of ${p}: ${list}`);
      assert.is(distinct(ms.map((m) => `${m.dc}/${m.rack}`)), Math.min(n, racks), `racks in list of ${p}: ${list}`);
      if (n > 1) assert.equal(ring.listOf(p, n - 1), list.slice(0, n - 1), 'the list for N-1 is a prefix');
    }
  }), { numRuns: RUNS });
});

test('every list: as many distinct nodes as N and the ring allow, also when nodes share a host', () => {
  fc.assert(fc.property(sharedHostsArb, qArb, fc.integer({ min: 1, max: 5 }), (members, q, n) => {
    const ring = Ring.build(members, q);
    const owning = [...ring.counts()].filter(([, k]) => k > 0).map(([id]) => ring.member(id)!);
    fc.pre(n <= owning.length);
    const nodeOf = (id: string): string => id.slice(0, id.indexOf('/'));
    const nodes = distinct(owning.map((m) => nodeOf(m.id)));
    const hosts = distinct(owning.map((m) => m.host));
    for (let p = 0; p < q; p++) {
      const list = ring.listOf(p, n);
      assert.is(distinct(list.map(nodeOf)), Math.min(n, nodes), `nodes in list of ${p}: ${list}`);
      assert.is(distinct(list.map((id) => ring.member(id)!.host)), Math.min(n, hosts), `hosts in list of ${p}: ${list}`);
    }
  }), { numRuns: RUNS });
});

test('per-DC factors: that many replicas in each DC, or every owner there when it has fewer', () => {
  fc.assert(fc.property(fc.oneof(membersArb, oneDcArb), qArb, fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }), (members, q, r1, r2) => {
    fc.pre(r1 + r2 > 0);
    const ring = Ring.build(members, q, { replication: { dc1: r1, dc2: r2 } });
    // A DC with fewer owning members than its factor contributes what it has (as Cassandra does).
    const owning = [...ring.counts()].filter(([, k]) => k > 0).map(([id]) => ring.member(id)!);
    const want = (dc: string, r: number): number => Math.min(r, owning.filter((m) => m.dc === dc).length);
    for (let p = 0; p < q; p++) {
      const ms = ring.listOf(p, r1 + r2).map((id) => ring.member(id)!);
      assert.is(distinct(ms.map((m) => m.id)), ms.length);
      assert.is(ms.filter((m) => m.dc === 'dc1').length, want('dc1', r1), `dc1 in list of ${p}`);
      assert.is(ms.filter((m) => m.dc === 'dc2').length, want('dc2', r2), `dc2 in list of ${p}`);
    }
  }), { numRuns: RUNS });
});

test('fallbacks: one healthy non-primary per down primary while any are left, each naming its primary', () => {
  fc.assert(fc.property(membersArb, qArb, fc.integer({ min: 1, max: 4 }), fc.array(fc.boolean(), { maxLength: 24 }), fc.nat(), (members, q, n, downMask, pRaw) => {
    const ring = Ring.build(members, q);
    fc.pre(n <= [...ring.counts().values()].filter((k) => k > 0).length);
    const down = new Set(ring.members.filter((_, i) => downMask[i]).map((m) => m.id));
    const p = pRaw % q;
    const { primaries, fallbacks } = ring.fallbacks(p, n, (id) => down.has(id));
    assert.equal(primaries, [...ring.listOf(p, n)]);
    const downPrimaries = primaries.filter((id) => down.has(id));
    const spare = [...ring.counts()].filter(([id, k]) => k > 0 && !down.has(id) && !primaries.includes(id)).length;
    assert.is(fallbacks.length, Math.min(downPrimaries.length, spare));
    assert.is(distinct(fallbacks.map((f) => f.member)), fallbacks.length);
    assert.is(distinct(fallbacks.map((f) => f.hintFor)), fallbacks.length);
    for (const f of fallbacks) {
      assert.ok(!down.has(f.member) && !primaries.includes(f.member), `fallback ${f.member}`);
      assert.ok(downPrimaries.includes(f.hintFor), `hint for ${f.hintFor}`);
    }
  }), { numRuns: RUNS });
});

test.run();
