// Runs on: the main thread (its text is loaded into the Lua state of lua-engine.ts). The Lua
// side of scripting: the sandbox every script runs in and the `redis` library.
//
// The chunk below runs once per Lua state, with the engine's C functions as arguments, and
// returns the two functions the engine calls: compile(source) and run(f, KEYS, ARGV).
//
// - Scripts see a read-only global table (as in Redis 7): reading a global that does not
//   exist and assigning any global are errors with Redis's words. Library tables (string,
//   math, table, redis, ...) are read-only proxies, so one script cannot change what the
//   next one calls; rawset and setmetatable refuse them. io, os, debug, package, require,
//   loadfile and dofile are not there; load and loadstring compile into the same sandbox.
// - KEYS and ARGV are locals of each run (the chunk is compiled with `local KEYS, ARGV = ...`
//   in front, on its first line), so scripts running concurrently on different keys do not
//   share them.
// - redis.call / redis.pcall start the command (ringkv_call, a C function of the engine)
//   and yield true; the engine awaits the command and resumes the coroutine with its reply
//   (converted as Redis converts) and whether it is an error. A yield with no values comes
//   from the time-limit hook: the engine then abandons the run.
// - Lua 5.1 compatibility: unpack, math.pow, table.getn, loadstring, gcinfo; a `bit` library
//   (LuaBitOp's 32-bit semantics) over Lua 5.4's operators; tostring of a float prints as
//   Lua 5.1 does (%.14g: 5 not 5.0). Concatenation (`..`) of a float still prints "5.0":
//   README lists the difference.
export const LUA_PRELUDE = String.raw`
local ringkv_call, ringkv_sha1hex, ringkv_wrap, ringkv_json_encode, ringkv_json_decode, json_null = ...
local yield, running = coroutine.yield, coroutine.running
local getinfo = debug.getinfo
local type, error, tostring, tonumber, select, pcall, xpcall = type, error, tostring, tonumber, select, pcall, xpcall
local setmetatable, getmetatable, rawset, rawget, load = setmetatable, getmetatable, rawset, rawget, load
local format, mathtype, floor, tointeger = string.format, math.type, math.floor, math.tointeger

-- Tables scripts must not change (proxies of libraries, the global table).
local frozen = setmetatable({}, { __mode = 'k' })
local function readonly() error('Attempt to modify a readonly table', 2) end
local function freeze(t)
  local p = setmetatable({}, { __index = t, __newindex = readonly, __metatable = false })
  frozen[p] = true
  return p
end

-- The coroutines of the runs in progress: redis.call yields only to the engine.
local runs = setmetatable({}, { __mode = 'k' })
-- The last error each run's redis.call raised, and the script's line that called it.
-- redis.call raises the error reply's text (a string, as Redis 7.0: pcall(redis.call, ...)
-- returns false and it); run() recognises it to answer it as it is, with no 'ERR ' or
-- position added. (xpcall's handler is not called for an error raised after the coroutine
-- yielded and was resumed, so the line is found here.)
local raised = setmetatable({}, { __mode = 'k' })
local function raise(message)
  local line
  for level = 3, 6 do
    local info = getinfo(level, 'Sl')
    if not info then break end
    if info.source == '@user_script' then line = info.currentline break end
  end
  raised[running()] = { message = message, line = line }
  error(message, 0)
end

local function ensure_run()
  if not runs[running()] then error('ERR redis.call and redis.pcall cannot be called from a coroutine of the script (ringkv)', 3) end
end

local redis = {}
function redis.call(...)
  ensure_run()
  local err = ringkv_call(...)
  if err then raise(err) end
  local reply, failed = yield(true)
  if failed then raise(reply.err) end
  return reply
end
-- Through a C function: 'return redis.call(...)' then keeps the script's frame (a tail call
-- of a Lua function would drop it), so the error can name the script's line.
redis.call = ringkv_wrap(redis.call)
function redis.pcall(...)
  ensure_run()
  local err = ringkv_call(...)
  if err then return { err = err } end
  return (yield(true))
end
local bad_arguments = 'ERR wrong number or type of arguments'
function redis.error_reply(m)
  if type(m) ~= 'string' then return { err = bad_arguments } end
  if m:sub(1, 1) == '-' then m = m:sub(2) end
  if not m:find(' ', 1, true) then m = 'ERR ' .. m end
  return { err = m }
end
function redis.status_reply(m)
  if type(m) ~= 'string' then return { err = bad_arguments } end
  return { ok = m }
end
function redis.sha1hex(s)
  if select('#', s) == 0 or (type(s) ~= 'string' and type(s) ~= 'number') then error('wrong number of arguments', 0) end
  return ringkv_sha1hex(s)
end
function redis.log() end
function redis.setresp(n)
  if n ~= 2 then error('RESP version must be 2 (ringkv scripts speak RESP2 to redis.call)', 2) end
end
function redis.set_repl() end
function redis.replicate_commands() return true end
function redis.breakpoint() return false end
function redis.debug() end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.REDIS_VERSION = '7.0.0'
redis.REDIS_VERSION_NUM = 0x070000

-- LuaBitOp over Lua 5.4's integer operators: 32-bit, results signed.
local function u32(x) return tointeger(floor(x) % 4294967296) end
local function s32(x) x = x & 0xffffffff if x >= 0x80000000 then return x - 0x100000000 end return x end
local bit = {}
function bit.tobit(x) return s32(u32(x)) end
function bit.bnot(x) return s32(~u32(x)) end
local function fold(op)
  return function(a, ...)
    local r = u32(a)
    for i = 1, select('#', ...) do r = op(r, u32((select(i, ...)))) end
    return s32(r)
  end
end
bit.band = fold(function(a, b) return a & b end)
bit.bor = fold(function(a, b) return a | b end)
bit.bxor = fold(function(a, b) return a ~ b end)
function bit.lshift(x, n) return s32(u32(x) << (u32(n) & 31)) end
function bit.rshift(x, n) return s32(u32(x) >> (u32(n) & 31)) end
-- A negative 64-bit integer shifted right keeps ones in bits 32-n..31: arithmetic in 32 bits.
function bit.arshift(x, n) return s32(s32(u32(x)) >> (u32(n) & 31)) end
function bit.rol(x, n) n = u32(n) & 31 x = u32(x) return s32((x << n) | (x >> (32 - n))) end
function bit.ror(x, n) n = u32(n) & 31 x = u32(x) return s32((x >> n) | (x << (32 - n))) end
function bit.bswap(x) x = u32(x) return s32(((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >> 8) & 0xff00) | (x >> 24)) end
function bit.tohex(x, n)
  n = n or 8
  local upper = n < 0
  if upper then n = -n end
  local s = format(upper and '%08X' or '%08x', u32(x))
  return s:sub(-n)
end

-- cjson (lua-json.ts does the work).
local cjson = { null = json_null }
-- Through ringkv_wrap, as redis.call: level 3 (past the C trampoline) is the script's line,
-- even for 'return cjson.encode(...)'.
cjson.encode = ringkv_wrap(function(v)
  local s, err = ringkv_json_encode(v)
  if err then error(err, 3) end
  return s
end)
cjson.decode = ringkv_wrap(function(s)
  if type(s) ~= 'string' then error("bad argument #1 to 'decode' (string expected, got " .. type(s) .. ')', 3) end
  local v, err = ringkv_json_decode(s)
  if err then error(err, 3) end
  return v
end)

local function tostring51(v)
  if mathtype(v) == 'float' then return format('%.14g', v) end
  return tostring(v)
end

local function guarded_rawset(t, k, v)
  if frozen[t] then error('Attempt to modify a readonly table', 2) end
  return rawset(t, k, v)
end

local env -- the scripts' global table (below); load and loadstring compile into it
local mathlib = {}
for k, v in pairs(math) do mathlib[k] = v end
mathlib.pow = function(a, b) return a ^ b end
-- The scripts' coroutine library: yielding the run's own coroutine would hand the engine a
-- value that is not a command.
local colib = {}
for k, v in pairs(coroutine) do colib[k] = v end
colib.yield = function(...)
  if runs[running()] then error('attempt to yield from outside a coroutine', 2) end
  return yield(...)
end
local tablelib = {}
for k, v in pairs(table) do tablelib[k] = v end
tablelib.getn = function(t) return #t end

local globals = {
  assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs, pcall = pcall,
  rawequal = rawequal, rawget = rawget, rawlen = rawlen, rawset = guarded_rawset, select = select,
  setmetatable = setmetatable, getmetatable = getmetatable, tonumber = tonumber,
  tostring = tostring51, type = type, unpack = table.unpack, xpcall = xpcall,
  _VERSION = 'Lua 5.1', collectgarbage = collectgarbage,
  gcinfo = function() return collectgarbage('count') end,
  load = function(chunk, name) return load(chunk, name, 't', env) end,
  loadstring = function(chunk, name) return load(chunk, name, 't', env) end,
  string = freeze(string), table = freeze(tablelib), math = freeze(mathlib),
  coroutine = freeze(colib), utf8 = freeze(utf8),
  bit = freeze(bit), cjson = freeze(cjson), redis = freeze(redis),
}
setmetatable(globals, { __index = function(_, k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end, __metatable = false })
env = setmetatable({}, { __index = globals, __newindex = readonly, __metatable = false })
frozen[env] = true
frozen[globals] = true
globals._G = env
-- Strings' methods come from the string library itself: hide it behind getmetatable.
getmetatable('').__metatable = false

local function compile(source)
  return load(source, '@user_script', 't', env)
end

-- The line of the script where an error was raised (the first frame of the script's own code).
local function where()
  for level = 2, 200 do
    local info = getinfo(level, 'Sl')
    if not info then return nil end
    if info.source == '@user_script' and info.currentline > 0 then return info.currentline end
  end
end

-- Returns true and the script's value, or false, the error, its line, and whether the error
-- is a reply's text as redis.call raised it.
local function run(f, keys, argv)
  local co = running()
  runs[co] = true
  local line
  local ok, r = xpcall(f, function(e) line = where() return e end, keys, argv)
  if ok then return true, r end
  local last = raised[co]
  if last and last.message == r then return false, r, last.line, true end
  if not line and type(r) == 'string' then line = tonumber(r:match('^user_script:(%d+):')) end
  return false, r, line, false
end

return compile, run
`;
