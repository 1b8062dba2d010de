// Volume names up to NAME_MAX (255) can be created and removed (temp and
// trash directories have short names of their own), longer ones are refused
// with a clear error, and one volume that cannot be removed never stops a
// `volume prune`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startDaemon, type TestDaemon } from './helpers/daemon';

let d: TestDaemon;

before(async () => {
  d = await startDaemon();
  await d.loadBusybox();
});
after(async () => {
  await d?.stop();
});

const ok = (args: string[]): Promise<string> => d.ok(args).then((s) => s.trim());
const name = (n: number, c = 'v') => c.repeat(n);

test('names of 243 to 255 characters are created and removed; 256 is refused with a clear error', async () => {
  for (const n of [243, 250, 251, 255]) {
    const v = name(n);
    assert.equal(await ok(['volume', 'create', v]), v);
    if (n === 255) assert.equal(await ok(['run', '--rm', '-v', `${v}:/d`, 'busybox', 'sh', '-c', 'echo hi > /d/f && cat /d/f']), 'hi');
    assert.equal(await ok(['volume', 'rm', v]), v);
  }
  const r = await d.docker(['volume', 'create', name(256)]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /volume name is too long \(256 characters, at most 255\)/);
  assert.equal(await ok(['volume', 'ls', '-q']), '');
  assert.deepEqual(fs.readdirSync(path.join(d.dataRoot, 'volumes')), []);
});

test('volume prune -a removes every other volume when one cannot be removed', async () => {
  const long = name(250, 'p');
  for (const v of ['pa', 'pb', long, 'stuck']) await ok(['volume', 'create', v]);
  // An immutable volume directory cannot be renamed away: its removal fails.
  const stuck = path.join(d.dataRoot, 'volumes', 'stuck');
  execFileSync('chattr', ['+i', stuck]);
  try {
    const r = await d.docker(['volume', 'prune', '-a', '-f']);
    assert.equal(r.code, 0, r.stderr);
    for (const v of ['pa', 'pb', long]) assert.match(r.stdout, new RegExp(`^${v}$`, 'm'));
    assert.doesNotMatch(r.stdout, /stuck/);
    assert.equal(await ok(['volume', 'ls', '-q']), 'stuck');
  } finally {
    execFileSync('chattr', ['-i', stuck]);
  }
  await ok(['volume', 'rm', 'stuck']);
  assert.deepEqual(fs.readdirSync(path.join(d.dataRoot, 'volumes')), []);
});
