// logs: the container's output, demultiplexed unless it has a TTY.
import type { Command } from '../../registry';
import { demuxTo } from '../../../client';
import { flagTimestamp } from '../../flags';

export const logsCommand: Command = {
  name: 'logs',
  usage: '[OPTIONS] CONTAINER',
  short: 'Fetch the logs of a container',
  flags: [
    { name: 'details', type: 'bool', usage: 'Show extra details provided to logs' },
    { name: 'follow', short: 'f', type: 'bool', usage: 'Follow log output' },
    { name: 'since', type: 'string', usage: 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)' },
    { name: 'tail', short: 'n', type: 'string', usage: 'Number of lines to show from the end of the logs', default: 'all' },
    { name: 'timestamps', short: 't', type: 'bool', usage: 'Show timestamps' },
    { name: 'until', type: 'string', usage: 'Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, p) {
    const f = p.flags;
    const since = flagTimestamp('since', f.since);
    const until = flagTimestamp('until', f.until);
    const info = await ctx.client.containerInspect(p.args[0]);
    const res = await ctx.client.containerLogs(info.Id, {
      follow: f.follow, since, until, timestamps: f.timestamps, tail: f.tail, details: f.details,
    });
    if (info.Config?.Tty) {
      for await (const chunk of res) ctx.stdout.write(chunk);
      return;
    }
    await demuxTo(res, (b) => ctx.stdout.write(b), (b) => ctx.stderr.write(b));
  },
};
