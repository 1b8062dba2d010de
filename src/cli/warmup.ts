// Warms the code of a long `ps` in a resident CLI worker before its command
// comes (resident/worker.ts; the server asks for it after a long `ps`): the
// formatting of 1,000 rows in a fresh thread runs in V8's interpreter, and
// after a few rounds of a few hundred synthetic rows it runs optimised code
// (a served `ps` of 1,000 rows: ~42 → ~30 ms). Nothing is read or written.
import type { ContainerSummary } from '../client';

/**
 * Rows shaped as berthd's GET /containers/json writes them (same keys, same
 * order: the same hidden classes), with only `fields` as `ps` asks for them.
 */
function sampleRows(n: number, fields: string[]): string {
  const rows: ContainerSummary[] = [];
  const now = Math.floor(Date.now() / 1000);
  for (let i = 0; i < n; i++) {
    const hex = (i * 2654435761 >>> 0).toString(16).padStart(8, '0').repeat(8);
    rows.push({
      Id: hex, Names: [`/warm_${i}`], Image: i % 3 ? 'busybox' : 'registry.local:5000/team/app:1.2',
      ImageID: `sha256:${hex}`, Command: i % 2 ? 'sleep 100000' : 'docker-entrypoint.sh postgres -c shared_buffers=1GB',
      Created: now - i * 37,
      Ports: i % 4 ? [] : [{ IP: '0.0.0.0', PrivatePort: 80, PublicPort: 8000 + i, Type: 'tcp' }, { PrivatePort: 443, Type: 'tcp' }],
      Labels: i % 2 ? {} : { 'com.example.tier': 'web' }, State: 'running', Status: `Up ${1 + (i % 50)} minutes`,
      HostConfig: { NetworkMode: 'default' },
      NetworkSettings: { Networks: { bridge: { IPAMConfig: null, Links: null, Aliases: null, NetworkID: hex, EndpointID: hex, Gateway: '10.88.0.1', IPAddress: `10.88.${i >> 8 & 255}.${i & 255}`, IPPrefixLen: 16, IPv6Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0, MacAddress: '02:42:0a:58:00:02', DriverOpts: null } } },
      Mounts: [],
    } as unknown as ContainerSummary);
  }
  return JSON.stringify(rows.map((r) => Object.fromEntries(fields.map((k) => [k, (r as unknown as Record<string, unknown>)[k]]))));
}

/** Runs `ps`'s default table (and -q) over sample rows until V8 has optimised it; returns the output's length. */
export async function warmPs(rounds = 6, rows = 200): Promise<number> {
  const { listTableFormat, listFields, containerContext, psHeaders } = await import('./commands/container/list');
  const { formatRows } = await import('./format');
  const forms = [['table', sampleRows(rows, listFields('table', false)!)], ['{{.ID}}', sampleRows(rows, listFields('{{.ID}}', false)!)]];
  let n = 0;
  for (let r = 0; r < rounds; r++) {
    for (const [format, text] of forms) {
      const list = (JSON.parse(text) as ContainerSummary[]).map((c) => containerContext(c, true));
      n += formatRows({ format, defaultTable: listTableFormat(false), headers: psHeaders }, list).length;
    }
  }
  return n;
}
