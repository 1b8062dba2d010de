// Compose's progress output without a daemon: plain lines, and the live
// block a terminal gets (redrawn in place, aligned, timed), on a fake clock.
import { test } from 'node:test';
/* eslint-disable no-control-regex -- the output under test is made of ANSI escapes */
import assert from 'node:assert/strict';
import { Progress } from '../src/compose/progress';

const strip = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');

test('plain: one line per step, warnings as logrus writes them', () => {
  let out = '';
  const p = new Progress((s) => { out += s; }, 'auto', false);
  p.event('Network', 'app_default', 'Creating');
  p.event('Network', 'app_default', 'Created');
  p.warn('careful');
  p.end();
  assert.equal(out, ' Network app_default  Creating\n Network app_default  Created\nWARN[0000] careful\n');
  let quiet = '';
  new Progress((s) => { quiet += s; }, 'quiet', true).event('Container', 'x', 'Started');
  assert.equal(quiet, '');
});

test('terminal: a live block redrawn in place, as Compose v2 draws it', () => {
  const writes: string[] = [];
  let now = 1000;
  const p = new Progress((s) => writes.push(s), 'auto', true, { width: () => 50, now: () => now });
  p.event('Network', 'app_default', 'Creating');
  now += 100;
  p.event('Network', 'app_default', 'Created');
  p.event('Container', 'app-web-1', 'Creating');
  now += 1500;
  p.event('Container', 'app-web-1', 'Started');
  p.end();
  // the first frame draws from where the cursor is; every later one moves up over the previous block
  assert.doesNotMatch(writes[0], /\x1b\[\d+A/);
  assert.match(writes[1], /^\x1b\[\?25l\x1b\[2A\x1b\[0G/);
  assert.match(writes[3], /^\x1b\[\?25l\x1b\[3A\x1b\[0G/);
  const last = strip(writes[writes.length - 1]).split('\n');
  assert.deepEqual(last, [
    '[+] Running 2/2',
    ' ✔ Network app_default Created                0.1s',
    ' ✔ Container app-web-1 Started                1.5s',
    '',
  ]);
  assert.equal(last[1].length, 50, 'a line fills the terminal width, timer at the right edge');
  // in progress: a spinner frame and the running time
  assert.match(strip(writes[2]), /^\[\+\] Running 1\/2\n ✔ Network app_default Created +0\.1s\n ⠋ Container app-web-1 Creating +0\.0s\n$/);
  // after end(): settled single lines (what follows the block, e.g. an attached up's stop)
  writes.length = 0;
  p.event('Container', 'app-web-1', 'Stopping');
  p.event('Container', 'app-web-1', 'Stopped');
  assert.deepEqual(writes, [' ✔ Container app-web-1  Stopped\n']);
});

test('terminal: a warning goes above the block, errors get ✘, long names are shortened', () => {
  const writes: string[] = [];
  const p = new Progress((s) => writes.push(s), 'tty', false, { width: () => 40, now: () => 0 });
  p.event('Container', 'a-very-long-project-name-web-1', 'Creating');
  p.warn('orphans');
  p.event('Container', 'a-very-long-project-name-web-1', 'Error', true);
  p.end();
  assert.match(writes[1], /^\x1b\[2A\x1b\[0G\x1b\[J$/);
  assert.equal(writes[2], 'WARN[0000] orphans\n');
  const last = strip(writes[writes.length - 1]).split('\n');
  assert.equal(last[0], '[+] Running 1/1');
  assert.match(last[1], /^ ✘ Container a-very-long-pro… Error +0\.0s$/);
  assert.ok(last[1].length <= 40, last[1]);
});
