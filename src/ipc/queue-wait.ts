// Runs on: any thread (sleepSync blocks, so it is for worker threads; sleepAsync never
// blocks and is what the main thread uses). The sleep/wake protocol of a queue's two waits:
// the consumer waiting for records (flag consumerSleeping) and the producer waiting for
// space (flag producerWaiting). See queue-layout.ts for the slots.
//
//   waiter: 1. re-check a bounded time: spin (sync), or poll microtasks, then setImmediate
//              turns (async)
//           2. Atomics.store(flag, 1)                  -- "I sleep"
//           3. re-check (head or tail, and closed)     -- if ready: store(flag, 0), return
//           4. Atomics.wait / waitAsync(flag, 1, timeout)
//           5. Atomics.store(flag, 0), re-check
//   waker:  1. Atomics.store(head or tail)             -- publish / release
//           2. if Atomics.load(flag) === 1 and compareExchange(flag, 1, 0) === 1: notify(flag)
//   close:  store(closed, 1); then for each flag: store(flag, 0), notify(flag)
//
// Why no wake-up is lost: Atomics are sequentially consistent, so of the waiter's steps 2-3
// (store flag, load index) and the waker's steps 1-2 (store index, load flag) at least one
// side sees the other's store: either the waiter sees the new index and does not sleep, or
// the waker sees flag = 1 and clears it. The wait of step 4 blocks only while the flag
// still holds 1, checked atomically with joining the wait queue: a clear before the wait
// makes it return 'not-equal' at once; a clear after it is followed by a notify that finds
// the waiter queued. Close clears the flags the same way, so it wakes a waiter at any step.
// (Waiting on the flag rather than on head or tail is what lets close, and a kick from a
// third thread, wake the waiter without touching the indices. A kick is a flag the
// consumer's re-check reads, set before the kicker reads consumerSleeping: the same
// argument as for head, so a kick is never lost either.)
//
// Cost: a waker notifies only a thread that said it sleeps, and at most once per sleep
// (the compareExchange); a waker facing an awake peer pays one Atomics.load.

/** What a wait ended on. `idle`: its timeout passed, or a kick woke it, with nothing to do. */
export type WaitResult = 'ready' | 'idle' | 'closed';

/** The waiter's condition: 'ready' or 'closed' to stop waiting, undefined to keep waiting. */
export type WaitCheck = () => WaitResult | undefined;

/** Checks between clock reads while spinning. */
const SPIN_CHECKS = 64;

/**
 * Waits, blocking this thread, until `check` answers or `timeoutMs` passes ('idle'): spins
 * `spinMs`, then sleeps on hdr[flag] (adding 1 to hdr[sleepStat] per sleep). After a wake-up
 * that `check` does not answer, returns 'idle' (a kick) unless `persist`, which sleeps again
 * until the deadline (a producer woken by a release too small for it).
 */
export function sleepSync(
  hdr: Int32Array,
  flag: number,
  sleepStat: number,
  check: WaitCheck,
  spinMs: number,
  timeoutMs: number,
  persist: boolean,
): WaitResult {
  let s = check();
  if (s !== undefined) return s;
  const start = performance.now();
  const deadline = start + timeoutMs;
  if (spinMs > 0) {
    const spinEnd = start + Math.min(spinMs, timeoutMs);
    do {
      for (let i = 0; i < SPIN_CHECKS; i++) {
        s = check();
        if (s !== undefined) return s;
      }
    } while (performance.now() < spinEnd);
  }
  for (;;) {
    Atomics.store(hdr, flag, 1);
    s = check();
    const remaining = deadline - performance.now();
    if (s !== undefined || remaining <= 0) {
      Atomics.store(hdr, flag, 0);
      return s ?? 'idle';
    }
    Atomics.add(hdr, sleepStat, 1);
    Atomics.wait(hdr, flag, 1, remaining);
    Atomics.store(hdr, flag, 0);
    s = check();
    if (s !== undefined) return s;
    if (!persist || performance.now() >= deadline) return 'idle';
  }
}

