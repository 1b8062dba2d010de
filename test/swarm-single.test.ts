// Swarm mode on one daemon (issue 14): the answers outside a swarm, init,
// inspect, join tokens, update, node update/rm refusals, node events, leave,
// and surviving kill -9 — through the docker CLI and dockerode. The control
// port and etcd listen on loopback only (a random port block per run).
import { test, before, after } from 'node:test';
/* eslint-disable @typescript-eslint/no-explicit-any -- Docker JSON read loosely in assertions */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import { createHash } from 'node:crypto';
import Docker from 'dockerode';
import { startDaemon, waitFor, type TestDaemon } from './helpers/daemon';

let d: TestDaemon;
let docker: Docker;
// control port P, etcd client P+2 (loopback), etcd peer P+3
const PORT = 20000 + 4 * Math.floor(Math.random() * 4000);
const LISTEN = `127.0.0.1:${PORT}`;
const NOT_MANAGER = 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';

function api(method: string, p: string, body?: unknown): Promise<{ status: number; json: any; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request({ socketPath: d.socket, path: p, method, timeout: 30_000, headers: data ? { 'content-type': 'application/json' } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json: any;
        try { json = text ? JSON.parse(text) : undefined; } catch { json = text; }
        resolve({ status: res.statusCode ?? 0, json, headers: res.headers });
      });
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(data);
  });
}

/** etcd processes started for this daemon's data root. */
function etcdPids(): number[] {
  const out: number[] = [];
  for (const p of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (cmd.split('\0')[0].endsWith('etcd') && cmd.includes(d.dataRoot + '/')) out.push(Number(p));
    } catch { /* gone */ }
  }
  return out;
}

async function swarmInfo(): Promise<any> {
  return JSON.parse(await d.ok(['info', '--format', '{{json .Swarm}}']));
}

before(async () => {
  d = await startDaemon();
  docker = new Docker({ socketPath: d.socket });
});

after(async () => {
  await d?.docker(['swarm', 'leave', '--force']).catch(() => {});
  await d?.stop();
  assert.deepEqual(etcdPids(), [], 'no etcd member outlives the test daemon');
});

test('outside a swarm: 503s with dockerd\'s texts, /info and /_ping say inactive', async () => {
  const leave = await api('POST', '/v1.43/swarm/leave?force=1');
  assert.deepEqual([leave.status, leave.json?.message], [503, 'This node is not part of a swarm']);
  for (const p of ['/swarm', '/nodes', '/nodes/x', '/swarm/unlockkey', '/services', '/tasks']) {
    const r = await api('GET', `/v1.43${p}`);
    assert.deepEqual([r.status, r.json?.message], [503, NOT_MANAGER], p);
  }
  assert.equal((await swarmInfo()).LocalNodeState, 'inactive');
  assert.equal((await api('GET', '/_ping')).headers.swarm, 'inactive');
  const cli = await d.docker(['node', 'ls']);
  assert.notEqual(cli.code, 0);
  assert.match(cli.stderr, /This node is not a swarm manager\. Use "docker swarm init"/);
  // a join token that is not one
  const bad = await d.docker(['swarm', 'join', '--token', 'SWMTKN-1-nope', '127.0.0.1:1']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /invalid join token/);
});

let nodeId = '';

