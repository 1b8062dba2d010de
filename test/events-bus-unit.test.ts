// The event history `events --since` replays: the last 8,192 events, in
// order, the oldest dropped first, whatever the ring's position.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventBus } from '../src/events/bus';

test('history keeps the last 8,192 events in order', () => {
  const bus = new EventBus();
  const t0 = Date.now() * 1e6;
  for (let i = 0; i < 8192 + 1500; i++) bus.publish('container', 'start', `c${i}`);
  const all = bus.since(0);
  assert.equal(all.length, 8192);
  assert.equal(all[0].Actor.ID, 'c1500', 'the oldest 1,500 dropped');
  assert.equal(all[all.length - 1].Actor.ID, `c${8192 + 1499}`);
  for (let i = 1; i < all.length; i++) assert.equal(all[i].Actor.ID, `c${1500 + i}`);
  assert.ok(all.every((e) => e.timeNano >= t0 - 1e9));
  // below capacity: everything, as published
  const small = new EventBus();
  for (let i = 0; i < 3; i++) small.publish('image', 'tag', `i${i}`);
  assert.deepEqual(small.since(0).map((e) => e.Actor.ID), ['i0', 'i1', 'i2']);
  assert.deepEqual(small.since(Infinity), []);
});
