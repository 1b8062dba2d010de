// Placement constraints as swarmkit reads them (manager/constraint): the
// parser with its error texts (the service API refuses a malformed one, the
// scheduler and the orchestrator's global mode match nodes with them).
// Keys: node.id, node.hostname, node.role, node.ip (address or CIDR),
// node.platform.os, node.platform.arch, node.labels.X, engine.labels.X;
// operators == and !=; values compare case-insensitively; a missing label is
// the empty string; an unknown key matches no node.
import type { NodeRecord } from './types';
import type { Json } from './objects';

export interface Constraint {
  key: string;
  op: '==' | '!=';
  value: string;
}

const KEY_RE = /^[a-z_][a-z0-9\-_.]+$/i;
const VALUE_RE = /^[a-z0-9:\-_\s.*()?+[\]\\^$|/]+$/i;

/** Placement constraints as swarmkit parses them; throws swarmkit's error for a malformed one. */
export function parseConstraints(list: readonly string[] | undefined): Constraint[] {
  const out: Constraint[] = [];
  for (const e of list ?? []) {
    const op = e.includes('==') ? '==' : e.includes('!=') ? '!=' : undefined;
    if (!op) throw new Error('constraint expected one operator from ==, !=');
    const i = e.indexOf(op);
    const key = e.slice(0, i).trim();
    const value = e.slice(i + 2).trim();
    if (!KEY_RE.test(key)) throw new Error(`key '${key}' is invalid`);
    if (!VALUE_RE.test(value)) throw new Error(`value '${value}' is invalid`);
    out.push({ key, op, value });
  }
  return out;
}

/**
 * For the service API: swarmkit's error text for a TaskTemplate.Placement
 * that cannot be used (dockerd answers 400 "rpc error: code = InvalidArgument
 * desc = <text>"), or undefined when it is fine.
 */
export function placementError(placement: unknown): string | undefined {
  if (!placement || typeof placement !== 'object') return undefined;
  const p = placement as Json;
  if (p.Constraints !== undefined && p.Constraints !== null && !Array.isArray(p.Constraints)) return 'placement constraints must be a list';
  try {
    parseConstraints((p.Constraints as string[] | null) ?? []);
  } catch (e) {
    return (e as Error).message;
  }
  return undefined;
}

export const NODE_LABELS = 'node.labels.';
export const ENGINE_LABELS = 'engine.labels.';
export const hasPrefix = (key: string, prefix: string) => key.length > prefix.length && key.slice(0, prefix.length).toLowerCase() === prefix;

/** Engine labels of a node record, when the record carries them (the daemon's --label). */
export function engineLabels(n: NodeRecord): Record<string, string> {
  const r = n as NodeRecord & { engineLabels?: Record<string, string>; description?: { Engine?: { Labels?: Record<string, string> } } };
  return r.engineLabels ?? r.description?.Engine?.Labels ?? {};
}

function ipv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s.trim());
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((x) => x > 255)) return undefined;
  return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
}

/** node.ip: one address or a CIDR; anything else matches no node. */
function matchIp(c: Constraint, addr: string): boolean {
  const node = ipv4(addr);
  const [net, bits] = c.value.split('/');
  const want = ipv4(net);
  if (want === undefined || node === undefined) return false;
  let inside: boolean;
  if (bits === undefined) inside = want === node;
  else {
    const b = Number(bits);
    if (!/^\d+$/.test(bits) || b > 32) return false;
    const mask = b === 0 ? 0 : (~0 << (32 - b)) >>> 0;
    inside = ((want & mask) >>> 0) === ((node & mask) >>> 0);
  }
  return c.op === '==' ? inside : !inside;
}

/** Whether a node satisfies every constraint (swarmkit's NodeMatches). */
export function nodeMatches(n: NodeRecord, constraints: readonly Constraint[]): boolean {
  for (const c of constraints) {
    const k = c.key.toLowerCase();
    let have: string;
    if (k === 'node.id') have = n.id;
    else if (k === 'node.hostname') have = n.hostname ?? '';
    else if (k === 'node.role') have = n.spec.Role;
    else if (k === 'node.platform.os') have = n.platform?.OS ?? '';
    else if (k === 'node.platform.arch') have = n.platform?.Architecture ?? '';
    else if (k === 'node.ip') {
      if (!matchIp(c, n.addr)) return false;
      continue;
    } else if (hasPrefix(c.key, NODE_LABELS)) have = n.spec.Labels?.[c.key.slice(NODE_LABELS.length)] ?? '';
    else if (hasPrefix(c.key, ENGINE_LABELS)) have = engineLabels(n)[c.key.slice(ENGINE_LABELS.length)] ?? '';
    else return false;
    const eq = have.toLowerCase() === c.value.toLowerCase();
    if ((c.op === '==') !== eq) return false;
  }
  return true;
}

/** Constraint strings against a node; a malformed list matches nothing. */
export function matchConstraints(n: NodeRecord, constraints: readonly string[] | undefined): boolean {
  try {
    return nodeMatches(n, parseConstraints(constraints));
  } catch {
    return false;
  }
}
