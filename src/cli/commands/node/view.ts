// How docker's node formatter shows a node: the list row, the --pretty
// page, the helpers both use (PrettyPrint, natural order, Go times), and
// the `self` reference.
import type { CommandContext } from '../../registry';
import type { SwarmNode, TLSInfo } from '../../../client';
import { bytesSize } from '../../units';
import { sortedJson } from '../../format';

/** formatter.PrettyPrint of a string: first letter upper-cased, the rest lower (one letter: lower). */
export function pretty(s: string | undefined): string {
  const v = s ?? '';
  if (v.length <= 1) return v.toLowerCase();
  return v[0].toUpperCase() + v.slice(1).toLowerCase();
}

/** sortorder.NaturalLess: digit runs compare as numbers. */
export function naturalLess(a: string, b: string): boolean {
  const re = /(\d+|\D+)/g;
  const pa = a.match(re) ?? [];
  const pb = b.match(re) ?? [];
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === y) continue;
    const dx = /^\d/.test(x);
    const dy = /^\d/.test(y);
    if (dx && dy) {
      const nx = x.replace(/^0+/, '');
      const ny = y.replace(/^0+/, '');
      if (nx.length !== ny.length) return nx.length < ny.length;
      if (nx !== ny) return nx < ny;
      return x.length < y.length;
    }
    return x < y;
  }
  return pa.length < pb.length;
}

/** Go's time.Time.String() of an RFC 3339 time as the API sends it (UTC). */
export function goTime(rfc3339: string | undefined): string {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/.exec(rfc3339 ?? '');
  if (!m) return '0001-01-01 00:00:00 +0000 UTC';
  const frac = (m[3] ?? '').slice(0, 9).replace(/0+$/, '');
  const zone = m[4] === 'Z' ? '+0000 UTC' : `${m[4].replace(':', '')} ${m[4].replace(':', '')}`;
  return `${m[1]} ${m[2]}${frac ? '.' + frac : ''} ${zone}`;
}

/** One row of `node ls` (the fields its templates can name). */
export function nodeRow(n: SwarmNode, selfId: string, clusterTls?: TLSInfo): Record<string, unknown> {
  const ms = n.ManagerStatus;
  // Go marshals the formatter's fields in key order (--format json).
  return sortedJson({
    ID: n.ID,
    Self: n.ID === selfId,
    Hostname: n.Description?.Hostname ?? '',
    Status: pretty(n.Status?.State),
    Availability: pretty(n.Spec?.Availability),
    ManagerStatus: pretty(ms ? (ms.Leader ? 'Leader' : ms.Reachability) : ''),
    EngineVersion: n.Description?.Engine?.EngineVersion ?? '',
    TLSStatus: tlsStatus(n.Description?.TLSInfo, clusterTls),
  });
}

const emptyTls = (t?: TLSInfo) => !t || (!t.TrustRoot && !t.CertIssuerSubject && !t.CertIssuerPublicKey);

/** docker's TLSStatus: the node's TLS info against the cluster's. */
function tlsStatus(node?: TLSInfo, cluster?: TLSInfo): string {
  if (emptyTls(cluster) || emptyTls(node)) return 'Unknown';
  const same = (node!.TrustRoot ?? '') === (cluster!.TrustRoot ?? '') && (node!.CertIssuerSubject ?? '') === (cluster!.CertIssuerSubject ?? '') && (node!.CertIssuerPublicKey ?? '') === (cluster!.CertIssuerPublicKey ?? '');
  return same ? 'Ready' : 'Needs Rotation';
}

export const NODE_TABLE = 'table {{.ID}} {{if .Self}}*{{else}} {{ end }}\t{{.Hostname}}\t{{.Status}}\t{{.Availability}}\t{{.ManagerStatus}}\t{{.EngineVersion}}';
export const NODE_HEADERS = {
  ID: 'ID', Self: '', Hostname: 'HOSTNAME', Status: 'STATUS', Availability: 'AVAILABILITY',
  ManagerStatus: 'MANAGER STATUS', EngineVersion: 'ENGINE VERSION', TLSStatus: 'TLS STATUS',
};