test('docker swarm init: one manager, Leader, Ready; info and ping say so; a second init is refused', async () => {
  const t0 = Date.now();
  const out = await d.ok(['swarm', 'init', '--advertise-addr', '127.0.0.1', '--listen-addr', LISTEN]);
  const ms = Date.now() - t0;
  const m = /^Swarm initialized: current node \(([0-9a-z]{25})\) is now a manager\./.exec(out);
  assert.ok(m, out);
  nodeId = m[1];
  assert.match(out, new RegExp(`docker swarm join --token SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25} 127\\.0\\.0\\.1:${PORT}`));
  process.stdout.write(`# swarm init took ${ms} ms\n`);

  const info = await swarmInfo();
  assert.equal(info.NodeID, nodeId);
  assert.equal(info.NodeAddr, '127.0.0.1');
  assert.equal(info.LocalNodeState, 'active');
  assert.equal(info.ControlAvailable, true);
  assert.equal(info.Nodes, 1);
  assert.equal(info.Managers, 1);
  assert.match(info.Cluster.ID, /^[0-9a-z]{25}$/);
  assert.equal(info.Cluster.JoinTokens, undefined, '/info carries no join tokens');
  assert.deepEqual(info.RemoteManagers, [{ NodeID: nodeId, Addr: LISTEN }]);
  assert.equal((await api('GET', '/_ping')).headers.swarm, 'active/manager');

  const ls = (await d.ok(['node', 'ls', '--format', '{{.ID}}|{{.Self}}|{{.Status}}|{{.Availability}}|{{.ManagerStatus}}'])).trim();
  assert.equal(ls, `${nodeId}|true|Ready|Active|Leader`);

  const again = await d.docker(['swarm', 'init', '--advertise-addr', '127.0.0.1', '--listen-addr', LISTEN]);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /This node is already part of a swarm\. Use "docker swarm leave" to leave this swarm and join another one\./);

  // keys and certificates are the daemon's alone
  const certs = path.join(d.dataRoot, 'swarm', 'certificates');
  for (const f of fs.readdirSync(certs)) assert.equal(fs.statSync(path.join(certs, f)).mode & 0o777, 0o600, f);
  assert.equal(etcdPids().length, 1, 'one etcd member runs');
  // its memory settings (etcd.ts): a snapshot every 10000 entries, Go's GOGC at 25
  const [etcd] = etcdPids();
  const argv = fs.readFileSync(`/proc/${etcd}/cmdline`, 'utf8').split('\0');
  assert.equal(argv[argv.indexOf('--snapshot-count') + 1], '10000');
  const env = fs.readFileSync(`/proc/${etcd}/environ`, 'utf8').split('\0');
  assert.ok(env.includes('GOGC=25'), 'etcd runs with GOGC=25');
});

test('inspect (dockerode): tokens carry the CA digest; join-token --rotate changes one token; stale updates are out of sequence', async () => {
  const s: any = await docker.swarmInspect();
  assert.match(s.ID, /^[0-9a-z]{25}$/);
  assert.ok(s.Version.Index > 0);
  assert.equal(s.Spec.Name, 'default');
  assert.match(s.TLSInfo.TrustRoot, /^-----BEGIN CERTIFICATE-----/);
  assert.ok(s.TLSInfo.CertIssuerPublicKey.length > 50);
  const digest = createHash('sha256').update(s.TLSInfo.TrustRoot).digest('hex');
  for (const tok of [s.JoinTokens.Worker, s.JoinTokens.Manager]) {
    const part = tok.split('-')[2];
    const n = [...part].reduce((acc: bigint, ch: string) => acc * 36n + BigInt(parseInt(ch, 36)), 0n);
    assert.equal(n.toString(16).padStart(64, '0'), digest, 'the token names the root CA');
  }
  assert.notEqual(s.JoinTokens.Worker, s.JoinTokens.Manager);
  assert.equal((await d.ok(['swarm', 'join-token', '-q', 'worker'])).trim(), s.JoinTokens.Worker);

  const rot = await d.ok(['swarm', 'join-token', '--rotate', 'worker']);
  assert.match(rot, /Successfully rotated worker join token\./);
  const s2: any = await docker.swarmInspect();
  assert.notEqual(s2.JoinTokens.Worker, s.JoinTokens.Worker);
  assert.equal(s2.JoinTokens.Manager, s.JoinTokens.Manager);
  assert.ok(s2.Version.Index > s.Version.Index);

  await d.ok(['swarm', 'update', '--task-history-limit', '7']);
  const s3: any = await docker.swarmInspect();
  assert.equal(s3.Spec.Orchestration.TaskHistoryRetentionLimit, 7);

  await assert.rejects(docker.swarmUpdate({ ...s3.Spec, version: s.Version.Index }), /update out of sequence/);

  const key = await d.docker(['swarm', 'unlock-key']);
  assert.notEqual(key.code, 0);
  assert.match(key.stderr, /no unlock key is set/);
  const lock = await d.docker(['swarm', 'update', '--autolock']);
  assert.notEqual(lock.code, 0);
  assert.match(lock.stderr, /autolock is not supported/);
});

