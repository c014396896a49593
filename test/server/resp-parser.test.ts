// The request parser alone: RESP arrays and inline commands, frames split at every
// possible point, quoting, and each limit and malformed frame ending in a protocol error.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ByteTable } from '../../src/server/resp/args.js';
import { splitInline } from '../../src/server/resp/inline.js';
import { type ParserLimits, RespParser } from '../../src/server/resp/parser.js';
import { encodeCommand } from './resp-harness.js';

const LIMITS: ParserLimits = { maxBulkBytes: 512 * 1024 * 1024, maxInlineBytes: 64 * 1024, maxArgs: 1024 * 1024 };

function parse(chunks: Buffer[], limits: ParserLimits = LIMITS): { commands: string[][]; error: string | undefined } {
  const commands: string[][] = [];
  let error: string | undefined;
  const p = new RespParser(limits, {
    command: (args) => commands.push(args.map((a) => a.toString('latin1'))),
    protocolError: (m) => {
      error = m;
    },
  });
  for (const c of chunks) p.feed(c);
  return { commands, error };
}

const STREAM = Buffer.concat([
  encodeCommand(['SET', 'key', 'value']),
  Buffer.from('PING\r\n'),
  encodeCommand(['GET', '']),
  Buffer.from('*0\r\n'),
  Buffer.from('ECHO "a b"\n'),
  encodeCommand(['MSET', 'a', 'x'.repeat(300), 'b', '\r\n$*']),
  Buffer.from('\r\n'),
]);
const EXPECTED = [['SET', 'key', 'value'], ['PING'], ['GET', ''], ['ECHO', 'a b'], ['MSET', 'a', 'x'.repeat(300), 'b', '\r\n$*']];

test('a stream of array and inline commands parses in one chunk', () => {
  assert.equal(parse([STREAM]), { commands: EXPECTED, error: undefined });
});

test('the same stream split at every point, and fed one byte at a time, parses the same', () => {
  for (let cut = 1; cut < STREAM.length; cut++) {
    assert.equal(parse([STREAM.subarray(0, cut), STREAM.subarray(cut)]).commands, EXPECTED, `cut at ${cut}`);
  }
  const bytes = Array.from({ length: STREAM.length }, (_, i) => STREAM.subarray(i, i + 1));
  assert.equal(parse(bytes).commands, EXPECTED);
});

test('a large bulk arriving in many small chunks is assembled intact', () => {
  const value = Buffer.alloc(3 * 1024 * 1024);
  for (let i = 0; i < value.length; i++) value[i] = (i * 7) & 0xff;
  const frame = encodeCommand([Buffer.from('SET'), Buffer.from('k'), value]);
  const chunks: Buffer[] = [];
  for (let i = 0; i < frame.length; i += 1500) chunks.push(frame.subarray(i, i + 1500));
  let got: Buffer[] = [];
  const p = new RespParser(LIMITS, { command: (a) => (got = a), protocolError: (m) => assert.unreachable(m) });
  for (const c of chunks) p.feed(c);
  assert.is(got.length, 3);
  assert.ok(got[2]!.equals(value));
  assert.is(p.bufferedBytes, 0);
});

test('inline: spaces and tabs separate words, quotes and escapes as in redis-cli', () => {
  const words = (s: string) => splitInline(Buffer.from(s, 'latin1'))?.map((b) => b.toString('latin1')) ?? null;
  assert.equal(words('  SET\tkey   value  '), ['SET', 'key', 'value']);
  assert.equal(words(`SET "a b" 'c d'`), ['SET', 'a b', 'c d']);
  assert.equal(words(`ECHO "\\x41\\n\\t\\"q\\"\\\\"`), ['ECHO', 'A\n\t"q"\\']);
  assert.equal(words(`ECHO 'it\\'s'`), ['ECHO', "it's"]);
  assert.equal(words(`ECHO ""`), ['ECHO', '']);
  assert.equal(words(''), []);
  assert.is(words(`ECHO "open`), null);
  assert.is(words(`ECHO 'open`), null);
  assert.is(words(`ECHO "a"b`), null);
});

test('empty and blank inline lines are ignored; *0 and *-1 are empty commands', () => {
  assert.equal(parse([Buffer.from('\r\n\n   \r\n*0\r\n*-1\r\nPING\r\n')]), { commands: [['PING']], error: undefined });
});