/**
 * sleepSync without blocking: polls `check` with microtasks for `microPollMs`, then once per
 * setImmediate turn up to `pollMs`, then parks on Atomics.waitAsync.
 */
export async function sleepAsync(
  hdr: Int32Array,
  flag: number,
  sleepStat: number,
  check: WaitCheck,
  microPollMs: number,
  pollMs: number,
  timeoutMs: number,
  persist: boolean,
): Promise<WaitResult> {
  let s = check();
  if (s !== undefined) return s;
  const start = performance.now();
  const deadline = start + timeoutMs;
  const microEnd = start + Math.min(microPollMs, timeoutMs);
  const pollEnd = start + Math.min(pollMs, timeoutMs);
  for (let now = start; now < pollEnd; now = performance.now()) {
    if (now < microEnd) await undefined;
    else await nextImmediate();
    s = check();
    if (s !== undefined) return s;
  }
  for (;;) {
    Atomics.store(hdr, flag, 1);
    s = check();
    const remaining = deadline - performance.now();
    if (s !== undefined || remaining <= 0) {
      Atomics.store(hdr, flag, 0);
      return s ?? 'idle';
    }
    Atomics.add(hdr, sleepStat, 1);
    await parkAsync(hdr, flag, remaining);
    Atomics.store(hdr, flag, 0);
    s = check();
    if (s !== undefined) return s;
    if (!persist || performance.now() >= deadline) return 'idle';
  }
}

/**
 * Wakes the thread sleeping on hdr[flag], if one said it sleeps (adding 1 to hdr[wakeStat]);
 * otherwise does nothing. Any thread.
 */
export function wake(hdr: Int32Array, flag: number, wakeStat: number): void {
  if (Atomics.compareExchange(hdr, flag, 1, 0) === 1) {
    Atomics.add(hdr, wakeStat, 1);
    Atomics.notify(hdr, flag, 1);
  }
}

/** Clears hdr[flag] and wakes every thread waiting on it, sleeping or about to (close). */
export function wakeAll(hdr: Int32Array, flag: number): void {
  Atomics.store(hdr, flag, 0);
  Atomics.notify(hdr, flag);
}

/** A setImmediate turn: lets I/O and timers run. */
export function nextImmediate(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

interface AtomicsWaitAsync {
  waitAsync(
    typedArray: Int32Array,
    index: number,
    value: number,
    timeout?: number,
  ): { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
}
/** Atomics.waitAsync (Node >= 16; typed here because lib ES2022 lacks it). */
const AtomicsAsync = Atomics as unknown as AtomicsWaitAsync;

function noop(): void {}

/**
 * Atomics.waitAsync(hdr[flag], 1, timeoutMs). A pending waitAsync does not keep a Node
 * process alive, so a finite wait holds a timer for its duration: it then ends as 'idle'
 * rather than with the process. An unbounded wait holds nothing (something else, such as
 * the Worker on the other side, must keep the process alive).
 */
/** Period of the timer that keeps the event loop open during a timed async park (any value works). */
const KEEP_ALIVE_MS = 60_000;

async function parkAsync(hdr: Int32Array, flag: number, timeoutMs: number): Promise<void> {
  const w = AtomicsAsync.waitAsync(hdr, flag, 1, timeoutMs);
  if (!w.async) return;
  if (timeoutMs === Infinity) {
    await w.value;
    return;
  }
  // An Atomics.waitAsync timeout does not keep Node's event loop alive, and under load V8
  // may resolve it after a timer of the same length fired: an interval (not a one-shot
  // timer) holds the loop open until the wait itself settles, however late.
  const keepAlive = setInterval(noop, KEEP_ALIVE_MS);
  try {
    await w.value;
  } finally {
    clearInterval(keepAlive);
  }
}
