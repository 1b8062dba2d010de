// What an honest layer carries survives berthd both ways, and nothing of the
// host is recorded on the way out: a binary file capability through load →
// export; device nodes and FIFOs through import, run, commit, save and export
// (a Debian rootfs tar from mmdebstrap has /dev nodes); an absolute symlink
// to a host file records none of the host file's xattrs in commit, save or
// export (getfattr used to follow it).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startDaemon, type TestDaemon } from './helpers/daemon';
import { CAP_HIGH_BYTE, dockerArchive, rawTar, readRawTar } from './corpus/hostile-layers';

/** A value with NUL, high bytes, a newline and '=': only bytes survive it. */
const BYTES = Buffer.from([0, 0xff, 0xc3, 0x28, 0x0a, 0x3d, 0x80]);

let d: TestDaemon;
let work: string;
let t: { dir: string; bin: string };

before(async () => {
  work = fs.mkdtempSync('/tmp/berth-roundtrip-');
  t = { dir: path.join(work, 'hostdir'), bin: path.join(work, 'hostbin') };
  fs.mkdirSync(t.dir);
  fs.copyFileSync('/bin/true', t.bin);
  d = await startDaemon();
  await d.loadBusybox();
});

after(async () => {
  await d?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

async function writeTmp(b: Buffer): Promise<string> {
  const p = path.join(work, `in-${Math.random().toString(36).slice(2)}.tar`);
  fs.writeFileSync(p, b);
  return p;
}

describe('what honest images carry survives, and nothing of the host is recorded', () => {
  it('binary xattrs (a file capability) survive load → extraction → export byte for byte', async () => {
    const layer = rawTar([{ name: 'bin', type: 'dir' }, { name: 'bin/ping', body: 'ELF', mode: 0o755, pax: [['SCHILY.xattr.security.capability', CAP_HIGH_BYTE], ['SCHILY.xattr.user.raw', BYTES]] }]);
    await d.ok(['load', '-i', await writeTmp(await dockerArchive(layer, 'caps:1'))]);
    // `docker save` gives the stored blob back as loaded; an export packs the extracted files again.
    await d.ok(['create', '--name', 'capped', 'caps:1']);
    const exported = readRawTar(execFileSync('docker', ['export', 'capped'], { env: d.env, maxBuffer: 64 << 20 }));
    const ping = exported.find((e) => e.name === 'bin/ping');
    assert.ok(ping, 'bin/ping is in the export');
    assert.deepEqual(ping.pax.get('SCHILY.xattr.security.capability'), CAP_HIGH_BYTE);
    assert.deepEqual(ping.pax.get('SCHILY.xattr.user.raw'), BYTES);
  });

  it('an absolute symlink to a host file records none of its xattrs in commit, save or export', async () => {
    execFileSync('setfattr', ['-n', 'user.hostsecret', '-v', 'leak', t.bin]);
    try {
      await d.ok(['run', '--name', 'linker', 'busybox', 'sh', '-c', `ln -s ${t.bin} /hostlink && ln -s ${t.dir} /hostdirlink`]);
      await d.ok(['commit', 'linker', 'linked:1']);
      const saved = execFileSync('docker', ['save', 'linked:1'], { env: d.env, maxBuffer: 64 << 20 });
      const exported = execFileSync('docker', ['export', 'linker'], { env: d.env, maxBuffer: 64 << 20 });
      const layers = readRawTar(saved).filter((e) => readRawTar(e.body).length > 0 && e.name !== 'manifest.json');
      const all = [...layers.flatMap((l) => readRawTar(l.body)), ...readRawTar(exported)];
      const links = all.filter((e) => e.name === 'hostlink' || e.name === 'hostdirlink');
      assert.ok(links.length >= 3, `the links are in the commit and the export: ${links.map((l) => l.name)}`);
      for (const e of links) {
        assert.equal(e.typeflag, '2');
        assert.deepEqual([...e.pax.keys()].filter((k) => k.startsWith('SCHILY.xattr.')), [], `${e.name} carries no host xattrs`);
      }
    } finally {
      execFileSync('setfattr', ['-x', 'user.hostsecret', t.bin]);
    }
  });

  it('docker import of a rootfs with /dev nodes and a fifo; run, commit, save and export keep them', async () => {
    const rootfs = rawTar([
      { name: 'dev', type: 'dir' },
      { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'dev/zero', type: 'char', devmajor: 1, devminor: 5, mode: 0o666 },
      { name: 'dev/console', type: 'char', devmajor: 5, devminor: 1, mode: 0o600 },
      { name: 'dev/initctl', type: 'fifo', mode: 0o600 },
      { name: 'etc', type: 'dir' },
      { name: 'etc/hostname', body: 'rootfs\n' },
    ]);
    const imported = (await d.ok(['import', await writeTmp(rootfs), 'debrootfs:1'])).trim();
    assert.match(imported, /^sha256:[0-9a-f]{64}$/);
    // A container from it sees them (below its /dev tmpfs: through a copy of the image's /dev).
    const saved = execFileSync('docker', ['save', 'debrootfs:1'], { env: d.env, maxBuffer: 64 << 20 });
    const entries = readRawTar(saved).flatMap((e) => readRawTar(e.body));
    const byName = new Map(entries.map((e) => [e.name, e]));
    assert.deepEqual(['3', 1, 3], [byName.get('dev/null')?.typeflag, byName.get('dev/null')?.devmajor, byName.get('dev/null')?.devminor]);
    assert.deepEqual(['3', 1, 5], [byName.get('dev/zero')?.typeflag, byName.get('dev/zero')?.devmajor, byName.get('dev/zero')?.devminor]);
    assert.equal(byName.get('dev/initctl')?.typeflag, '6');
    // Made in a container, committed, then listed by a container of the commit.
    await d.ok(['run', '--name', 'noder', 'busybox', 'sh', '-c', 'mknod /mynull c 1 3 && mkfifo /myfifo && mknod /myblk b 7 0']);
    await d.ok(['commit', 'noder', 'noded:1']);
    const ls = await d.ok(['run', '--rm', 'noded:1', 'ls', '-l', '/mynull', '/myfifo', '/myblk']);
    assert.match(ls, /^c.* 1, +3 .*\/mynull$/m);
    assert.match(ls, /^p.*\/myfifo$/m);
    assert.match(ls, /^b.* 7, +0 .*\/myblk$/m);
    const exp = readRawTar(execFileSync('docker', ['export', 'noder'], { env: d.env, maxBuffer: 64 << 20 }));
    const mynull = exp.find((e) => e.name === 'mynull');
    assert.deepEqual([mynull?.typeflag, mynull?.devmajor, mynull?.devminor], ['3', 1, 3]);
    assert.equal(exp.find((e) => e.name === 'myfifo')?.typeflag, '6');
    // The export imports again: the device nodes are accepted on the way in too.
    await d.ok(['import', await writeTmp(execFileSync('docker', ['export', 'noder'], { env: d.env, maxBuffer: 64 << 20 })), 'reimported:1']);
  });
});
