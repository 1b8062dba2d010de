// `service logs SERVICE|TASK`: the tasks' output, each line prefixed with
// "name.slot.taskid@node    | " as docker's CLI does. The daemon sends the
// swarm context as details ("com.docker.swarm.node.id=…,… message"); the
// prefix is built from them (docker/cli cli/command/service/logs.go).
import type { Command, CommandContext } from '../../registry';
import { CliError } from '../../registry';
import { ApiError, demuxTo } from '../../../client';
import { flagTimestamp } from '../../flags';
import { resolver } from '../node/ps';
import { shortId } from '../../units';

interface LogsFlags {
  details?: boolean; follow?: boolean; since?: string; tail?: string; timestamps?: boolean;
  'no-resolve'?: boolean; 'no-trunc'?: boolean; 'no-task-ids'?: boolean; raw?: boolean;
}

const digits = (n: number) => String(Math.trunc(n)).length;

/** logdetails.Parse: "k=v,k=v" with query-escaped values. */
export function parseDetails(s: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!s) return out;
  for (const pair of s.split(',')) {
    const i = pair.indexOf('=');
    if (i < 0) throw new Error(`invalid details format: ${s}`);
    out.set(decodeURIComponent(pair.slice(0, i).replace(/\+/g, ' ')), decodeURIComponent(pair.slice(i + 1).replace(/\+/g, ' ')));
  }
  return out;
}

/** Turns daemon lines (details first) into docker's prefixed lines. */
export class TaskLinePrefixer {
  private cache = new Map<string, string>();
  private resolve: ReturnType<typeof resolver>;
  constructor(private ctx: CommandContext, private f: LogsFlags, private padding: number) {
    this.resolve = resolver(ctx, !!f['no-resolve']);
  }

  private async context(node: string, service: string, task: string): Promise<string> {
    const key = `${node} ${service} ${task}`;
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    const nodeName = await this.resolve('node', node);
    const serviceName = await this.resolve('service', service);
    const t = await this.ctx.client.taskInspect(task);
    const slot = t.Slot ?? 0;
    let name = `${serviceName}.${slot}`;
    if (!this.f['no-task-ids']) name += '.' + (this.f['no-trunc'] ? t.ID : shortId(t.ID));
    const out = name + '@' + nodeName + ' '.repeat(Math.max(0, this.padding - digits(slot)));
    this.cache.set(key, out);
    return out;
  }

  /** One line as the daemon sent it (with its newline) → the line docker prints. */
  async line(raw: string): Promise<string> {
    const parts: string[] = [];
    let rest = raw;
    for (let i = 0; i < (this.f.timestamps ? 2 : 1); i++) {
      const sp = rest.indexOf(' ');
      if (sp < 0) throw new CliError(`invalid context in log message: ${raw}`);
      parts.push(rest.slice(0, sp));
      rest = rest.slice(sp + 1);
    }
    const details = parseDetails(parts[parts.length - 1]);
    const take = (k: string) => {
      const v = details.get(k);
      if (v === undefined) throw new CliError(`missing ${k.split('.').slice(-2).join(' ')} in details`);
      details.delete(k);
      return v;
    };
    const node = take('com.docker.swarm.node.id');
    const service = take('com.docker.swarm.service.id');
    const task = take('com.docker.swarm.task.id');
    let out = this.f.timestamps ? parts[0] + ' ' : '';
    out += (await this.context(node, service, task)) + '    | ';
    if (this.f.details) out += [...details].map(([k, v]) => `${k}=${v}`).sort().join(',') + ' ';
    return out + rest;
  }
}

/** Splits a stream's chunks into whole lines (a last line without newline kept). */
function lineSplitter(emit: (line: string) => void): { push(b: Buffer): void; end(): void } {
  let buf = '';
  return {
    push(b) {
      buf += b.toString('utf8');
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        emit(buf.slice(0, i + 1));
        buf = buf.slice(i + 1);
      }
    },
    end() {
      if (buf) emit(buf);
      buf = '';
    },
  };
}

export const logsCommand: Command = {
  name: 'logs',
  usage: '[OPTIONS] SERVICE|TASK',
  short: 'Fetch the logs of a service or task',
  flags: [
    { name: 'details', type: 'bool', usage: 'Show extra details provided to logs' },
    { name: 'follow', short: 'f', type: 'bool', usage: 'Follow log output' },
    { name: 'no-resolve', type: 'bool', usage: 'Do not map IDs to Names in output' },
    { name: 'no-task-ids', type: 'bool', usage: 'Do not include task IDs in output' },
    { name: 'no-trunc', type: 'bool', usage: 'Do not truncate output' },
    { name: 'raw', type: 'bool', usage: 'Do not neatly format logs' },
    { name: 'since', type: 'string', usage: 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)' },
    { name: 'tail', short: 'n', type: 'string', usage: 'Number of lines to show from the end of the logs', default: 'all' },
    { name: 'timestamps', short: 't', type: 'bool', usage: 'Show timestamps' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, p) {
    const f = p.flags as LogsFlags;
    const target = p.args[0];
    const since = flagTimestamp('since', f.since);
    // a service first, then a task, as docker looks them up
    let kind: 'services' | 'tasks' = 'services';
    let tty = false;
    let padding = 1;
    try {
      const s = await ctx.client.serviceGet(target);
      const tt = (s.Spec.TaskTemplate ?? {}) as { ContainerSpec?: { TTY?: boolean } };
      tty = !!tt.ContainerSpec?.TTY;
      const rep = (s.Spec.Mode as { Replicated?: { Replicas?: number } } | undefined)?.Replicated;
      if (rep?.Replicas !== undefined) padding = digits(rep.Replicas);
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) throw e;
      try {
        const t = await ctx.client.taskInspect(target);
        kind = 'tasks';
        tty = !!t.Spec?.ContainerSpec?.TTY;
        padding = digits(t.Slot ?? 0);
      } catch (e2) {
        if (e2 instanceof ApiError && e2.status === 404) throw new CliError(`no such task or service: ${target}`);
        throw e2;
      }
    }
    if (tty && !f.raw) throw new CliError('tty service logs only supported with --raw');
    const res = await ctx.client.swarmLogs(kind, target, {
      follow: f.follow, since, timestamps: f.timestamps, tail: f.tail, details: f.details || !f.raw,
    });
    if (tty) {
      for await (const chunk of res) ctx.stdout.write(chunk);
      return;
    }
    if (f.raw) {
      await demuxTo(res, (b) => ctx.stdout.write(b), (b) => ctx.stderr.write(b));
      return;
    }
    // lines are prefixed in the order they arrive, one at a time (the names
    // they need are looked up once and cached)
    const prefixer = new TaskLinePrefixer(ctx, f, padding);
    let chain: Promise<void> = Promise.resolve();
    let failure: unknown;
    const queue = (line: string, write: (s: string) => void) => {
      chain = chain.then(async () => {
        if (failure) return;
        try {
          write(await prefixer.line(line));
        } catch (e) {
          failure = e;
          res.destroy();
        }
      });
    };
    const out = lineSplitter((l) => queue(l, (s) => ctx.stdout.write(s)));
    const err = lineSplitter((l) => queue(l, (s) => ctx.stderr.write(s)));
    try {
      await demuxTo(res, (b) => out.push(b), (b) => err.push(b));
    } catch (e) {
      if (!failure) throw e;
    }
    out.end();
    err.end();
    await chain;
    if (failure) throw failure instanceof CliError ? failure : new CliError((failure as Error).message);
  },
};
