// Runs ring text fixtures (test/ring/testdata/*.txt). A file is a list of cases; a case is
// a list of steps run in order against one evolving membership and ring:
//
//   case <name>                       starts a case
//   q <Q>                             partition count (default 256)
//   replication dc1:2 dc2:1           per-DC factors for the rings built after it
//   add <id> [host=] [rack=] [dc=] [weight=]
//                                     a member (defaults: host=<id before '/'>, rack=r1,
//                                     dc=dc1, weight=1)
//   remove <id>                       a member leaves
//   weight <id> <w>                   a member's weight changes
//   ring <id> <id> ...                the current ring, given owner by owner (a "previous")
//   claim                             builds the next ring from the current one (if any)
//   expect moves <k>                  partitions that changed owner in the last claim
//   expect moves-from <id> ...        every moved partition left one of these (or a member
//                                     that is gone)
//   expect moves-to <id> ...          every moved partition went to one of these
//   expect counts <id>=<c> ...        partitions owned
//   expect counts-all <lo>..<hi>      every member owns between lo and hi partitions
//   expect ring <id> <id> ...         the exact owners
//   expect list <p> n=<n> = <id> ...  the exact preference list of partition p
//   expect list <p> n=<n> = error <CODE>
//   expect lists n=<n> hosts=<k>      every preference list spans k distinct hosts
//   expect lists n=<n> racks=<k>      ... k distinct racks
//   expect lists n=<n> dc1=<k> ...    ... exactly k members in dc1 (and so on)
//   expect spread n=<n> min=<pct>    at least pct% of partitions start a run of n
//                                     consecutive partitions on n distinct hosts
//   expect fallbacks <p> n=<n> down=<id>,<id> = <fallback>><primary> ...
//   expect claim = error <CODE>       the claim fails
// Blank lines and lines starting with '#' are ignored.
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { Ring, type Member, type Replication } from '../../src/ring/index.js';

export interface FixtureCase {
  readonly name: string;
  readonly steps: readonly { line: number; words: string[] }[];
}

export function readFixtures(name: string): FixtureCase[] {
  const text = readFileSync(new URL(`../../../test/ring/testdata/${name}`, import.meta.url), 'utf8');
  const cases: { name: string; steps: { line: number; words: string[] }[] }[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const words = line.split(/\s+/);
    if (words[0] === 'case') cases.push({ name: words.slice(1).join(' '), steps: [] });
    else if (cases.length === 0) throw new Error(`${name}:${i + 1}: a step before the first case`);
    else cases[cases.length - 1]!.steps.push({ line: i + 1, words });
  });
  return cases;
}

export function runFixture(file: string, c: FixtureCase): void {
  const members = new Map<string, Member>();
  let q = 256;
  let replication: Replication | undefined;
  let ring: Ring | undefined;
  let last: { before: Ring | undefined; after: Ring } | undefined;
  for (const { line, words } of c.steps) {
    const where = `${file}:${line} (${c.name})`;
    const need = (): Ring => {
      if (ring === undefined) throw new Error(`${where}: no ring yet`);
      return ring;
    };
    const [verb, ...args] = words as [string, ...string[]];
    switch (verb) {
      case 'q': q = Number(args[0]); break;
      case 'replication':
        replication = Object.fromEntries(args.map((a) => { const [dc, k] = a.split(':'); return [dc!, Number(k)]; }));
        break;
      case 'add': {
        const [id, ...opts] = args as [string, ...string[]];
        const o = Object.fromEntries(opts.map((kv) => kv.split('=') as [string, string]));
        members.set(id, { id, host: o.host ?? id.split('/')[0]!, rack: o.rack ?? 'r1', dc: o.dc ?? 'dc1', weight: Number(o.weight ?? 1) });
        break;
      }
      case 'remove':
        if (!members.delete(args[0]!)) throw new Error(`${where}: no member ${args[0]}`);
        break;
      case 'weight': {
        const m = members.get(args[0]!);
        if (m === undefined) throw new Error(`${where}: no member ${args[0]}`);
        members.set(m.id, { ...m, weight: Number(args[1]) });
        break;
      }
      case 'ring':
        ring = Ring.fromJSON({ epoch: 1, q: args.length, replication, members: [...members.values()], owners: args });
        q = args.length;
        break;
      case 'claim': {
        const after = Ring.build([...members.values()], q, { previous: ring, replication });
        last = { before: ring, after };
        ring = after;
        break;
      }
      case 'expect':
        expect(where, args, need, () => last, [...members.values()], q, replication, ring);
        break;
      default:
        throw new Error(`${where}: unknown step ${verb}`);
    }
  }
}

