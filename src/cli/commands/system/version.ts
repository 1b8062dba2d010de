// version: client and server versions in docker's layout (or --format).
import os from 'node:os';
import type { Command } from '../../registry';
import { CliError } from '../../registry';
import { Template } from '../../template';
import { BERTH_VERSION, GIT_COMMIT } from '../../../version';
import { CLIENT_API_VERSION } from '../../../client';

function goArch(): string {
  const m: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', s390x: 's390x', ppc64: 'ppc64le' };
  return m[process.arch] ?? process.arch;
}

/** Go's time.ANSIC in local time ("Mon Jan _2 15:04:05 2006"), as docker shows build times. */
function ansic(t: string | undefined): string {
  const d = t ? new Date(t) : undefined;
  if (!d || Number.isNaN(d.getTime())) return t ?? '';
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${days[d.getDay()]} ${months[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())} ${d.getFullYear()}`;
}

export const versionCommand: Command = {
  name: 'version',
  usage: '[OPTIONS]',
  short: 'Show the Berth version information',
  flags: [{ name: 'format', short: 'f', type: 'string', usage: 'Format output using a custom template' }],
  args: { max: 0 },
  async run(ctx, p) {
    const client = {
      Platform: { Name: '' },
      Version: BERTH_VERSION,
      ApiVersion: CLIENT_API_VERSION,
      DefaultAPIVersion: CLIENT_API_VERSION,
      GitCommit: GIT_COMMIT,
      GoVersion: process.version,
      Os: os.platform(),
      Arch: goArch(),
      BuildTime: '',
      Context: 'default',
    };
    let server: any;
    let serverErr: unknown;
    try {
      await ctx.client.negotiate();
      client.ApiVersion = ctx.client.apiVersion;
      server = await ctx.client.version();
    } catch (e) {
      serverErr = e;
    }
    if (p.flags.format) {
      const t = new Template(p.flags.format);
      // Templates name Go's struct fields (APIVersion), the JSON says ApiVersion: offer both.
      const srv = server ? { ...server, APIVersion: server.ApiVersion, MinAPIVersion: server.MinAPIVersion } : null;
      ctx.out(t.execute({ Client: { ...client, APIVersion: client.ApiVersion }, Server: srv }) + '\n');
      if (serverErr) throw serverErr;
      return;
    }
    const row = (k: string, v: unknown, indent = ' ', width = 19) => `${indent}${(k + ':').padEnd(width)}${v ?? ''}\n`;
    let out = 'Client:\n';
    out += row('Version', client.Version);
    out += row('API version', client.ApiVersion + (client.ApiVersion !== CLIENT_API_VERSION ? ` (downgraded from ${CLIENT_API_VERSION})` : ''));
    out += row('Go version', client.GoVersion);
    out += row('Git commit', client.GitCommit);
    out += row('Built', client.BuildTime);
    out += row('OS/Arch', `${client.Os}/${client.Arch}`);
    out += row('Context', client.Context);
    ctx.out(out);
    if (serverErr) {
      ctx.out('\n');
      throw serverErr;
    }
    let s = `\nServer: ${server.Platform?.Name ?? ''}\n`;
    for (const c of server.Components ?? []) {
      s += ` ${c.Name}:\n`;
      s += row('Version', c.Version, '  ', 18);
      const d = c.Details ?? {};
      if (c.Name === 'Engine') {
        s += row('API version', `${d.ApiVersion} (minimum version ${d.MinAPIVersion})`, '  ', 18);
        s += row('Go version', d.GoVersion, '  ', 18);
        s += row('Git commit', d.GitCommit, '  ', 18);
        s += row('Built', ansic(d.BuildTime), '  ', 18);
        s += row('OS/Arch', `${d.Os}/${d.Arch}`, '  ', 18);
        s += row('Experimental', d.Experimental, '  ', 18);
      } else {
        for (const [k, v] of Object.entries(d)) s += row(k, v, '  ', 18);
      }
    }
    ctx.out(s);
    void CliError;
  },
};
