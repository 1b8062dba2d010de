// `service inspect --pretty`: the page docker's serviceInspectPrettyTemplate
// draws (docker/cli cli/command/service/formatter.go), written out as code so
// every line break, tab and Go value format (durations, []string as "[a b]",
// sorted map keys) comes out as the docker CLI prints it.
import type { SwarmService } from '../../../client';
import { formatGoDuration } from '../../../common/time';
import { humanDuration } from '../../../common/duration';
import { bytesSize } from '../../units';

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v));
const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0) || 0);
/** Go's %v of a []string. */
const goList = (v: string[]): string => `[${v.join(' ')}]`;
/** Go's %v of a float (shortest form; JSON numbers already are). */
const goFloat = (v: number): string => String(v);
const sortedKeys = (m: Json): string[] => Object.keys(m).sort();

/** One service's page, as docker prints it (a leading blank line, a trailing one). */
export function prettyService(s: SwarmService, networkNames: Map<string, string>, now = Date.now()): string {
  const spec = obj(s.Spec);
  const tt = obj(spec.TaskTemplate);
  const cs = obj(tt.ContainerSpec);
  const mode = obj(spec.Mode);
  let o = `\nID:\t\t${s.ID}\nName:\t\t${str(spec.Name)}`;

  const labels = obj(spec.Labels);
  if (Object.keys(labels).length) {
    o += '\nLabels:';
    for (const k of sortedKeys(labels)) o += `\n ${k}${str(labels[k]) ? `=${str(labels[k])}` : ''}`;
  }

  o += '\nService Mode:';
  if (spec.Mode && mode.Global) o += '\tGlobal';
  else if (mode.Replicated) {
    o += '\tReplicated';
    const r = obj(mode.Replicated);
    if (r.Replicas !== undefined && r.Replicas !== null) o += `\n Replicas:\t${num(r.Replicas)}`;
  }

  const us = obj(s.UpdateStatus) as Json & { StartedAt?: string; CompletedAt?: string };
  if (str(us.State)) {
    o += `\nUpdateStatus:\n State:\t\t${str(us.State)}`;
    const ago = (t: string) => `${humanDuration(now - Date.parse(t))} ago`;
    if (us.StartedAt) o += `\n Started:\t${ago(us.StartedAt)}`;
    if (us.State === 'completed' && us.CompletedAt) o += `\n Completed:\t${ago(us.CompletedAt)}`;
    o += `\n Message:\t${str(us.Message)}`;
  }

  o += '\nPlacement:';
  const placement = obj(tt.Placement);
  const constraints = arr(placement.Constraints).map(str);
  if (constraints.length) o += `\n Constraints:\t${goList(constraints)}`;
  const prefs = arr(placement.Preferences).map((p) => obj(obj(p).Spread)).filter((sp) => Object.keys(sp).length).map((sp) => 'spread=' + str(sp.SpreadDescriptor));
  if (prefs.length) o += `\n Preferences:   ${goList(prefs)}`;
  if (num(placement.MaxReplicas)) o += `\n Max Replicas Per Node:   ${num(placement.MaxReplicas)}`;

  o += rolloutConfig('UpdateConfig', 'Update order:      ', spec.UpdateConfig);
  o += rolloutConfig('RollbackConfig', 'Rollback order:    ', spec.RollbackConfig);

  o += `\nContainerSpec:\n Image:\t\t${str(cs.Image)}`;
  const args = arr(cs.Args).map(str);
  if (args.length) o += `\n Args:\t\t${args.map((a) => a + ' ').join('')}`;
  const env = arr(cs.Env).map(str);
  if (env.length) o += `\n Env:\t\t${env.map((e) => e + ' ').join('')}`;
  if (str(cs.Dir)) o += `\n Dir:\t\t${str(cs.Dir)}`;
  if (cs.Init !== undefined && cs.Init !== null) o += `\n Init:\t\t${cs.Init ? 'true' : 'false'}`;
  if (str(cs.User)) o += `\n User: ${str(cs.User)}`;
  const capAdd = arr(cs.CapabilityAdd).map(str);
  const capDrop = arr(cs.CapabilityDrop).map(str);
  if (capAdd.length || capDrop.length) {
    o += '\nCapabilities:';
    if (capAdd.length) o += `\n Add: ${capAdd.join(', ')}`;
    if (capDrop.length) o += `\n Drop: ${capDrop.join(', ')}`;
  }
  const sysctls = obj(cs.Sysctls);
  if (Object.keys(sysctls).length) {
    o += '\nSysCtls:';
    for (const k of sortedKeys(sysctls)) o += `\n ${k}${str(sysctls[k]) ? `: ${str(sysctls[k])}` : ''}`;
  }
  const ulimits = new Map<string, string>();
  for (const u of arr(cs.Ulimits).map(obj)) ulimits.set(str(u.Name), `${num(u.Soft)}:${num(u.Hard)}`);
  if (ulimits.size) {
    o += '\nUlimits:';
    for (const k of [...ulimits.keys()].sort()) o += `\n ${k}: ${ulimits.get(k)}`;
  }
  const mounts = arr(cs.Mounts).map(obj);
  if (mounts.length) o += '\nMounts:';
  for (const m of mounts) o += `\n Target:\t${str(m.Target)}\n  Source:\t${str(m.Source)}\n  ReadOnly:\t${m.ReadOnly ? 'true' : 'false'}\n  Type:\t\t${str(m.Type)}`;
  for (const [title, key, nameKey] of [['Configs', 'Configs', 'ConfigName'], ['Secrets', 'Secrets', 'SecretName']] as const) {
    const refs = arr(cs[key]).map(obj);
    if (!refs.length) continue;
    o += `\n${title}:`;
    for (const r of refs) o += `\n Target:\t${str(obj(r.File).Name)}\n  Source:\t${str(r[nameKey])}`;
  }
  if (tt.LogDriver) {
    const ld = obj(tt.LogDriver);
    o += '\nLog Driver:';
    if (str(ld.Name)) o += `\n Name:\t\t${str(ld.Name)}`;
    const opts = obj(ld.Options);
    if (Object.keys(opts).length) {
      o += '\n LogOpts:';
      for (const k of sortedKeys(opts)) o += `\n  ${k}${str(opts[k]) ? `:       ${str(opts[k])}` : ''}`;
    }
    o += '\n'; // the template's own blank line after a log driver
  }

  const res = tt.Resources ? obj(tt.Resources) : undefined;
  const lim = obj(res?.Limits);
  if (res) {
    o += '\nResources:';
    const rsv = obj(res.Reservations);
    if (num(rsv.NanoCPUs) > 0 || num(rsv.MemoryBytes) > 0) {
      o += '\n Reservations:';
      if (num(rsv.NanoCPUs) > 0) o += `\n  CPU:\t\t${goFloat(num(rsv.NanoCPUs) / 1e9)}`;
      if (num(rsv.MemoryBytes)) o += `\n  Memory:\t${bytesSize(num(rsv.MemoryBytes))}`;
    }
    if (num(lim.NanoCPUs) > 0 || num(lim.MemoryBytes) > 0 || num(lim.Pids) > 0) {
      o += '\n Limits:';
      if (num(lim.NanoCPUs) > 0) o += `\n  CPU:\t\t${goFloat(num(lim.NanoCPUs) / 1e9)}`;
      if (num(lim.MemoryBytes)) o += `\n  Memory:\t${bytesSize(num(lim.MemoryBytes))}`;
    }
  }
  if (num(lim.Pids) > 0) o += `\n  PIDs:\t\t${num(lim.Pids)}`;

  const nets = arr(tt.Networks).map((n) => str(obj(n).Target)).map((t) => networkNames.get(t) ?? t);
  if (nets.length) o += `\nNetworks:${nets.map((n) => ' ' + n).join('')} `;
  o += `\nEndpoint Mode:\t${spec.EndpointSpec ? str(obj(spec.EndpointSpec).Mode) : ''}`;
  const ports = arr(s.Endpoint?.Ports).map(obj);
  if (ports.length) {
    o += '\nPorts:';
    for (const p of ports) o += `\n PublishedPort = ${num(p.PublishedPort)}\n  Protocol = ${str(p.Protocol)}\n  TargetPort = ${num(p.TargetPort)}\n  PublishMode = ${str(p.PublishMode)}`;
    o += ' ';
  }
  if (cs.Healthcheck) {
    const h = obj(cs.Healthcheck);
    o += `\n Healthcheck:\n  Interval = ${formatGoDuration(num(h.Interval))}\n  Retries = ${num(h.Retries)}\n  StartPeriod =\t${formatGoDuration(num(h.StartPeriod))}\n  Timeout =\t${formatGoDuration(num(h.Timeout))}`;
    const tests = arr(h.Test).map(str);
    if (tests.length) o += `\n  Tests:${tests.map((t) => `\n\t Test = ${t}`).join('')} `;
  }
  return o + '\n\n';
}

/** The UpdateConfig / RollbackConfig block. */
function rolloutConfig(title: string, orderLabel: string, v: unknown): string {
  if (!v) return '';
  const c = obj(v);
  let o = `\n${title}:\n Parallelism:\t${num(c.Parallelism)}`;
  if (num(c.Delay) > 0) o += `\n Delay:\t\t${formatGoDuration(num(c.Delay))}`;
  o += `\n On failure:\t${str(c.FailureAction)}`;
  if (num(c.Monitor) > 0) o += `\n Monitoring Period: ${formatGoDuration(num(c.Monitor))}`;
  o += `\n Max failure ratio: ${goFloat(num(c.MaxFailureRatio))}`;
  o += `\n ${orderLabel}${str(c.Order)}`;
  return o;
}
