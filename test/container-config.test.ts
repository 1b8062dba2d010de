// The container config module on its own (src/container/config.ts): HostConfig
// defaults, the image-config merge, and the one validator of create and
// update, with the texts Docker (and the end-to-end tests) use. No daemon.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyUpdate, HOST_DEFAULTS, mergeImageConfig, validateRestartPolicy, verifyContainerSettings, withHostDefaults } from '../src/container/config';
import { memorySwapLimit } from '../src/host/runtime/spec';
import type { HostConfig } from '../src/container/types';
import type { ImageRecord } from '../src/image/types';

const MB = 1024 * 1024;
const RUNTIMES = { runc: 'runc', crun: 'crun' };

function host(h: Record<string, unknown> = {}): HostConfig {
  return withHostDefaults(h, {});
}

/** The create-time validator on HostConfig `h` (and Config `config`). */
function create(h: Record<string, unknown>, config: Record<string, unknown> = {}): string[] {
  return verifyContainerSettings(host(h), { config, runtimes: RUNTIMES });
}

/** An InvalidParameter (400) with exactly this text. */
function refused(fn: () => unknown, text: string): void {
  assert.throws(fn, (e: Error & { status?: number }) => {
    assert.equal(e.message, text);
    assert.equal(e.status, 400);
    return true;
  });
}

test('defaults: Docker\'s HostConfig, the daemon\'s runtime and log driver', () => {
  const h = withHostDefaults({}, { defaultRuntime: 'crun', logDriver: 'local', logOpts: { 'max-size': '5m' } });
  assert.deepEqual(h.RestartPolicy, { Name: 'no', MaximumRetryCount: 0 });
  assert.equal(h.NetworkMode, 'default');
  assert.equal(h.ShmSize, 64 * MB);
  assert.equal(h.IpcMode, 'private');
  assert.equal(h.Runtime, 'crun');
  assert.deepEqual(h.LogConfig, { Type: 'local', Config: { 'max-size': '5m' } });
  // Asked for: kept; null and '' fall back to the defaults.
  const asked = withHostDefaults({ Runtime: 'runc', RestartPolicy: { Name: '', MaximumRetryCount: 0 }, NetworkMode: '', Dns: null, ShmSize: 0 }, { defaultRuntime: 'crun' });
  assert.equal(asked.Runtime, 'runc');
  assert.equal(asked.RestartPolicy.Name, 'no');
  assert.equal(asked.NetworkMode, 'default');
  assert.deepEqual(asked.Dns, []);
  assert.equal(asked.ShmSize, 64 * MB);
  assert.equal(host().Runtime, 'runc');
  assert.deepEqual(host().LogConfig, { Type: 'json-file', Config: {} });
  assert.equal(HOST_DEFAULTS.Memory, 0);
  // A log option the driver does not know fails here, at create.
  assert.throws(() => withHostDefaults({ LogConfig: { Type: 'json-file', Config: { mode: 'bogus' } } }, {}), /logging mode not supported: bogus/);
});

test('image config merge: env by key, Cmd and Entrypoint as Docker picks them, labels', () => {
  const img = { config: { config: { Env: ['PATH=/bin', 'A=1'], Cmd: ['sh'], Entrypoint: ['/init'], Labels: { a: 'img', b: 'img' }, WorkingDir: '/w', User: 'app', ExposedPorts: { '80/tcp': {} } } } } as unknown as ImageRecord;
  const c = mergeImageConfig({ Image: 'x', Env: ['A=2', 'B=3'], Labels: { b: 'req' } }, img);
  assert.deepEqual(c.Env, ['PATH=/bin', 'A=2', 'B=3']);
  assert.deepEqual(c.Cmd, ['sh']);
  assert.deepEqual(c.Entrypoint, ['/init']);
  assert.deepEqual(c.Labels, { a: 'img', b: 'req' });
  assert.equal(c.WorkingDir, '/w');
  assert.equal(c.User, 'app');
  assert.deepEqual(c.ExposedPorts, { '80/tcp': {} });
  // A request's entrypoint drops the image's Cmd; --entrypoint '' clears the image's entrypoint only.
  assert.equal(mergeImageConfig({ Image: 'x', Entrypoint: ['top'] }, img).Cmd, null);
  const cleared = mergeImageConfig({ Image: 'x', Entrypoint: [''] }, img);
  assert.deepEqual(cleared.Entrypoint, []);
  assert.deepEqual(cleared.Cmd, ['sh']);
  assert.deepEqual(mergeImageConfig({ Image: 'x', Cmd: 'echo' }, img).Cmd, ['echo']);
});

