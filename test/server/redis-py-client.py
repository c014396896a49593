# redis-py (Debian's python3-redis 4.3.4) against a ringkv server: pipeline() with and
# without MULTI, WATCH through Redis.transaction(), and Lock (acquire, release, extend,
# blocking acquire while another holder has it, expiry). Driven by resp-redis-py.test.ts:
#   python3 redis-py-client.py PORT
# prints one JSON line per check, {"check": name, "ok": true} or {"check", "ok": false,
# "error"}, and exits 0 (the test decides). Deadlines are generous (a loaded machine):
# nothing here asserts how long anything took.
import json
import sys
import threading
import time
import traceback

import redis
from redis.exceptions import LockError, LockNotOwnedError, WatchError

PORT = int(sys.argv[1])
PREFIX = "py:" + str(time.time_ns()) + ":"
# How long a blocking acquire may wait for a holder that releases on its own.
BLOCKING_DEADLINE_S = 30


def client():
    return redis.Redis(host="127.0.0.1", port=PORT, socket_timeout=60)


def check_pipeline_transaction(r):
    p = r.pipeline()  # transaction=True: MULTI ... EXEC
    p.set(PREFIX + "t", 1).incr(PREFIX + "t").incrby(PREFIX + "t", 5).get(PREFIX + "t")
    got = p.execute()
    assert got == [True, 2, 7, b"7"], got
    # An error inside EXEC comes back in its place; raise_on_error=False keeps the others.
    p = r.pipeline()
    p.set(PREFIX + "s", "text").incr(PREFIX + "s").get(PREFIX + "s")
    got = p.execute(raise_on_error=False)
    assert got[0] is True and isinstance(got[1], redis.ResponseError) and got[2] == b"text", got
    # A queue-time error (unknown command) aborts the whole EXEC, and nothing ran.
    p = r.pipeline()
    p.set(PREFIX + "abort", "x")
    p.execute_command("NOSUCHCOMMAND")
    try:
        p.execute()
        raise AssertionError("EXECABORT expected")
    except redis.ResponseError as e:
        assert "EXECABORT" in str(e) or "unknown command" in str(e), str(e)
    assert r.get(PREFIX + "abort") is None


def check_pipeline_plain(r):
    p = r.pipeline(transaction=False)
    for i in range(100):
        p.set(PREFIX + "p" + str(i), i)
    for i in range(100):
        p.get(PREFIX + "p" + str(i))
    got = p.execute()
    assert got[:100] == [True] * 100, got[:3]
    assert got[100:] == [str(i).encode() for i in range(100)], got[100:103]


def check_watch(r):
    key = PREFIX + "w"
    r.set(key, 10)

    def add_one(pipe):
        v = int(pipe.get(key))
        pipe.multi()
        pipe.set(key, v + 1)

    got = r.transaction(add_one, key)
    assert got == [True], got
    assert r.get(key) == b"11"
    # Another connection writes the watched key between WATCH and EXEC: WatchError.
    other = client()
    with r.pipeline() as pipe:
        pipe.watch(key)
        v = int(pipe.get(key))
        other.set(key, 100)
        pipe.multi()
        pipe.set(key, v + 1)
        try:
            pipe.execute()
            raise AssertionError("WatchError expected")
        except WatchError:
            pass
    assert r.get(key) == b"100"
    other.close()


def check_lock_acquire_release(r):
    lock = r.lock(PREFIX + "lock", timeout=60)
    assert lock.acquire(blocking=False) is True
    assert lock.locked() and lock.owned()
    rival = client().lock(PREFIX + "lock", timeout=60)
    assert rival.acquire(blocking=False) is False
    assert not rival.owned()
    try:
        rival.release()
        raise AssertionError("releasing a lock not held must fail")
    except LockError:
        pass
    lock.release()
    assert not lock.locked()
    assert rival.acquire(blocking=False) is True
    rival.release()
    # The context manager form.
    with r.lock(PREFIX + "lock-with", timeout=60) as held:
        assert held.owned()
    assert r.get(PREFIX + "lock-with") is None


def check_lock_extend(r):
    lock = r.lock(PREFIX + "ext", timeout=10)
    assert lock.acquire(blocking=False)
    assert lock.extend(50) is True  # adds to the TTL left
    assert 10_000 < r.pttl(PREFIX + "ext") <= 60_000, r.pttl(PREFIX + "ext")
    assert lock.extend(100, replace_ttl=True) is True
    assert 60_000 < r.pttl(PREFIX + "ext") <= 100_000, r.pttl(PREFIX + "ext")
    assert lock.reacquire() is True  # back to the lock's own timeout
    assert 0 < r.pttl(PREFIX + "ext") <= 10_000, r.pttl(PREFIX + "ext")
    lock.release()
    try:
        lock.extend(10)
        raise AssertionError("extending a released lock must fail")
    except LockError:
        pass


def check_lock_blocking(r):
    name = PREFIX + "block"
    # thread_local=False: the thread below releases the token this thread took.
    holder = client().lock(name, timeout=60, thread_local=False)
    assert holder.acquire(blocking=False)
    released = threading.Event()

    def release_soon():
        time.sleep(0.3)
        released.set()
        holder.release()

    t = threading.Thread(target=release_soon)
    t.start()
    waiter = r.lock(name, timeout=60, sleep=0.02, blocking_timeout=BLOCKING_DEADLINE_S)
    assert waiter.acquire() is True
    assert released.is_set(), "acquired before the holder released"
    t.join()
    assert waiter.owned()
    waiter.release()
    # A blocking acquire with a short blocking_timeout gives up while the lock is held.
    holder2 = client().lock(name, timeout=60)
    assert holder2.acquire(blocking=False)
    assert r.lock(name, timeout=60, blocking_timeout=0.2).acquire() is False
    holder2.release()


def check_lock_expiry(r):
    name = PREFIX + "expire"
    first = r.lock(name, timeout=0.3)  # 300 ms: PX 300
    assert first.acquire(blocking=False)
    second = client().lock(name, timeout=60, sleep=0.05, blocking_timeout=BLOCKING_DEADLINE_S)
    assert second.acquire() is True  # once the first one's TTL has run out
    try:
        first.release()
        raise AssertionError("releasing an expired lock that another holds must fail")
    except LockNotOwnedError:
        pass
    assert second.owned()
    second.release()


CHECKS = [
    check_pipeline_transaction,
    check_pipeline_plain,
    check_watch,
    check_lock_acquire_release,
    check_lock_extend,
    check_lock_blocking,
    check_lock_expiry,
]

r = client()
for check in CHECKS:
    name = check.__name__[len("check_"):]
    try:
        check(r)
        print(json.dumps({"check": name, "ok": True}), flush=True)
    except Exception:
        print(json.dumps({"check": name, "ok": False, "error": traceback.format_exc()}), flush=True)
