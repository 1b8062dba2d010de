// Swarm objects' timestamps as dockerd writes them: the docker CLI
// re-encodes what it inspects, so berth's output equals it only if ours
// already has Go's form (a node created at …:24.000 showed "…:24.000Z"
// through berth and "…:24Z" through docker).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { goJsonTime } from '../src/util/go-json-time';

test('the fraction loses its trailing zeros, and a zero fraction its point', () => {
  assert.equal(goJsonTime('2026-12-04T10:16:24.000Z'), '2026-12-04T10:16:24Z');
  assert.equal(goJsonTime('2026-12-04T10:16:24.120Z'), '2026-12-04T10:16:24.12Z');
  assert.equal(goJsonTime('2026-12-04T10:16:24.100Z'), '2026-12-04T10:16:24.1Z');
  assert.equal(goJsonTime('2026-12-04T10:16:24.123Z'), '2026-12-04T10:16:24.123Z');
  assert.equal(goJsonTime('2026-12-04T10:16:24.123456789Z'), '2026-12-04T10:16:24.123456789Z');
  assert.equal(goJsonTime('2026-12-04T10:16:24Z'), '2026-12-04T10:16:24Z');
});

test('anything that is not a UTC ISO time is left as it is', () => {
  assert.equal(goJsonTime(undefined), undefined);
  assert.equal(goJsonTime(''), '');
  assert.equal(goJsonTime('2026-12-04T10:16:24.120+01:00'), '2026-12-04T10:16:24.120+01:00');
});
