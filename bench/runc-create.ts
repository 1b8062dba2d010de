// `runc create` alone on a prepared bundle: the spec berthd writes (buildSpec,
// default profile) and variants of it, interleaved, wall ms per create.
//
//   flock /tmp/berth-bench.lock node dist/bench/runc-create.js [--runs N] [--only a,b]
//
// Variants (the ones marked * change what the container sees: measurement only):
//   default    as berthd writes it (x86_64 + x86 + x32, 22 rules)
//   merged     same results, fewest rules: every unconditioned ALLOW name in one
//              rule, ERRNO rules by errno, rules equal to the default left out
//   nox32    * the x32 sub-architecture left out (x32 calls: SIGSYS kill)
//   x64only  * x86_64 only (ia32 calls: SIGSYS kill)
//   noseccomp* no filter
//   netns      default, joining a prepared network namespace (as berthd does)
// The rootfs is the host's static busybox; runc state, cgroups (/runc7bench/…)
// and the netns are removed at the end.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { buildSpec } from '../src/host/runtime/spec';
import type { OciSeccomp, OciSpec } from '../src/host/runtime/spec-types';

const args = process.argv.slice(2);
const opt = (k: string): string | undefined => { const i = args.indexOf(k); return i >= 0 ? args[i + 1] : undefined; };
const runs = Number(opt('--runs') ?? 30);
const ALL = ['default', 'merged', 'nox32', 'x64only', 'noseccomp', 'netns'];
const only = (opt('--only') ?? ALL.join(',')).split(',');
for (const v of only) if (!ALL.includes(v)) throw new Error(`unknown variant ${v} (${ALL.join(', ')})`);

/** The same action for every syscall on every arch, in fewer rules (see the header). */
function merged(s: OciSeccomp): OciSeccomp {
  const allow = new Set<string>();
  const errno = new Map<number, Set<string>>();
  const rest = [];
  for (const r of s.syscalls ?? []) {
    if (r.args?.length) rest.push(r);
    else if (r.action === 'SCMP_ACT_ALLOW') for (const n of r.names) allow.add(n);
    else if (r.action === 'SCMP_ACT_ERRNO' && s.defaultAction === 'SCMP_ACT_ERRNO' && (r.errnoRet ?? 1) === (s.defaultErrnoRet ?? 1)) continue;
    else if (r.action === 'SCMP_ACT_ERRNO') { const e = r.errnoRet ?? 1; if (!errno.has(e)) errno.set(e, new Set()); for (const n of r.names) errno.get(e)!.add(n); }
    else rest.push(r);
  }
  return { ...s, syscalls: [{ names: [...allow], action: 'SCMP_ACT_ALLOW' }, ...[...errno].map(([e, n]) => ({ names: [...n], action: 'SCMP_ACT_ERRNO', errnoRet: e })), ...rest] };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-runc-create-'));
const root = path.join(dir, 'state');
const netns = `brc${process.pid}`;
const rootfs = path.join(dir, 'rootfs');
for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
fs.copyFileSync('/usr/bin/busybox', path.join(rootfs, 'bin/busybox'));
fs.symlinkSync('busybox', path.join(rootfs, 'bin/true'));

function bundle(v: string): string {
  const spec: OciSpec = buildSpec({
    id: v, rootfs, args: ['/bin/true'], env: ['PATH=/bin'], workingDir: '/', tty: false, openStdin: false, hostname: 'h', domainname: '',
    user: { uid: 0, gid: 0, additionalGids: [], home: '/root' }, etcFiles: {}, cgroupsPath: `/runc7bench/${process.pid}-${v}`, host: {},
  } as Parameters<typeof buildSpec>[0]);
  const s = spec.linux.seccomp;
  if (v === 'merged' && s) spec.linux.seccomp = merged(s);
  if (v === 'nox32' && s) s.architectures = (s.architectures ?? []).filter((a) => a !== 'SCMP_ARCH_X32');
  if (v === 'x64only' && s) s.architectures = ['SCMP_ARCH_X86_64'];
  if (v === 'noseccomp') delete spec.linux.seccomp;
  if (v === 'netns') for (const n of spec.linux.namespaces) if (n.type === 'network') n.path = `/var/run/netns/${netns}`;
  const b = path.join(dir, v);
  fs.mkdirSync(b);
  fs.writeFileSync(path.join(b, 'config.json'), JSON.stringify(spec));
  return b;
}

const median = (a: number[]): number => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
const times = new Map<string, number[]>(only.map((v) => [v, []]));
try {
  if (only.includes('netns')) execFileSync('ip', ['netns', 'add', netns]);
  const bundles = new Map(only.map((v) => [v, bundle(v)]));
  const err = fs.openSync(path.join(dir, 'err.log'), 'w');
  for (let i = 0; i < runs; i++) {
    for (const v of only) {
      const id = `${v}-${i}`;
      const t = process.hrtime.bigint();
      // stdout/stderr to a file: runc init keeps them open until start or delete
      const r = spawnSync('runc', ['--root', root, 'create', '--bundle', bundles.get(v)!, id], { stdio: ['ignore', err, err] });
      const ms = Number(process.hrtime.bigint() - t) / 1e6;
      if (r.status !== 0) throw new Error(`runc create (${v}) failed: ${fs.readFileSync(path.join(dir, 'err.log'), 'utf8').slice(-500)}`);
      times.get(v)!.push(ms);
      spawnSync('runc', ['--root', root, 'delete', '--force', id], { stdio: 'ignore' });
    }
  }
  console.log(`runc create, ${runs} runs each, interleaved; load ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  for (const [v, t] of times) console.log(`${v.padEnd(10)} median ${median(t).toFixed(1)} ms  (min ${Math.min(...t).toFixed(1)}, max ${Math.max(...t).toFixed(1)})`);
} finally {
  spawnSync('ip', ['netns', 'del', netns], { stdio: 'ignore' });
  // runc delete removed each container's cgroup; the parent stays unless another run uses it
  for (const c of fs.readdirSync('/sys/fs/cgroup')) try { fs.rmdirSync(`/sys/fs/cgroup/${c}/runc7bench`); } catch { /* absent or in use */ }
  fs.rmSync(dir, { recursive: true, force: true });
}
