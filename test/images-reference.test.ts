// Reference parsing as Docker's distribution/reference does it (pure).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNormalized, parseTagged, familiarString, fullString, familiarName, familiarOf } from '../src/image/reference';
import { InvalidParameter } from '../src/util/errors';

test('normalizes familiar names', () => {
  const cases: Array<[string, string, string]> = [
    ['busybox', 'docker.io/library/busybox', 'busybox'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36', 'busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox', 'busybox'],
    ['docker.io/busybox', 'docker.io/library/busybox', 'busybox'],
    ['index.docker.io/library/busybox:latest', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['team/app', 'docker.io/team/app', 'team/app'],
    ['team/sub/app:v1', 'docker.io/team/sub/app:v1', 'team/sub/app:v1'],
    ['localhost/app', 'localhost/app', 'localhost/app'],
    ['localhost:5000/team/app:1.0', 'localhost:5000/team/app:1.0', 'localhost:5000/team/app:1.0'],
    ['registry.example.com/a/b', 'registry.example.com/a/b', 'registry.example.com/a/b'],
    ['127.0.0.1:5000/app:x', '127.0.0.1:5000/app:x', '127.0.0.1:5000/app:x'],
    ['my_app-1.2__x', 'docker.io/library/my_app-1.2__x', 'my_app-1.2__x'],
    [`busybox@sha256:${'a'.repeat(64)}`, `docker.io/library/busybox@sha256:${'a'.repeat(64)}`, `busybox@sha256:${'a'.repeat(64)}`],
    [`busybox:1@sha256:${'b'.repeat(64)}`, `docker.io/library/busybox:1@sha256:${'b'.repeat(64)}`, `busybox:1@sha256:${'b'.repeat(64)}`],
  ];
  for (const [input, full, familiar] of cases) {
    const r = parseNormalized(input);
    assert.equal(fullString(r), full, input);
    assert.equal(familiarString(r), familiar, input);
    assert.equal(familiarOf(full), familiar, full);
  }
  assert.equal(familiarName(parseNormalized('busybox:1')), 'busybox');
});

test('default tag', () => {
  assert.equal(fullString(parseTagged('busybox')), 'docker.io/library/busybox:latest');
  assert.equal(fullString(parseTagged('localhost:5000/x')), 'localhost:5000/x:latest');
  assert.equal(parseTagged(`x@sha256:${'c'.repeat(64)}`).tag, undefined);
});

test("rejects bad references with Docker's messages", () => {
  const bad: Array<[string, string | RegExp]> = [
    ['Busybox', 'invalid reference format: repository name (library/Busybox) must be lowercase'],
    ['team/App', 'invalid reference format: repository name (team/App) must be lowercase'],
    ['', 'invalid reference format'],
    ['busybox:', 'invalid reference format'],
    [':tag', 'invalid reference format'],
    ['a//b', 'invalid reference format'],
    ['-bad', 'invalid reference format'],
    ['bad-', 'invalid reference format'],
    ['a:b:c', 'invalid reference format'],
    ['busybox:-tag', 'invalid reference format'],
    [`busybox:${'t'.repeat(129)}`, 'invalid reference format'],
    ['busybox@sha256:abc', 'invalid reference format'],
    ['a'.repeat(256), /must not be more than 255 characters/],
    ['a'.repeat(64).replace(/a/g, 'f'), /cannot specify 64-byte hexadecimal strings/],
    ['UPPER.example.com/app:1 x', 'invalid reference format'],
  ];
  for (const [input, msg] of bad) {
    assert.throws(() => parseNormalized(input), (e: unknown) => {
      assert.ok(e instanceof InvalidParameter, input);
      if (typeof msg === 'string') assert.equal((e as Error).message, msg, JSON.stringify(input));
      else assert.match((e as Error).message, msg, input);
      return true;
    }, input);
  }
});

test('a registry host may have uppercase letters, the path may not', () => {
  assert.equal(fullString(parseNormalized('Registry.Example.com/app')), 'Registry.Example.com/app');
  assert.throws(() => parseNormalized('registry.example.com/App'), /must be lowercase/);
});
