// The berth swarm/node CLI scenario shared by test/swarm-cli.test.ts (three
// berthd hosts) and test/swarm-cli-docker.test.ts (three private dockerds):
// on each host of a namespaces cluster (helpers/cluster.ts), berth's output
// must equal the docker CLI's, line by line, for the same command on the
// same daemon; berth's mutations (init, join, update, promote, demote,
// leave, rm) must print docker's messages and change the swarm as docker's do.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster, type ClusterHost, type Engine } from './cluster';
import { waitFor } from './daemon';

export function swarmCliScenario(engine: Engine, SKIP: string | false): void {
  let cluster: Cluster;
  let mgr1: ClusterHost;
  let mgr2: ClusterHost;
  let wrk1: ClusterHost;

  before(async () => {
    if (SKIP) return;
    cluster = await startCluster(3, { engine, names: ['mgr1', 'mgr2', 'wrk1'], startTimeout: 90_000 });
    [mgr1, mgr2, wrk1] = cluster.hosts;
  });

  after(async () => {
    if (!cluster) return;
    await cluster.destroy();
    assert.deepEqual(await cluster.leftovers(), []);
  });

  /** The same command through both CLIs on one host: same exit code, stdout and stderr. */
  async function same(h: ClusterHost, args: string[]): Promise<string> {
    const d = await h.docker(args);
    const b = await h.berth(args);
    assert.deepEqual({ code: b.code, stdout: b.stdout, stderr: b.stderr.replace(/\bberth\b/g, 'docker') }, { code: d.code, stdout: d.stdout, stderr: d.stderr }, `${h.name}: ${args.join(' ')}`);
    return b.stdout;
  }

  async function berthOk(h: ClusterHost, args: string[]): Promise<string> {
    const r = await h.berth(args);
    assert.equal(r.code, 0, `berth ${args.join(' ')} on ${h.name}: ${r.stderr}`);
    return r.stdout;
  }

  test('swarm init and join print what docker prints', { skip: SKIP }, async () => {
    const out = await berthOk(mgr1, ['swarm', 'init', '--advertise-addr', mgr1.addr]);
    const id = (await mgr1.ok(['info', '--format', '{{.Swarm.NodeID}}'])).trim();
    const worker = await mgr1.ok(['swarm', 'join-token', 'worker']);
    assert.equal(out, `Swarm initialized: current node (${id}) is now a manager.\n\n${worker}To add a manager to this swarm, run 'docker swarm join-token manager' and follow the instructions.\n`);
    assert.match(worker, new RegExp(`docker swarm join --token SWMTKN-1-\\w+-\\w+ ${mgr1.addr.replace(/\./g, '\\.')}:2377\n`));
    const mtoken = (await berthOk(mgr1, ['swarm', 'join-token', '-q', 'manager'])).trim();
    const wtoken = (await berthOk(mgr1, ['swarm', 'join-token', '-q', 'worker'])).trim();
    assert.equal(await berthOk(mgr2, ['swarm', 'join', '--token', mtoken, `${mgr1.addr}:2377`]), 'This node joined a swarm as a manager.\n');
    assert.equal(await berthOk(wrk1, ['swarm', 'join', '--token', wtoken, `${mgr1.addr}:2377`]), 'This node joined a swarm as a worker.\n');
    // Joining again: the daemon's error, as docker shows it.
    await same(wrk1, ['swarm', 'join', '--token', wtoken, `${mgr1.addr}:2377`]);
    await same(mgr1, ['swarm', 'init']);
    await same(mgr1, ['swarm', 'join', '--availability', 'sometimes', '--token', wtoken, `${mgr1.addr}:2377`]);
  });

  test('node ls, inspect, ps and join-token equal docker\'s output', { skip: SKIP }, async () => {
    await waitFor(async () => (await mgr1.ok(['node', 'ls', '--format', '{{.Status}}'])).split('\n').filter((s) => s === 'Ready').length === 3, 60_000, 'three Ready nodes');
    const ls = await same(mgr1, ['node', 'ls']);
    assert.match(ls, /^ID +HOSTNAME +STATUS +AVAILABILITY +MANAGER STATUS +ENGINE VERSION\n\w+ \* +mgr1 +Ready +Active +Leader +\S+\n\w+ +mgr2 +Ready +Active +Reachable +\S+\n\w+ +wrk1 +Ready +Active +\S+\n$/);
    // Read-only: three at a time (each is two CLI processes).
    const cmds: Array<[ClusterHost, string[]]> = [
      [mgr2, ['node', 'ls']],
      [mgr1, ['node', 'ls', '-q']],
      [mgr1, ['node', 'ls', '--format', '{{.Hostname}}: {{.Status}} {{.ManagerStatus}} {{.Self}}']],
      [mgr1, ['node', 'ls', '--format', 'table {{.ID}}\t{{.TLSStatus}}']],
      [mgr1, ['node', 'ls', '--filter', 'role=manager']],
      [mgr1, ['node', 'ls', '--format', 'json']],
      [wrk1, ['node', 'ls']],
      [mgr1, ['node', 'inspect', 'self']],
      [mgr1, ['node', 'inspect', '--pretty', 'self']],
      [mgr1, ['node', 'inspect', '--pretty', 'wrk1', 'mgr2']],
      [mgr1, ['node', 'inspect', '--format', '{{.Spec.Role}} {{.Status.Addr}}', 'mgr1', 'wrk1']],
      [mgr1, ['node', 'inspect', 'nope']],
      [mgr1, ['node', 'inspect', '--format', 'prettyx', 'self']],
      [mgr1, ['node', 'ps']],
      [mgr1, ['node', 'ps', 'wrk1', 'nope']],
      [wrk1, ['node', 'ps']],
      [mgr2, ['swarm', 'join-token', 'worker']],
      [mgr2, ['swarm', 'join-token', 'manager']],
      [mgr2, ['swarm', 'join-token', 'foo']],
      [mgr1, ['swarm', 'join-token', '-q', 'worker']],
      [wrk1, ['swarm', 'join-token', 'worker']],
      [mgr1, ['swarm', 'ca']],
      [mgr1, ['swarm', 'ca', '--cert-expiry', '48h']],
    ];
    let next = 0;
    await Promise.all([0, 1, 2].map(async () => {
      while (next < cmds.length) {
        const [h, args] = cmds[next++];
        await same(h, args);
      }
    }));
  });

  test('node update, promote and demote: messages and effect as docker\'s', { skip: SKIP }, async () => {
    assert.equal(await berthOk(mgr1, ['node', 'update', '--availability', 'drain', '--label-add', 'zone=a', '--label-add', 'ssd', 'wrk1']), 'wrk1\n');
    assert.equal((await mgr1.ok(['node', 'inspect', '--format', '{{.Spec.Availability}} {{json .Spec.Labels}}', 'wrk1'])).trim(), 'drain {"ssd":"","zone":"a"}');
    await same(mgr1, ['node', 'update', '--label-rm', 'nokey', 'wrk1']);
    assert.equal(await berthOk(mgr1, ['node', 'update', '--availability', 'active', '--label-rm', 'ssd', 'wrk1']), 'wrk1\n');
    assert.equal((await mgr1.ok(['node', 'inspect', '--format', '{{.Spec.Availability}} {{json .Spec.Labels}}', 'wrk1'])).trim(), 'active {"zone":"a"}');
    assert.equal(await berthOk(mgr1, ['node', 'promote', 'wrk1']), 'Node wrk1 promoted to a manager in the swarm.\n');
    await same(mgr1, ['node', 'promote', 'wrk1']);
    await waitFor(async () => (await mgr1.ok(['node', 'inspect', '--format', '{{.ManagerStatus.Reachability}}', 'wrk1'])).trim() === 'reachable', 60_000, 'wrk1 reachable as a manager');
    assert.equal(await berthOk(mgr1, ['node', 'demote', 'wrk1']), 'Manager wrk1 demoted in the swarm.\n');
    await same(mgr1, ['node', 'demote', 'wrk1']);
    // the demoted node learns it on its own next ticks (as docker's does): a leave before that is a manager's leave
    await waitFor(async () => (await wrk1.ok(['info', '--format', '{{.Swarm.ControlAvailable}}'])).trim() === 'false', 60_000, 'wrk1 stepped down to a worker');
    await same(mgr1, ['node', 'update', '--role', 'boss', 'wrk1']);
  });

  test('swarm update and join-token --rotate change the swarm as docker\'s do', { skip: SKIP }, async () => {
    assert.equal(await berthOk(mgr1, ['swarm', 'update', '--task-history-limit', '3', '--dispatcher-heartbeat', '7s']), 'Swarm updated.\n');
    const spec = JSON.parse(await mgr1.ok(['info', '--format', '{{json .Swarm.Cluster.Spec}}'])) as { Orchestration: { TaskHistoryRetentionLimit: number }; Dispatcher: { HeartbeatPeriod: number } };
    assert.equal(spec.Orchestration.TaskHistoryRetentionLimit, 3);
    assert.equal(spec.Dispatcher.HeartbeatPeriod, 7e9);
    const old = (await mgr1.ok(['swarm', 'join-token', '-q', 'worker'])).trim();
    const rotated = await berthOk(mgr1, ['swarm', 'join-token', '--rotate', 'worker']);
    const now = (await mgr1.ok(['swarm', 'join-token', '-q', 'worker'])).trim();
    assert.notEqual(now, old);
    assert.ok(rotated.startsWith('Successfully rotated worker join token.\n\nTo add a worker to this swarm, run the following command:\n\n'), rotated);
    assert.ok(rotated.includes(`docker swarm join --token ${now} ${mgr1.addr}:2377\n`), rotated);
    assert.equal((await berthOk(mgr1, ['swarm', 'join-token', '--rotate', '-q', 'manager'])).trim(), (await mgr1.ok(['swarm', 'join-token', '-q', 'manager'])).trim());
  });

  test('leave and rm: the quorum warning, a node not down, then as docker does', { skip: SKIP }, async () => {
    // A manager leaving without --force: the daemon's quorum warning.
    await same(mgr2, ['swarm', 'leave']);
    await same(mgr1, ['node', 'rm', 'wrk1']);
    assert.equal(await berthOk(wrk1, ['swarm', 'leave']), 'Node left the swarm.\n');
    await same(wrk1, ['swarm', 'leave']);
    await waitFor(async () => (await mgr1.ok(['node', 'inspect', '--format', '{{.Status.State}}', 'wrk1'])).trim() === 'down', 60_000, 'wrk1 down after leaving');
    assert.equal(await berthOk(mgr1, ['node', 'rm', 'wrk1']), 'wrk1\n');
    await same(mgr1, ['node', 'rm', 'wrk1', 'nope']);
    assert.equal(await berthOk(mgr2, ['swarm', 'leave', '--force']), 'Node left the swarm.\n');
  });
}
