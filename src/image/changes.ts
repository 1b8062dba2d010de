// `docker import --change` / `docker commit --change`: Dockerfile
// instructions applied to an image config (CMD, ENTRYPOINT, ENV, EXPOSE,
// LABEL, ONBUILD, SHELL, STOPSIGNAL, USER, VOLUME, WORKDIR).
import { InvalidParameter } from '../util/errors';
import { jsonArray } from '../util/exec-form';
import { parseGoDuration } from '../common/time';
import type { ImageConfig } from './types';

// moby's validCommitCommands (SHELL is not among them)
const ALLOWED = new Set(['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'HEALTHCHECK', 'LABEL', 'ONBUILD', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR']);

/** Splits `a=b "c d"=e` / `k v` words, honouring quotes and backslashes. */
function words(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote = '';
  let has = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      if (c === quote) quote = '';
      else if (c === '\\' && quote === '"' && i + 1 < s.length) cur += s[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      has = true;
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has || cur) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
    }
  }
  if (quote) throw new InvalidParameter(`unterminated quote in: ${s}`);
  if (has || cur) out.push(cur);
  return out;
}

function keyValues(instr: string, args: string): Array<[string, string]> {
  const w = words(args);
  if (w.length === 0) throw new InvalidParameter(`${instr} requires at least one argument`);
  if (!w[0].includes('=')) {
    // Legacy form: `ENV key value with spaces`.
    const m = /^\s*(\S+)\s+(.*)$/.exec(args);
    if (!m) throw new InvalidParameter(`${instr} must have two arguments`);
    return [[m[1], words(m[2]).join(' ')]];
  }
  return w.map((kv) => {
    const i = kv.indexOf('=');
    if (i <= 0) throw new InvalidParameter(`${instr} names can not be blank`);
    return [kv.slice(0, i), kv.slice(i + 1)];
  });
}

/** Applies change lines to a copy of `base`. */
export function applyChanges(base: ImageConfig, changes: string[]): ImageConfig {
  const cfg: ImageConfig = JSON.parse(JSON.stringify(base ?? {}));
  for (const raw of changes) {
    const line = raw.trim();
    if (!line) continue;
    const m = /^(\S+)\s*(.*)$/s.exec(line)!;
    const instr = m[1].toUpperCase();
    const args = m[2].trim();
    if (!ALLOWED.has(instr)) throw new InvalidParameter(`${m[1].toLowerCase()} is not a valid change command`);
    const shell = cfg.Shell && cfg.Shell.length ? cfg.Shell : ['/bin/sh', '-c'];
    switch (instr) {
      case 'CMD':
        cfg.Cmd = jsonArray(args) ?? [...shell, args];
        break;
      case 'ENTRYPOINT':
        cfg.Entrypoint = jsonArray(args) ?? [...shell, args];
        break;
      case 'SHELL': {
        const a = jsonArray(args);
        if (!a) throw new InvalidParameter('SHELL requires the arguments to be in JSON form');
        cfg.Shell = a;
        break;
      }
      case 'ENV': {
        const env = [...(cfg.Env ?? [])];
        for (const [k, v] of keyValues(instr, args)) {
          const i = env.findIndex((e) => e.split('=')[0] === k);
          if (i >= 0) env[i] = `${k}=${v}`;
          else env.push(`${k}=${v}`);
        }
        cfg.Env = env;
        break;
      }
      case 'LABEL': {
        const labels = { ...(cfg.Labels ?? {}) };
        for (const [k, v] of keyValues(instr, args)) labels[k] = v;
        cfg.Labels = labels;
        break;
      }
      case 'EXPOSE': {
        const ports = { ...(cfg.ExposedPorts ?? {}) };
        for (const p of words(args)) {
          const pm = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(p);
          if (!pm) throw new InvalidParameter(`invalid containerPort: ${p}`);
          const lo = Number(pm[1]);
          const hi = pm[2] ? Number(pm[2]) : lo;
          if (hi < lo || hi > 65535) throw new InvalidParameter(`invalid port range: ${p}`);
          for (let x = lo; x <= hi; x++) ports[`${x}/${(pm[3] ?? 'tcp').toLowerCase()}`] = {};
        }
        cfg.ExposedPorts = ports;
        break;
      }
      case 'VOLUME': {
        const vols = { ...(cfg.Volumes ?? {}) };
        for (const v of jsonArray(args) ?? words(args)) {
          if (!v) throw new InvalidParameter('VOLUME specified can not be an empty string');
          vols[v] = {};
        }
        cfg.Volumes = vols;
        break;
      }
      case 'WORKDIR':
        cfg.WorkingDir = args.startsWith('/') ? args : `${(cfg.WorkingDir || '/').replace(/\/$/, '')}/${args}`;
        break;
      case 'USER':
        cfg.User = args;
        break;
      case 'STOPSIGNAL':
        cfg.StopSignal = args;
        break;
      case 'ONBUILD':
        if (!args) throw new InvalidParameter('ONBUILD requires at least one argument');
        cfg.OnBuild = [...(cfg.OnBuild ?? []), args];
        break;
      case 'HEALTHCHECK':
        cfg.Healthcheck = healthcheck(args);
        break;
    }
  }
  return cfg;
}

const HC_DURATIONS: Record<string, string> = { interval: 'Interval', timeout: 'Timeout', 'start-period': 'StartPeriod', 'start-interval': 'StartInterval' };

/** A HEALTHCHECK flag's Go duration in nanoseconds, as moby's parseOptInterval (0, or at least 1ms). */
function durationNs(name: string, v: string): number {
  const ns = Number(parseGoDuration(v));
  if (ns !== 0 && ns < 1e6) throw new InvalidParameter(`Interval ${JSON.stringify(name)} cannot be less than 1ms`);
  return ns;
}

/** `HEALTHCHECK [--interval=..] [--timeout=..] [--start-period=..] [--start-interval=..] [--retries=..] CMD ...|NONE`, as the Dockerfile instruction. */
function healthcheck(args: string): Record<string, unknown> {
  let rest = args.trim();
  const flags: Record<string, number> = {};
  let m: RegExpExecArray | null;
  while ((m = /^--([A-Za-z-]+)=(\S*)\s*/.exec(rest))) {
    rest = rest.slice(m[0].length);
    const [, name, val] = m;
    if (name === 'retries') {
      if (!/^\d+$/.test(val)) throw new InvalidParameter(`strconv.ParseInt: parsing ${JSON.stringify(val)}: invalid syntax`);
      flags.Retries = Number(val);
    } else if (HC_DURATIONS[name]) {
      flags[HC_DURATIONS[name]] = durationNs(name, val);
    } else throw new InvalidParameter(`Unknown flag: ${name}`);
  }
  const t = /^(\S+)\s*(.*)$/s.exec(rest);
  const kind = (t?.[1] ?? '').toUpperCase();
  if (kind === 'NONE') {
    if (t![2] || Object.keys(flags).length) throw new InvalidParameter('HEALTHCHECK NONE takes no arguments');
    return { Test: ['NONE'] };
  }
  if (kind !== 'CMD') throw new InvalidParameter(`Unknown type ${JSON.stringify(kind)} in HEALTHCHECK (try CMD)`);
  const body = t![2];
  if (!body) throw new InvalidParameter('Missing command after HEALTHCHECK CMD');
  const arr = jsonArray(body);
  const hc: Record<string, unknown> = { Test: arr ? ['CMD', ...arr] : ['CMD-SHELL', body] };
  for (const k of ['Interval', 'Timeout', 'StartPeriod', 'StartInterval', 'Retries']) if (flags[k] !== undefined) hc[k] = flags[k];
  return hc;
}
