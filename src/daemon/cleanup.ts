// `berthd --cleanup`: removes every host object of one data root and chain
// prefix — bridges, veths, netns, iptables chains, mounts, runc states,
// cgroup directories — for users who want no leftovers after stopping
// berthd (a plain SIGTERM keeps them, as Docker does, so restarts are quick).
// The caller holds the data-root lock, so berthd itself is not running; a
// container still running under its conmon makes it refuse and change nothing.
import fs from 'node:fs';
import path from 'node:path';
import { openDb } from '../store/db';
import { EventBus } from '../events/bus';
import { NetworkService } from '../network/service';
import { ContainerStore } from '../container/store';
import { cgroupParentOf } from '../container/service';
import { mountsUnder, unmountLazy, runcStates, runcDelete, removeCgroupParent } from '../host/leftovers';
import { Conflict } from '../util/errors';
import { reapStaleMember } from '../host/etcd';
import type { DaemonConfig } from './config';

export async function cleanupHost(config: DaemonConfig): Promise<string[]> {
  const runcRoot = path.join(config.execRoot, 'runc');
  const live = runcStates(runcRoot).filter((s) => s.alive);
  const dbFile = path.join(config.dataRoot, 'berth.db');
  const db = fs.existsSync(dbFile) ? openDb(dbFile) : undefined;
  try {
    if (live.length) {
      const names = new Map((db ? new ContainerStore(db).all() : []).map((c) => [c.id, c.name.replace(/^\//, '')]));
      const list = live.map((s) => names.get(s.id) ?? s.id.slice(0, 12)).join(', ');
      throw new Conflict(`cannot clean up data root ${config.dataRoot}: ${live.length === 1 ? 'a container is' : `${live.length} containers are`} still running (${list}); stop ${live.length === 1 ? 'it' : 'them'} first`);
    }
    const removed: string[] = [];
    // the swarm's etcd member outlives its berthd only if the kernel's parent-death signal was missed
    const swarmDir = path.join(config.dataRoot, 'swarm');
    if (reapStaleMember(path.join(swarmDir, 'etcd.pid'), path.join(swarmDir, 'etcd'))) removed.push('etcd member');
    const rt = config.runtimes?.[config.defaultRuntime] ?? config.defaultRuntime ?? 'runc';
    for (const s of runcStates(runcRoot)) {
      await runcDelete(rt, runcRoot, s.id);
      removed.push(`runc state ${s.id.slice(0, 12)}`);
    }
    for (const root of [config.execRoot, config.dataRoot]) {
      for (const m of mountsUnder(root)) {
        await unmountLazy(m);
        removed.push(`mount ${m}`);
      }
    }
    // The network service knows its bridges from the records; without a
    // database (never started) the default bridge and the name patterns remain.
    const net = new NetworkService({ db: db ?? openDb(':memory:'), events: new EventBus(), config });
    await net.loadRecords();
    removed.push(...(await net.removeHostObjects()));
    const busy = removeCgroupParent(cgroupParentOf(config.chainPrefix));
    if (busy.length) removed.push(`cgroups still busy: ${busy.join(', ')}`);
    return removed;
  } finally {
    db?.close();
  }
}