function expect(
  where: string,
  args: string[],
  need: () => Ring,
  last: () => { before: Ring | undefined; after: Ring } | undefined,
  members: Member[],
  q: number,
  replication: Replication | undefined,
  current: Ring | undefined,
): void {
  const [what, ...rest] = args as [string, ...string[]];
  const moves = (): { partition: number; from: string; to: string }[] => {
    const l = last();
    if (l === undefined) throw new Error(`${where}: no claim yet`);
    return l.before === undefined ? l.after.assignment().owners.map((to, partition) => ({ partition, from: '-', to })) : l.before.diff(l.after);
  };
  const eq = rest.indexOf('=');
  const rhs = eq < 0 ? [] : rest.slice(eq + 1);
  const opts = Object.fromEntries(rest.filter((w) => w.includes('=') && w !== '=').map((kv) => kv.split('=') as [string, string]));
  switch (what) {
    case 'moves':
      assert.is(moves().length, Number(rest[0]), `${where}: moves`);
      return;
    case 'moves-from':
    case 'moves-to': {
      const allowed = new Set(rest);
      for (const m of moves()) {
        const id = what === 'moves-from' ? m.from : m.to;
        const gone = what === 'moves-from' && !members.some((x) => x.id === id);
        assert.ok(allowed.has(id) || gone, `${where}: partition ${m.partition} moved ${m.from} -> ${m.to}`);
      }
      return;
    }
    case 'counts': {
      const counts = need().counts();
      for (const kv of rest) {
        const [id, k] = kv.split('=') as [string, string];
        assert.is(counts.get(id) ?? 0, Number(k), `${where}: partitions of ${id}`);
      }
      return;
    }
    case 'counts-all': {
      const [lo, hi] = rest[0]!.split('..').map(Number) as [number, number];
      for (const [id, k] of need().counts()) assert.ok(k >= lo && k <= hi, `${where}: ${id} owns ${k}, not ${lo}..${hi}`);
      return;
    }
    case 'ring':
      assert.equal(need().assignment().owners, rest, `${where}: owners`);
      return;
    case 'claim': {
      const code = rhs[1];
      try {
        Ring.build(members, q, { previous: current, replication });
      } catch (err) {
        assert.is((err as { code?: string }).code, code, `${where}: ${String(err)}`);
        return;
      }
      assert.unreachable(`${where}: the claim succeeded`);
      return;
    }
    case 'list': {
      const p = Number(rest[0]);
      const n = Number(opts.n);
      if (rhs[0] === 'error') {
        try {
          need().listOf(p, n);
        } catch (err) {
          assert.is((err as { code?: string }).code, rhs[1], `${where}: ${String(err)}`);
          return;
        }
        assert.unreachable(`${where}: the list was built`);
      }
      assert.equal([...need().listOf(p, n)], rhs, `${where}: list of ${p}`);
      return;
    }
    case 'lists': {
      const ring = need();
      const n = Number(opts.n);
      for (let p = 0; p < ring.q; p++) {
        const list = ring.listOf(p, n).map((id) => ring.member(id)!);
        assert.is(new Set(list.map((m) => m.id)).size, n, `${where}: list of ${p} has ${n} distinct members`);
        assert.is(list[0]!.id, ring.ownerOf(p), `${where}: list of ${p} starts with the owner`);
        for (const [key, k] of Object.entries(opts)) {
          if (key === 'n') continue;
          const got = key === 'hosts' ? new Set(list.map((m) => m.host)).size
            : key === 'racks' ? new Set(list.map((m) => `${m.dc}/${m.rack}`)).size
            : list.filter((m) => m.dc === key).length;
          assert.is(got, Number(k), `${where}: list of ${p} (${list.map((m) => m.id).join(' ')}): ${key}`);
        }
      }
      return;
    }
    case 'spread': {
      const ring = need();
      const n = Number(opts.n);
      let good = 0;
      for (let p = 0; p < ring.q; p++) {
        const hosts = new Set<string>();
        for (let d = 0; d < n; d++) hosts.add(ring.member(ring.ownerOf((p + d) % ring.q))!.host);
        if (hosts.size === n) good++;
      }
      const pct = (100 * good) / ring.q;
      assert.ok(pct >= Number(opts.min), `${where}: ${pct.toFixed(1)}% of runs of ${n} partitions are on ${n} hosts`);
      return;
    }
    case 'fallbacks': {
      const down = new Set((opts.down ?? '').split(',').filter(Boolean));
      const got = need().fallbacks(Number(rest[0]), Number(opts.n), (id) => down.has(id));
      assert.equal(got.fallbacks.map((f) => `${f.member}>${f.hintFor}`), rhs, `${where}: fallbacks`);
      return;
    }
    default:
      throw new Error(`${where}: unknown expectation ${what}`);
  }
}
