// A namespace file mounted again from a live process (host/network/netnsfile):
// what a berthd restarted in another mount namespace does for the overlays'
// holders and the running containers. A process in a namespace of its own
// (`unshare -n sleep`) stands for a container's init.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mountNetnsOf, sameNs } from '../src/host/network/netnsfile';
import { processStart } from '../src/host/process/start-time';
import { unmountNetnsFile } from '../src/host/network/ip';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function nsProcess(): Promise<number> {
  const p = spawn('unshare', ['-n', 'sleep', '60'], { stdio: 'ignore' });
  const pid = p.pid!;
  // unshare execs sleep in place: wait (bounded) until it is in a namespace other than ours
  for (let i = 0; i < 200; i++) {
    if (!sameNs(`/proc/${pid}/ns/net`, '/proc/self/ns/net') && fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'sleep') return pid;
    await sleep(10);
  }
  throw new Error('unshare -n did not start');
}

test('a stale namespace file is mounted again from the process; a recycled pid (other start time) is refused', async () => {
  const name = `bt-nsf-${randomBytes(3).toString('hex')}`;
  const file = `/run/netns/${name}`;
  const pid = await nsProcess();
  try {
    const start = processStart(pid)!;
    assert.ok(start > 0);
    // what a berthd of another mount namespace finds: an empty file
    fs.mkdirSync('/run/netns', { recursive: true });
    fs.writeFileSync(file, '');
    assert.equal(sameNs(file, `/proc/${pid}/ns/net`), false);
    // another start time: not that process, nothing mounted, the stale file left as it was
    assert.equal(await mountNetnsOf(name, pid, start + 1), false);
    assert.equal(sameNs(file, `/proc/${pid}/ns/net`), false);
    assert.equal(await mountNetnsOf(name, pid, start), true);
    assert.ok(sameNs(file, `/proc/${pid}/ns/net`), 'the file is the process namespace');
    // again: already right, left alone
    assert.equal(await mountNetnsOf(name, pid, start), true);
    // a missing file is made
    await unmountNetnsFile(file);
    fs.unlinkSync(file);
    assert.equal(await mountNetnsOf(name, pid, start), true);
    assert.ok(sameNs(file, `/proc/${pid}/ns/net`));
    // a process that is gone: false
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 200 && processStart(pid) !== undefined; i++) await sleep(10);
    await unmountNetnsFile(file);
    fs.unlinkSync(file);
    assert.equal(await mountNetnsOf(name, pid, start), false);
    assert.equal(fs.existsSync(file), false);
  } finally {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    if (fs.existsSync(file)) {
      await unmountNetnsFile(file);
      fs.rmSync(file, { force: true });
    }
  }
});