const malformed: [string, string | Buffer, Partial<ParserLimits>, string][] = [
  ['unbalanced quotes', 'SET "a b\r\n', {}, 'unbalanced quotes in request'],
  ['a bulk header where $ is due', '*2\r\n$3\r\nGET\r\n:1\r\n', {}, "expected '$', got ':'"],
  ['a negative bulk length', '*1\r\n$-1\r\n', {}, 'invalid bulk length'],
  ['a bulk length that is not a number', '*1\r\n$abc\r\n', {}, 'invalid bulk length'],
  ['an array length that is not a number', '*x\r\n', {}, 'invalid multibulk length'],
  ['a bulk not followed by CRLF', '*1\r\n$3\r\nGETXX', {}, 'bulk string not followed by CRLF'],
  ['a header line without CR', '*1\n$4\r\nPING\r\n', {}, 'invalid multibulk length'],
  ['a header CR not followed by LF', '*1\r\n$3\rX\nGET\r\n', {}, 'invalid bulk length'],
  ['a bulk length of 17 digits', '*1\r\n$' + '0'.repeat(16) + '3\r\nGET\r\n', {}, 'invalid bulk length'],
  ['a bulk over maxBulkBytes', '*2\r\n$3\r\nSET\r\n$1025\r\n', { maxBulkBytes: 1024 }, 'invalid bulk length'],
  ['more arguments than maxArgs', '*9\r\n', { maxArgs: 8 }, 'invalid multibulk length'],
  ['an inline line over maxInlineBytes', 'PING ' + 'x'.repeat(200), { maxInlineBytes: 128 }, 'too big inline request'],
  ['an array header over maxInlineBytes', '*' + '1'.repeat(200), { maxInlineBytes: 128 }, 'too big mbulk count string'],
  ['a bulk header over maxInlineBytes', '*1\r\n$' + '1'.repeat(200), { maxInlineBytes: 128 }, 'too big bulk count string'],
];

for (const [name, input, limits, message] of malformed) {
  test(`protocol error: ${name}`, () => {
    const bytes = Buffer.from(input);
    const l = { ...LIMITS, ...limits };
    assert.equal(parse([bytes], l).error, message);
    // Byte by byte: the limit holds while the line is still incomplete.
    const each = Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
    assert.equal(parse(each, l).error, message);
  });
}

test('a command name in the names table is handed out as the table\'s Buffer, whole or split across chunks; other arguments are views', () => {
  const names = new ByteTable<string>();
  names.add('SET', 'set');
  names.add('set', 'set');
  const stream = Buffer.concat([encodeCommand(['SET', 'SET', 'v']), encodeCommand(['set', 'k', 'v']), encodeCommand(['SeT', 'k', 'v']), encodeCommand(['SETX', 'k'])]);
  for (let cut = 0; cut < stream.length; cut++) {
    const got: Buffer[][] = [];
    const p = new RespParser(LIMITS, { command: (args) => got.push(args), protocolError: assert.unreachable }, names);
    p.feed(stream.subarray(0, cut));
    p.feed(stream.subarray(cut));
    assert.equal(got.map((a) => a.map((b) => b.toString())), [['SET', 'SET', 'v'], ['set', 'k', 'v'], ['SeT', 'k', 'v'], ['SETX', 'k']]);
    assert.is(names.valueOf(got[0]![0]!), 'set', `cut ${cut}`);
    assert.is(names.valueOf(got[0]![1]!), undefined); // a key spelt like a command is still a view
    assert.is(names.valueOf(got[2]![0]!), undefined); // not registered in that case
    assert.is(names.valueOf(got[3]![0]!), undefined);
  }
  const whole: Buffer[][] = [];
  new RespParser(LIMITS, { command: (args) => whole.push(args), protocolError: assert.unreachable }, names).feed(stream);
  assert.is(names.valueOf(whole[1]![0]!), 'set');
});

test('after a protocol error the parser ignores the rest of the stream', () => {
  const r = parse([Buffer.from('*1\r\n$x\r\n'), encodeCommand(['PING'])]);
  assert.equal(r, { commands: [], error: 'invalid bulk length' });
});

