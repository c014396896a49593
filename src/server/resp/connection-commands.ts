// Runs on: the main thread. Commands about the connection itself: PING, ECHO, QUIT,
// SELECT, AUTH, HELLO, CLIENT. All answer synchronously, so a state change (HELLO 3, AUTH)
// applies to exactly the commands after it.
import { createHash, timingSafeEqual } from 'node:crypto';
import { isWord, keyString, parseInteger, text } from './args.js';
import { defineCommand, type CommandSpec } from './command.js';
import { ErrorPrefix, OK, PONG, type Reply, ReplyError, RespMap, syntaxError } from './reply.js';
import type { Session } from './session.js';

/** Whether `given` is the password, in time independent of where they differ. */
function passwordMatches(s: Session, given: Buffer): boolean {
  const want = s.server.options.requirepass;
  if (want === undefined) return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(want).digest();
  return timingSafeEqual(a, b);
}

const WRONGPASS = new ReplyError(ErrorPrefix.WRONGPASS, 'invalid username-password pair or user is disabled.');

/** AUTH's check (also HELLO's AUTH); null when it passed. */
function authenticate(s: Session, user: Buffer | undefined, pass: Buffer): ReplyError | null {
  if (s.server.options.requirepass === undefined) {
    return new ReplyError(
      ErrorPrefix.ERR,
      'AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?',
    );
  }
  // There is one user, 'default', as in Redis without ACLs.
  if ((user !== undefined && keyString(user) !== 'default') || !passwordMatches(s, pass)) return WRONGPASS;
  s.authed = true;
  return null;
}

function auth(s: Session, args: Buffer[]): Reply {
  if (args.length > 3) throw syntaxError();
  const failed = args.length === 3 ? authenticate(s, args[1], args[2]!) : authenticate(s, undefined, args[1]!);
  return failed ?? OK;
}

/** Client names: printable ASCII without spaces, as Redis requires. */
function validName(name: Buffer): boolean {
  for (const c of name) if (c < 0x21 || c > 0x7e) return false;
  return true;
}

function badName(): ReplyError {
  return new ReplyError(ErrorPrefix.ERR, 'Client names cannot contain spaces, newlines or special characters.');
}

function hello(s: Session, args: Buffer[]): Reply {
  let proto = s.proto;
  let name: Buffer | undefined;
  if (args.length >= 2) {
    const v = parseInteger(args[1]!);
    if (v === null) throw new ReplyError(ErrorPrefix.ERR, 'Protocol version is not an integer or out of range');
    if (v !== 2 && v !== 3) return new ReplyError(ErrorPrefix.NOPROTO, 'unsupported protocol version');
    proto = v;
  }
  for (let i = 2; i < args.length; i++) {
    const a = args[i]!;
    if (isWord(a, 'auth') && i + 2 < args.length) {
      const failed = authenticate(s, args[i + 1], args[i + 2]!);
      if (failed) return failed;
      i += 2;
    } else if (isWord(a, 'setname') && i + 1 < args.length) {
      name = args[++i]!;
      if (!validName(name)) return badName();
    } else {
      throw syntaxError();
    }
  }
  if (!s.authed) {
    return new ReplyError(
      ErrorPrefix.NOAUTH,
      'HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time',
    );
  }
  s.proto = proto;
  if (name !== undefined) s.name = keyString(name);
  return new RespMap([
    'server', 'ringkv',
    'version', s.server.options.version,
    'proto', proto,
    'id', s.id,
    'mode', 'standalone',
    'role', 'master',
    'modules', [],
  ]);
}

/** One line of CLIENT LIST / CLIENT INFO. */
export function clientLine(c: Session, now: number): string {
  return (
    `id=${c.id} addr=${c.address} name=${c.name ?? ''} age=${Math.floor((now - c.createdAt) / 1000)} ` +
    `idle=${Math.floor((now - c.lastCommandAt) / 1000)} db=0 resp=${c.proto} lib-name=${c.libName} lib-ver=${c.libVersion}\n`
  );
}

function client(s: Session, args: Buffer[]): Reply {
  const sub = args[1]!;
  if (isWord(sub, 'setname') && args.length === 3) {
    const name = args[2]!;
    if (!validName(name)) return badName();
    s.name = name.length === 0 ? null : keyString(name);
    return OK;
  }
  if (isWord(sub, 'getname') && args.length === 2) return s.name;
  if (isWord(sub, 'id') && args.length === 2) return s.id;
  if (isWord(sub, 'setinfo') && args.length === 4) {
    const value = args[3]!;
    if (!validName(value)) return new ReplyError(ErrorPrefix.ERR, `${text(args[2]!)} cannot contain spaces, newlines or special characters.`);
    if (isWord(args[2]!, 'lib-name')) s.libName = keyString(value);
    else if (isWord(args[2]!, 'lib-ver')) s.libVersion = keyString(value);
    else return new ReplyError(ErrorPrefix.ERR, `Unrecognized option '${text(args[2]!)}'`);
    return OK;
  }
  if (isWord(sub, 'info') && args.length === 2) return clientLine(s, Date.now());
  if (isWord(sub, 'list') && args.length === 2) {
    const now = Date.now();
    let out = '';
    for (const c of s.server.sessions()) out += clientLine(c, now);
    return out;
  }
  // Accepted and ignored: they tune eviction and LRU, which a versioned store does not have.
  if ((isWord(sub, 'no-evict') || isWord(sub, 'no-touch')) && args.length === 3) return OK;
  return new ReplyError(ErrorPrefix.ERR, `unknown subcommand or wrong number of arguments for '${text(sub)}'. Try CLIENT HELP.`);
}

function select(_s: Session, args: Buffer[]): Reply {
  const db = parseInteger(args[1]!);
  if (db === null) throw new ReplyError(ErrorPrefix.ERR, 'value is not an integer or out of range');
  if (db !== 0) return new ReplyError(ErrorPrefix.ERR, 'DB index is out of range (ringkv has one database: 0)');
  return OK;
}

function quit(s: Session): Reply {
  s.quit = true;
  return OK;
}

export const connectionCommands: readonly CommandSpec[] = [
  defineCommand('ping', { arity: -1, flags: ['fast'], run: (_s, a) => (a.length === 1 ? PONG : a.length === 2 ? a[1]! : syntaxError()) }),
  defineCommand('echo', { arity: 2, flags: ['fast'], run: (_s, a) => a[1]! }),
  defineCommand('quit', { arity: -1, flags: ['fast'], noAuth: true, run: quit }),
  defineCommand('select', { arity: 2, flags: ['fast'], run: select }),
  defineCommand('auth', { arity: -2, flags: ['fast'], noAuth: true, run: auth }),
  defineCommand('hello', { arity: -1, flags: ['fast'], noAuth: true, run: hello }),
  defineCommand('client', { arity: -2, flags: [], run: client }),
];
