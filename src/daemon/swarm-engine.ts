// The swarm agent's seam (src/swarm/agent/engine.ts) on this daemon's image,
// distribution and container services.
import path from 'node:path';
import type { AgentEngine, EngineContainer, EngineEvent } from '../swarm/agent/engine';
import type { ContainerRecord } from '../container/types';
import { NotFound, NotModified } from '../util/errors';
import { parseNormalized, familiarName } from '../common/reference';
import type { Daemon } from './daemon';

function view(c: ContainerRecord): EngineContainer {
  return {
    id: c.id,
    name: c.name,
    labels: (c.config.Labels ?? {}) as Record<string, string>,
    running: !!c.state.Running,
    status: String(c.state.Status ?? ''),
    exitCode: Number(c.state.ExitCode ?? 0),
    pid: Number(c.state.Pid ?? 0),
    error: String(c.state.Error ?? ''),
    ...(c.extra.health && c.state.Running ? { health: String((c.extra.health as { Status?: string }).Status ?? '') } : {}),
  };
}

export function swarmEngine(d: Pick<Daemon, 'images' | 'distribution' | 'containers' | 'events' | 'config'>): AgentEngine {
  const { images, distribution, containers, events } = d;
  return {
    runDir: path.join(d.config.execRoot, 'swarm'),
    hasImage(ref) {
      try {
        images.resolve(ref);
        return true;
      } catch {
        return false;
      }
    },
    async pullImage(ref) {
      // one tag (or digest): a bare name would pull every tag
      const r = parseNormalized(ref);
      const tag = r.digest ?? r.tag ?? 'latest';
      await distribution.pull({ fromImage: familiarName(r), tag }, { write: () => {} });
    },
    async create(name, body) {
      return (await containers.create(body, name)).Id;
    },
    async start(id) {
      await containers.start(id).catch((e) => { if (!(e instanceof NotModified)) throw e; });
    },
    async stop(id, timeoutSec) {
      await containers.stop(id, timeoutSec).catch((e) => { if (!(e instanceof NotModified || e instanceof NotFound)) throw e; });
    },
    async remove(id) {
      await containers.remove(id, { force: true, volumes: true }).catch((e) => { if (!(e instanceof NotFound)) throw e; });
    },
    containersWithLabel(label) {
      return containers.all().filter((c) => c.config.Labels && Object.prototype.hasOwnProperty.call(c.config.Labels, label)).map(view);
    },
    container(id) {
      try {
        return view(containers.get(id));
      } catch {
        return undefined;
      }
    },
    async readLogs(id, o) {
      const c = containers.get(id);
      containers.logFiles.checkReadable(c);
      const { entries } = await containers.logFiles.history(c);
      const lines = entries
        .filter((e) => (e.stream === 'stdout' ? o.stdout : o.stderr))
        .filter((e) => (o.sinceNs === undefined || e.timeNs >= o.sinceNs) && (o.untilNs === undefined || e.timeNs <= o.untilNs))
        .map((e) => ({ stream: e.stream, timeNs: String(e.timeNs), data: (e.full ? Buffer.concat([e.text, Buffer.from('\n')]) : e.text).toString('base64') }));
      return o.tail !== undefined && o.tail >= 0 ? lines.slice(Math.max(0, lines.length - o.tail)) : lines;
    },
    onContainerEvent(fn) {
      return events.subscribe((ev) => {
        if (ev.Type !== 'container') return;
        const a = ev.Actor.Attributes;
        const e: EngineEvent = { id: ev.Actor.ID, action: ev.Action, labels: a };
        if (a.exitCode !== undefined) e.exitCode = Number(a.exitCode);
        fn(e);
      });
    },
  };
}