test('commands before a protocol error in the same chunk are delivered', () => {
  const r = parse([Buffer.concat([encodeCommand(['PING']), Buffer.from('*1\r\n$x\r\n')])]);
  assert.equal(r, { commands: [['PING']], error: 'invalid bulk length' });
});

/** Parses with the limit events recorded as lines: `refused <n>`, `over <n>`, `error <m>`. */
function parseLimited(chunks: Buffer[], limits: ParserLimits): string[] {
  const out: string[] = [];
  const p = new RespParser(limits, {
    command: (args) => out.push(args.map((a) => a.toString('latin1')).join(' ')),
    protocolError: (m) => out.push(`error ${m}`),
    refused: (n) => out.push(`refused ${n}`),
    overLimit: (n) => out.push(`over ${n}`),
  });
  for (const c of chunks) p.feed(c);
  return out;
}

test('a bulk over maxValueBytes is skipped and its command refused, split at every point; later commands parse', () => {
  const limits = { ...LIMITS, maxValueBytes: 8 };
  const stream = Buffer.concat([encodeCommand(['SET', 'k', 'x'.repeat(20), 'tail']), encodeCommand(['GET', 'k'])]);
  const want = ['refused 20', 'GET k'];
  assert.equal(parseLimited([stream], limits), want);
  for (let cut = 1; cut < stream.length; cut++) {
    assert.equal(parseLimited([stream.subarray(0, cut), stream.subarray(cut)], limits), want, `cut at ${cut}`);
  }
  assert.equal(parseLimited(Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1)), limits), want);
});

test('a skipped bulk not followed by CRLF is a protocol error', () => {
  const bad = Buffer.from(`*2\r\n$3\r\nSET\r\n$20\r\n${'x'.repeat(20)}XY`);
  const limits = { ...LIMITS, maxValueBytes: 8 };
  assert.equal(parseLimited([bad], limits), ['error bulk string not followed by CRLF']);
  assert.equal(parseLimited([bad.subarray(0, 30), bad.subarray(30)], limits), ['error bulk string not followed by CRLF']);
});

test('a command over maxCommandBytes stops the parser at the header of the bulk that passes it', () => {
  const limits = { ...LIMITS, maxCommandBytes: 100 };
  const p = new RespParser(limits, { command: () => assert.unreachable(), protocolError: (m) => assert.unreachable(m), overLimit: (n) => (over = n) });
  let over = 0;
  p.feed(Buffer.from(`*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$200\r\n`));
  assert.is(over, 4 + 9 + 7 + 6 + 202);
  assert.is(p.bufferedBytes, 0);
  assert.equal(parseLimited([encodeCommand(['SET', 'k', 'x'.repeat(50)])], limits), ['SET k ' + 'x'.repeat(50)]);
});

test('a big bulk in pieces is held once, in a buffer of its own size, and counted as it arrives', () => {
  const value = Buffer.alloc(200 * 1024, 7);
  const frame = encodeCommand([Buffer.from('SET'), Buffer.from('k'), value]);
  let got: Buffer[] = [];
  const p = new RespParser(LIMITS, { command: (a) => (got = a), protocolError: (m) => assert.unreachable(m) });
  p.feed(frame.subarray(0, 1000));
  assert.is(p.bufferedBytes, 1000);
  p.feed(frame.subarray(1000, 150_000));
  assert.is(p.bufferedBytes, 150_000);
  p.feed(frame.subarray(150_000));
  assert.is(p.bufferedBytes, 0);
  assert.ok(got[2]!.equals(value));
  assert.is(got[2]!.buffer.byteLength, value.length + 2, 'one buffer of the bulk\'s size, not a view of a chunk');
});

test('unauthenticated limits name themselves in the protocol error', () => {
  const limits = { ...LIMITS, maxArgs: 10, maxBulkBytes: 16 * 1024, unauthenticated: true };
  assert.equal(parseLimited([Buffer.from('*11\r\n')], limits), ['error unauthenticated multibulk length']);
  assert.equal(parseLimited([Buffer.from('*1\r\n$16385\r\n')], limits), ['error unauthenticated bulk length']);
  assert.equal(parseLimited([encodeCommand(['AUTH', 'pw'])], limits), ['AUTH pw']);
});

test.run();