test('nodes: update labels and availability (versioned), refusals for the last manager, node events', async () => {
  const since = Math.floor(Date.now() / 1000) - 1;
  await d.ok(['node', 'update', '--label-add', 'zone=a', '--availability', 'drain', nodeId]);
  const n: any = await docker.getNode(nodeId).inspect();
  assert.deepEqual(n.Spec, { Labels: { zone: 'a' }, Role: 'manager', Availability: 'drain' });
  assert.equal(n.Status.State, 'ready');
  assert.equal(n.Status.Addr, '127.0.0.1');
  assert.deepEqual(n.ManagerStatus, { Leader: true, Reachability: 'reachable', Addr: LISTEN });
  assert.equal(n.Description.Engine.EngineVersion.length > 0, true);

  // node.label filters as moby's MatchKVList: a key, key=value (the value may hold '='), no match
  await d.ok(['node', 'update', '--label-add', 'dsn=x=y', nodeId]);
  for (const [f, want] of [['zone', 1], ['zone=a', 1], ['zone=b', 0], ['dsn=x=y', 1], ['dsn=x', 0], ['nokey', 0]] as const) {
    const ids = (await d.ok(['node', 'ls', '-q', '--filter', `node.label=${f}`])).split('\n').filter(Boolean);
    assert.equal(ids.length, want, `node.label=${f}`);
  }
  await d.ok(['node', 'update', '--label-rm', 'dsn', nodeId]);
  // an unknown filter name is refused as dockerd refuses it
  const bad = await d.docker(['node', 'ls', '--filter', 'colour=red']);
  assert.deepEqual([bad.code, bad.stderr.trim()], [1, "Error response from daemon: invalid filter 'colour'"]);

  await assert.rejects(docker.getNode(nodeId).update({ version: n.Version.Index - 1, Role: 'manager', Availability: 'active', Labels: {} }), /update out of sequence/);
  await d.ok(['node', 'update', '--availability', 'active', nodeId]);

  const demote = await d.docker(['node', 'demote', nodeId]);
  assert.notEqual(demote.code, 0);
  assert.match(demote.stderr, /attempting to demote the last manager of the swarm/);
  const rm = await d.docker(['node', 'rm', nodeId]);
  assert.notEqual(rm.code, 0);
  assert.match(rm.stderr, /is a cluster manager and is a member of the raft cluster\. It must be demoted to worker before removal/);
  const missing = await d.docker(['node', 'inspect', 'nosuchnode']);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /node nosuchnode not found/);

  // node events (the manager diffs the node list every heartbeat)
  await waitFor(async () => {
    const ev = await d.ok(['events', '--since', String(since), '--until', String(Math.floor(Date.now() / 1000)), '--filter', 'type=node', '--format', '{{json .}}']);
    return ev.split('\n').filter(Boolean).map((l) => JSON.parse(l)).some((e) => e.Action === 'update' && e.scope === 'swarm' && e.Actor.ID === nodeId &&
      e.Actor.Attributes['availability.old'] === 'active' && e.Actor.Attributes['availability.new'] === 'drain');
  }, 10_000, 'a node update event with availability.old/new', 500);
});

