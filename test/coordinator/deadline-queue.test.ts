// The transport's deadline FIFO: oldest first, settled entries dropped when they reach the
// head, items reused with new ids never confused with their old entries, growth with wrap.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DeadlineQueue } from '../../src/coordinator/deadline-queue.js';

test('entries come out oldest first; settled ones are trimmed at the head only', () => {
  const q = new DeadlineQueue<{ id: number }>(100);
  const items = Array.from({ length: 5 }, (_, i) => ({ id: i + 1 }));
  items.forEach((it, i) => q.push(it, 1000 + i));
  items[1]!.id = 0; // settled, behind a live head: stays until it reaches the head
  q.trim();
  assert.is(q.size, 5);
  assert.is(q.headDeadline, 1000);
  items[0]!.id = 0;
  q.trim(); // drops items 0 and 1
  assert.is(q.size, 3);
  assert.is(q.headDeadline, 1002);
  assert.is(q.shift(), items[2]);
  assert.is(q.headDeadline, 1003);
});

test('an item reused with a new id is not mistaken for its old entry', () => {
  const q = new DeadlineQueue<{ id: number }>(100);
  const it = { id: 7 };
  q.push(it, 10);
  it.id = 8; // settled, then reused for a new request
  q.push(it, 20);
  q.trim();
  assert.is(q.size, 1);
  assert.is(q.headDeadline, 20);
});

test('grows past its first capacity with the head anywhere, keeping the order', () => {
  const q = new DeadlineQueue<{ id: number }>(100);
  let next = 1;
  const live: { id: number }[] = [];
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 1500; i++) {
      const it = { id: next++ };
      live.push(it);
      q.push(it, it.id);
    }
    for (let i = 0; i < 1000; i++) live.shift()!.id = 0; // the oldest settle
    q.trim();
    assert.is(q.size, live.length);
    assert.is(q.headDeadline, live[0]!.id);
  }
  for (const it of live) assert.is(q.shift(), it);
  assert.is(q.size, 0);
  assert.is(q.headDeadline, Infinity);
});

test.run();