const kv = (m: Record<string, string> | null | undefined) =>
  Object.keys(m ?? {}).sort().map((k) => `\n - ${k}${m![k] ? `=${m![k]}` : ''}`).join('');

/** docker node inspect --pretty (nodeInspectPrettyTemplate), one node. */
export function prettyNode(n: SwarmNode): string {
  const d = n.Description ?? {};
  const lines: string[] = [`ID:\t\t\t${n.ID}`];
  if (n.Spec?.Name) lines.push(`Name:\t\t\t${n.Spec.Name}`);
  if (n.Spec?.Labels && Object.keys(n.Spec.Labels).length) lines.push(`Labels:${kv(n.Spec.Labels)}`);
  lines.push(`Hostname:              \t${d.Hostname ?? ''}`);
  lines.push(`Joined at:             \t${pretty(goTime(n.CreatedAt))}`);
  lines.push('Status:');
  lines.push(` State:\t\t\t${pretty(n.Status?.State)}`);
  if (n.Status?.Message) lines.push(` Message:              \t${pretty(n.Status.Message)}`);
  lines.push(` Availability:         \t${pretty(n.Spec?.Availability)}`);
  if (n.Status?.Addr) lines.push(` Address:\t\t${n.Status.Addr}`);
  if (n.ManagerStatus) {
    lines.push('Manager Status:');
    lines.push(` Address:\t\t${n.ManagerStatus.Addr ?? ''}`);
    lines.push(` Raft Status:\t\t${pretty(n.ManagerStatus.Reachability)}`);
    lines.push(` Leader:\t\t${n.ManagerStatus.Leader ? 'Yes' : 'No'}`);
  }
  lines.push('Platform:');
  lines.push(` Operating System:\t${d.Platform?.OS ?? ''}`);
  lines.push(` Architecture:\t\t${d.Platform?.Architecture ?? ''}`);
  lines.push('Resources:');
  lines.push(` CPUs:\t\t\t${Math.trunc((d.Resources?.NanoCPUs ?? 0) / 1e9)}`);
  lines.push(` Memory:\t\t${d.Resources?.MemoryBytes ? bytesSize(d.Resources.MemoryBytes) : ''}`);
  const plugins = d.Engine?.Plugins ?? [];
  if (plugins.length) {
    const byType = new Map<string, string[]>();
    for (const p of plugins) byType.set(p.Type, [...(byType.get(p.Type) ?? []), p.Name]);
    lines.push('Plugins:');
    for (const t of [...byType.keys()].sort()) {
      const v = byType.get(t)!.join(', ');
      lines.push(` ${t}:${v ? `\t\t${v}` : ''}`);
    }
  }
  lines.push(`Engine Version:\t\t${d.Engine?.EngineVersion ?? ''}`);
  if (d.Engine?.Labels && Object.keys(d.Engine.Labels).length) lines.push(`Engine Labels:${kv(d.Engine.Labels)}`);
  const tls = d.TLSInfo;
  if (tls && (tls.TrustRoot || tls.CertIssuerSubject || tls.CertIssuerPublicKey)) {
    lines.push('TLS Info:');
    lines.push(' TrustRoot:');
    lines.push(tls.TrustRoot ?? '');
    // []byte fields: JSON already carries them base64-encoded, as docker prints them.
    lines.push(` Issuer Subject:\t${tls.CertIssuerSubject ?? ''}`);
    lines.push(` Issuer Public Key:\t${tls.CertIssuerPublicKey ?? ''}`);
  }
  return lines.join('\n') + '\n';
}

/** node.Reference: `self` is this node's ID from /info (or the daemon's error). */
export async function nodeReference(ctx: CommandContext, ref: string): Promise<string> {
  if (ref !== 'self') return ref;
  const info = await ctx.client.info();
  const id = info?.Swarm?.NodeID as string | undefined;
  if (!id) {
    // Not a manager: a swarm endpoint gives the specific error.
    await ctx.client.nodeList();
    throw new Error('node ID not found in /info');
  }
  return id;
}