test('create: memory limits with Docker\'s texts', () => {
  refused(() => create({ Memory: 4 * MB }), 'Minimum memory limit allowed is 6MB');
  refused(() => create({ Memory: -1 }), 'Minimum memory limit allowed is 6MB');
  refused(() => create({ Memory: 32 * MB, MemorySwap: 16 * MB }), 'Minimum memoryswap limit should be larger than memory limit, see usage');
  refused(() => create({ MemorySwap: 64 * MB }), 'You should always set the Memory limit when using Memoryswap limit, see usage');
  refused(() => create({ MemoryReservation: MB }), 'Minimum memory reservation allowed is 6MB');
  refused(() => create({ Memory: 16 * MB, MemoryReservation: 32 * MB }), 'Minimum memory limit can not be less than memory reservation limit, see usage');
  refused(() => create({ MemorySwappiness: 101 }), 'Invalid value: 101, valid memory swappiness range is 0-100');
  assert.deepEqual(create({ Memory: 32 * MB, MemorySwap: 64 * MB, MemoryReservation: 16 * MB }), []);
  assert.deepEqual(create({ OomKillDisable: true }), ['OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.']);
});

test('create: CPU, pids, kernel memory', () => {
  refused(() => create({ CpuPeriod: 100 }), 'CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
  refused(() => create({ CpuQuota: 10 }), 'CPU cfs quota can not be less than 1ms (i.e. 1000)');
  refused(() => create({ CpuShares: -1 }), 'invalid CPU shares: must be >= 0');
  refused(() => create({ NanoCpus: 1e9, CpuPeriod: 100000 }), 'Conflicting options: Nano CPUs and CPU Period cannot both be set');
  assert.throws(() => create({ NanoCpus: 1e15 }), (e: Error) => /^Range of CPUs is from 0\.01 to \d+\.00, as there are only \d+ CPUs available$/.test(e.message));
  assert.throws(() => create({ CpusetCpus: '9999' }), /Requested CPUs are not available - requested 9999, available: /);
  refused(() => create({ CpusetCpus: '3-1' }), 'Invalid value 3-1 for cpuset cpus');
  const h = host({ KernelMemory: 64 * MB, PidsLimit: -1 });
  const w = verifyContainerSettings(h, { config: {}, runtimes: RUNTIMES });
  assert.deepEqual(w, ['Specifying a kernel memory limit is deprecated and will be removed in a future release.']);
  assert.equal((h as unknown as { KernelMemory: number }).KernelMemory, 0, 'the value is dropped');
  assert.equal(h.PidsLimit, 0, 'a negative pids limit is unlimited');
});

test('create: restart policies', () => {
  refused(() => create({ RestartPolicy: { Name: 'always', MaximumRetryCount: 3 } }), "maximum retry count cannot be used with restart policy 'always'");
  refused(() => create({ RestartPolicy: { Name: 'unless-stopped', MaximumRetryCount: 1 } }), "maximum retry count cannot be used with restart policy 'unless-stopped'");
  refused(() => create({ AutoRemove: true, RestartPolicy: { Name: 'always', MaximumRetryCount: 0 } }), "can't create 'AutoRemove' container with restart policy");
  refused(() => create({ RestartPolicy: { Name: 'sometimes', MaximumRetryCount: 0 } }), "invalid restart policy 'sometimes'");
  refused(() => create({ RestartPolicy: { Name: 'on-failure', MaximumRetryCount: -1 } }), 'maximum retry count cannot be negative');
  for (const Name of ['', 'no', 'always', 'unless-stopped']) assert.deepEqual(create({ RestartPolicy: { Name, MaximumRetryCount: 0 } }), []);
  assert.deepEqual(create({ RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 5 } }), []);
  assert.deepEqual(create({ AutoRemove: true, RestartPolicy: { Name: 'no', MaximumRetryCount: 0 } }), []);
});

test('create: the rest of Config and HostConfig', () => {
  refused(() => create({ OomScoreAdj: 5000 }), 'Invalid value 5000, range for oom score adj is [-1000, 1000]');
  refused(() => create({}, { WorkingDir: 'rel' }), "the working directory 'rel' is invalid, it needs to be an absolute path");
  refused(() => create({}, { StopSignal: 'NOPE' }), 'Invalid signal: NOPE');
  refused(() => create({ Runtime: 'nosuch' }), 'Unknown runtime specified nosuch');
  refused(() => create({ CapAdd: ['BOGUS'] }), 'invalid capability: BOGUS');
  refused(() => create({ ShmSize: -1 }), 'SHM size can not be less than 0');
  refused(() => create({ IpcMode: 'weird' }), 'invalid IPC mode: weird');
  refused(() => create({}, { Healthcheck: { Interval: 10 } }), 'Interval in Healthcheck cannot be less than 1ms');
  refused(() => create({}, { ExposedPorts: { '99999/tcp': {} } }), 'invalid port specification: "99999"');
  assert.deepEqual(create({ Runtime: 'crun', CapAdd: ['NET_ADMIN'] }, { WorkingDir: '/app', StopSignal: 'SIGUSR1' }), []);
});

