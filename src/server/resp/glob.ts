// Runs on: any thread. Redis-style glob patterns (CONFIG GET, SCAN MATCH): `*` any run,
// `?` one character, `[abc]`, `[^a-z]`, `\x` a literal x. Case-sensitive unless asked.
//
// Matching keeps one backtrack point, the last `*` seen (a later star makes earlier ones
// irrelevant), so it takes O(pattern x subject) steps: a client's pattern such as
// `*a*a*a*a*a*b` cannot make it run for exponential time.

export function globMatch(pattern: string, subject: string, ignoreCase = false): boolean {
  const p = ignoreCase ? pattern.toLowerCase() : pattern;
  const s = ignoreCase ? subject.toLowerCase() : subject;
  let pi = 0;
  let si = 0;
  let starP = -1;
  let starS = 0;
  while (si < s.length) {
    if (pi < p.length && p[pi] === '*') {
      starP = pi++;
      starS = si;
      continue;
    }
    const step = pi < p.length ? matchOne(p, pi, s[si]!) : -1;
    if (step > 0) {
      pi += step;
      si++;
    } else if (starP >= 0) {
      pi = starP + 1;
      si = ++starS;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === '*') pi++;
  return pi === p.length;
}

/** How many pattern characters at `pi` match `ch` (one element: literal, ?, class); 0 = no match. */
function matchOne(p: string, pi: number, ch: string): number {
  const c = p[pi]!;
  if (c === '?') return 1;
  if (c === '\\' && pi + 1 < p.length) return p[pi + 1] === ch ? 2 : 0;
  if (c === '[') {
    const close = classEnd(p, pi);
    // An unclosed '[' is a literal.
    if (close < 0) return ch === '[' ? 1 : 0;
    return inClass(p.slice(pi + 1, close), ch) ? close + 1 - pi : 0;
  }
  return c === ch ? 1 : 0;
}

function classEnd(p: string, open: number): number {
  for (let i = open + 1; i < p.length; i++) {
    if (p[i] === '\\') i++;
    else if (p[i] === ']' && i > open + 1) return i;
  }
  return -1;
}

function inClass(body: string, ch: string): boolean {
  let negate = false;
  let i = 0;
  if (body[0] === '^') {
    negate = true;
    i = 1;
  }
  let hit = false;
  for (; i < body.length; i++) {
    let lo = body[i]!;
    if (lo === '\\' && i + 1 < body.length) lo = body[++i]!;
    if (body[i + 1] === '-' && i + 2 < body.length) {
      let hi = body[i + 2]!;
      i += 2;
      if (hi === '\\' && i + 1 < body.length) hi = body[++i]!;
      const [a, b] = lo <= hi ? [lo, hi] : [hi, lo];
      if (ch >= a && ch <= b) hit = true;
    } else if (ch === lo) {
      hit = true;
    }
  }
  return negate ? !hit : hit;
}
