// GET /services/{id}/logs and /tasks/{id}/logs: the manager gathers the task
// containers' logs from the nodes (src/swarm/agent/logs.ts); registered
// before the swarm routes' placeholders.
import type { Router } from '../router';
import type { Ctx } from '../context';
import { InvalidParameter } from '../../util/errors';
import { timestampNs } from '../../common/time';
import type { LogStream } from '../../swarm/agent/logs';

/** What the log routes need: a service's or task's log stream. */
export interface SwarmLogsBackend {
  open(kind: 'services' | 'tasks', ref: string): Promise<LogStream>;
}

function closedOf(ctx: Ctx): Promise<void> {
  return new Promise((resolve) => {
    ctx.res.once('close', () => resolve());
    ctx.socket.once('close', () => resolve());
  });
}

export function registerSwarmLogRoutes(r: Router, b: SwarmLogsBackend): void {
  for (const kind of ['services', 'tasks'] as const) {
    r.get(`/${kind}/:id/logs`, async (ctx) => {
      const stdout = ctx.bool('stdout');
      const stderr = ctx.bool('stderr');
      if (!stdout && !stderr) throw new InvalidParameter('Bad parameters: you must choose at least one stream');
      const tailRaw = ctx.str('tail');
      const tail = tailRaw === undefined || tailRaw === '' || tailRaw === 'all' ? undefined : Number(tailRaw);
      if (tail !== undefined && !Number.isFinite(tail)) throw new InvalidParameter(`invalid value for "tail": ${tailRaw}`);
      const since = ctx.str('since');
      const s = await b.open(kind, ctx.params.id);
      const res = ctx.stream(200, s.tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream');
      await s.run({
        stdout, stderr, tail,
        follow: ctx.bool('follow'),
        timestamps: ctx.bool('timestamps'),
        details: ctx.bool('details'),
        sinceNs: since && since !== '0' ? timestampNs(since) : undefined,
      }, { write: (buf) => { if (!res.destroyed) res.write(buf); } }, closedOf(ctx));
      res.end();
    });
  }
}