test('update: resources against the container\'s current ones', () => {
  const cur = host({ Memory: 32 * MB, MemorySwap: 64 * MB });
  refused(() => applyUpdate(cur, { Memory: 100 * MB }), 'Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time');
  refused(() => applyUpdate(cur, { Memory: 4 * MB }), 'Minimum memory limit allowed is 6MB');
  refused(() => applyUpdate(host(), { MemorySwap: 64 * MB }), 'You should always set the Memory limit when using Memoryswap limit, see usage');
  // Swap with a memory limit set earlier is fine; both at once too.
  assert.equal(applyUpdate(host({ Memory: 32 * MB }), { MemorySwap: 96 * MB }).next.MemorySwap, 96 * MB);
  const both = applyUpdate(cur, { Memory: 48 * MB, MemorySwap: 96 * MB, PidsLimit: 70, CpuShares: 256 });
  assert.equal(both.next.Memory, 48 * MB);
  assert.equal(both.next.MemorySwap, 96 * MB);
  assert.equal(both.next.PidsLimit, 70);
  assert.equal(both.resourcesChanged, true);
  assert.equal(cur.Memory, 32 * MB, 'the current config is left as it was');
  // A first memory limit gets Docker's default swap: twice the memory.
  assert.equal(applyUpdate(host(), { Memory: 64 * MB }).next.MemorySwap, 128 * MB);
  // Zero means unchanged (but PidsLimit 0 is a value).
  const zero = applyUpdate(cur, { Memory: 0, CpuShares: 0 });
  assert.equal(zero.next.Memory, 32 * MB);
  assert.equal(zero.resourcesChanged, false);
  // --cpus and a period/quota set before conflict (Docker refuses these updates too).
  assert.throws(() => applyUpdate(host({ CpuPeriod: 50000 }), { NanoCpus: 5e8 }), /Conflicting options: Nano CPUs and CPU Period cannot both be set/);
  assert.throws(() => applyUpdate(host({ NanoCpus: 5e8 }), { CpuQuota: 20000 }), /Conflicting options/);
  assert.equal(applyUpdate(host({ NanoCpus: 5e8 }), { NanoCpus: 1e9 }).next.NanoCpus, 1e9);
  assert.deepEqual(applyUpdate(cur, { KernelMemory: 64 * MB }).warnings, ['Specifying a kernel memory limit is deprecated and will be removed in a future release.']);
});

test('update: restart policies', () => {
  const up = applyUpdate(host(), { RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 1 } });
  assert.deepEqual(up.next.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 1 });
  assert.equal(up.resourcesChanged, false);
  assert.deepEqual(applyUpdate(host(), { RestartPolicy: { Name: '' } }).next.RestartPolicy, { Name: 'no', MaximumRetryCount: 0 });
  const auto = host({ AutoRemove: true });
  refused(() => applyUpdate(auto, { RestartPolicy: { Name: 'always' } }), 'Restart policy cannot be updated because AutoRemove is enabled for the container');
  // The name is checked first on update, as moby's UpdateContainer.
  refused(() => applyUpdate(auto, { RestartPolicy: { Name: 'sometimes' } }), "invalid restart policy 'sometimes'");
  refused(() => applyUpdate(host(), { RestartPolicy: { Name: 'always', MaximumRetryCount: 2 } }), "maximum retry count cannot be used with restart policy 'always'");
  refused(() => applyUpdate(host(), { RestartPolicy: { Name: 'on-failure', MaximumRetryCount: -2 } }), 'maximum retry count cannot be negative');
  assert.deepEqual(applyUpdate(auto, { RestartPolicy: { Name: 'no' } }).next.RestartPolicy, { Name: 'no', MaximumRetryCount: 0 });
  // The same rules as create, from the same function.
  refused(() => validateRestartPolicy({ Name: 'always', MaximumRetryCount: 0 }, { autoRemove: true }), "can't create 'AutoRemove' container with restart policy");
});

test('swap: twice the memory unless set, computed in one place', () => {
  assert.equal(memorySwapLimit(64 * MB, 0), 128 * MB);
  assert.equal(memorySwapLimit(64 * MB, 96 * MB), 96 * MB);
  assert.equal(memorySwapLimit(64 * MB, -1), -1);
  assert.equal(memorySwapLimit(0, 0), 0);
});