test('kill -9: etcd dies with berthd; restarted on the same data it is the same Leader', async () => {
  const [etcd] = etcdPids();
  assert.ok(etcd);
  await d.kill();
  await waitFor(async () => etcdPids().length === 0, 10_000, 'the etcd member dies with its berthd');
  await d.start();
  const t0 = Date.now();
  await waitFor(async () => {
    const r = await d.docker(['node', 'ls', '--format', '{{.ID}} {{.Status}} {{.ManagerStatus}}']);
    return r.code === 0 && r.stdout.trim() === `${nodeId} Ready Leader`;
  }, 20_000, 'node ls answers again with the same Leader', 250);
  process.stdout.write(`# manager back after restart in ${Date.now() - t0} ms\n`);
  assert.equal((await swarmInfo()).NodeID, nodeId);
  assert.equal(etcdPids().length, 1);
});

test('leave: the last manager is warned; --force leaves, stops etcd and drops the swarm files', async () => {
  const r = await d.docker(['swarm', 'leave']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /You are attempting to leave the swarm on a node that is participating as a manager\. Removing the last manager erases all current state of the swarm\. Use `--force` to ignore this message\./);
  assert.equal((await d.ok(['swarm', 'leave', '--force'])).trim(), 'Node left the swarm.');
  assert.equal((await swarmInfo()).LocalNodeState, 'inactive');
  assert.deepEqual(etcdPids(), []);
  assert.equal(fs.existsSync(path.join(d.dataRoot, 'swarm')), false);
  const again = await api('POST', '/v1.43/swarm/leave');
  assert.deepEqual([again.status, again.json?.message], [503, 'This node is not part of a swarm']);
});

test('SIGTERM stops the etcd member with berthd', async () => {
  await d.ok(['swarm', 'init', '--advertise-addr', '127.0.0.1', '--listen-addr', LISTEN]);
  // the member starts right behind the init's answer (and the CLI's GET /swarm)
  await waitFor(async () => etcdPids().length === 1, 10_000, 'the etcd member runs', 20);
  await d.terminate('SIGTERM');
  assert.deepEqual(etcdPids(), [], 'etcd stopped with berthd');
  await d.start();
  await waitFor(async () => (await d.docker(['node', 'ls'])).code === 0, 20_000, 'the manager is back', 250);
});

test('kill -9 right after init answered: the restarted daemon completes the init from init.json', async (t) => {
  await d.ok(['swarm', 'leave', '--force']);
  const r = await api('POST', '/v1.43/swarm/init', { ListenAddr: LISTEN, AdvertiseAddr: '127.0.0.1' });
  assert.equal(r.status, 200);
  const id = String(r.json);
  // answered from the init's records while its etcd member may still be electing itself
  const before = await api('GET', '/v1.43/swarm');
  assert.equal(before.status, 200);
  const initFile = path.join(d.dataRoot, 'swarm', 'init.json');
  const pending = fs.existsSync(initFile);
  await d.kill();
  await waitFor(async () => etcdPids().length === 0, 10_000, 'the etcd member dies with its berthd');
  if (pending) assert.equal((fs.statSync(initFile).mode & 0o777), 0o600);
  await d.start();
  await waitFor(async () => {
    const n = await d.docker(['node', 'ls', '--format', '{{.ID}} {{.Status}} {{.ManagerStatus}}']);
    return n.code === 0 && n.stdout.trim() === `${id} Ready Leader`;
  }, 20_000, 'node ls answers with the init\'s node as Leader', 250);
  const after = await api('GET', '/v1.43/swarm');
  assert.equal(after.json.ID, before.json.ID);
  assert.deepEqual(after.json.JoinTokens, before.json.JoinTokens);
  assert.equal(after.json.Version.Index, before.json.Version.Index, 'the Version.Index answered early is the stored one');
  assert.equal(fs.existsSync(initFile), false, 'init.json goes once the records are in etcd');
  t.diagnostic(`killed while the init was pending: ${pending}`);
});
