// The scheduler: which node each unassigned task goes to. A pure function,
// no I/O; the orchestrator (orchestrator.ts, leader only) calls it every loop
// with the tasks still in state new/pending and writes the answer back
// (nodeId + state assigned, or state pending with the message).
//
// CONTRACT (svc-core owns the input/output types, svc-update owns the body):
// - input.tasks: the tasks to place, each with its service's spec. Placement
//   and reservations are read from the task's own spec (the TaskTemplate it
//   was made from), as swarmkit does; the service's TaskTemplate is the
//   fallback for a task without one.
// - input.nodes: every node record with `ready` (its liveness lease is alive)
//   and its availability (spec.Availability). Only ready + active nodes get
//   new tasks (pause: none; drain: none).
// - input.running: every non-terminal task that already has a nodeId (the
//   load each node carries), including the ones of other services.
// - output: task id → { nodeId } when placed, or { pending: message } when no
//   node fits, with swarmkit's text ("no suitable node (scheduling
//   constraints not satisfied on 2 nodes; 1 node not available for new
//   tasks)"). Tasks placed in one call count for the next ones of the same
//   call (spread within a batch).
//
// How swarmkit's scheduler decides, and so this one:
// - a pipeline of filters runs over every node, stopping at the first that
//   fails: ready (Ready and active), resources (reservations fit in what the
//   node's non-terminal tasks leave), constraints, platform, max replicas per
//   node. The explanation counts the nodes each filter turned away, most
//   first ("max replicas per node limit exceed" carries no count).
// - tasks of one service with one spec are a group, placed together: the
//   nodes that pass are spread over by placement preferences (a tree of
//   label values; each branch gets an even share of the service's tasks,
//   nodes without the label share the "" branch), then within a branch the
//   node with the fewest tasks of the service, then the fewest tasks overall,
//   goes first, filling nodes up to the same count before going round.
// - constraints: node.id, node.hostname, node.role, node.ip, node.platform.os,
//   node.platform.arch, node.labels.X, engine.labels.X with == and !=, values
//   compared case-insensitively; a missing label is the empty string; an
//   unknown key matches no node.
// Not modelled: host-mode published ports, plugins, CSI volumes, generic
// resources and swarmkit's "recent failures on this node" penalty.
import type { NodeRecord } from '../types';
import type { TaskRecord, Json } from '../objects';
import { parseConstraints, nodeMatches, engineLabels, hasPrefix, NODE_LABELS, ENGINE_LABELS, type Constraint } from '../constraint';

export { parseConstraints, placementError, nodeMatches, matchConstraints, type Constraint } from '../constraint';

export interface ScheduleTask {
  task: TaskRecord;
  /** The service's current ServiceSpec (Placement/Resources are in spec.TaskTemplate). */
  service: Json;
}

export interface ScheduleNode {
  node: NodeRecord;
  /** The node's heartbeat lease is alive (Status.State ready). */
  ready: boolean;
  availability: 'active' | 'pause' | 'drain';
}

export interface ScheduleInput {
  tasks: ScheduleTask[];
  nodes: ScheduleNode[];
  /** All non-terminal tasks that have a nodeId (any service). */
  running: TaskRecord[];
}

export type Placement = { nodeId: string } | { pending: string };

// ---- the pipeline ----

const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

interface NodeInfo {
  view: ScheduleNode;
  id: string;
  /** Tasks desired running (new..complete) per service, and in all. */
  byService: Map<string, number>;
  active: number;
  cpu: number;
  mem: number;
}

function reservations(spec: Json): { cpu: number; mem: number } {
  const r = obj(obj(spec.Resources).Reservations);
  return { cpu: num(r.NanoCPUs), mem: num(r.MemoryBytes) };
}

const ACTIVE = new Set(['new', 'pending', 'assigned', 'accepted', 'preparing', 'ready', 'starting', 'running', 'complete']);

function addTask(n: NodeInfo, t: TaskRecord): void {
  const r = reservations(t.spec ?? {});
  n.cpu -= r.cpu;
  n.mem -= r.mem;
  if (ACTIVE.has(t.desiredState)) {
    n.active++;
    n.byService.set(t.serviceId, (n.byService.get(t.serviceId) ?? 0) + 1);
  }
}

interface Filter {
  explain(nodes: number): string;
  check(n: NodeInfo): boolean;
}

const nodesText = (n: number) => (n === 1 ? '1 node' : `${n} nodes`);

function normArch(a: string): string {
  return a === 'x86_64' ? 'amd64' : a === 'aarch64' ? 'arm64' : a;
}

/** The filters a task's spec turns on, in swarmkit's order. */
function filtersFor(serviceId: string, spec: Json, constraints: Constraint[]): Filter[] {
  const out: Filter[] = [{
    explain: (n) => `${nodesText(n)} not available for new tasks`,
    check: (n) => n.view.ready && n.view.availability === 'active',
  }];
  const r = reservations(spec);
  if (r.cpu > 0 || r.mem > 0) {
    out.push({ explain: (n) => `insufficient resources on ${nodesText(n)}`, check: (n) => r.cpu <= n.cpu && r.mem <= n.mem });
  }
  const placement = obj(spec.Placement);
  if (constraints.length) {
    out.push({ explain: (n) => `scheduling constraints not satisfied on ${nodesText(n)}`, check: (n) => nodeMatches(n.view.node, constraints) });
  }
  const platforms = Array.isArray(placement.Platforms) ? (placement.Platforms as Json[]) : [];
  if (platforms.length) {
    out.push({
      explain: (n) => `unsupported platform on ${nodesText(n)}`,
      check: (n) => platforms.some((p) => {
        const arch = normArch(String(p.Architecture ?? ''));
        const os = String(p.OS ?? '');
        return (!arch || arch === normArch(n.view.node.platform?.Architecture ?? '')) && (!os || os === n.view.node.platform?.OS);
      }),
    });
  }
  const max = num(placement.MaxReplicas);
  if (max > 0) out.push({ explain: () => 'max replicas per node limit exceed', check: (n) => (n.byService.get(serviceId) ?? 0) < max });
  return out;
}

/** The first filter a node fails, or -1. */
function failing(filters: Filter[], n: NodeInfo): number {
  return filters.findIndex((f) => !f.check(n));
}

/** Why no node takes the task: each filter with the nodes it turned away, most first. */
function explain(filters: Filter[], nodes: NodeInfo[]): string {
  const counts = filters.map(() => 0);
  for (const n of nodes) {
    const i = failing(filters, n);
    if (i >= 0) counts[i]++;
  }
  const parts = filters.map((f, i) => ({ i, c: counts[i], f })).filter((x) => x.c > 0)
    .sort((a, b) => b.c - a.c || a.i - b.i).map((x) => x.f.explain(x.c));
  return parts.length ? `no suitable node (${parts.join('; ')})` : 'no suitable node';
}

// ---- spreading ----

interface Tree {
  /** The service's active tasks on this branch's nodes. */
  tasks: number;
  next?: Map<string, Tree>;
  nodes: NodeInfo[];
}

function buildTree(serviceId: string, prefs: Json[], nodes: NodeInfo[], passes: (n: NodeInfo) => boolean): Tree {
  const root: Tree = { tasks: 0, nodes: [] };
  const descriptors = prefs.map((p) => String(obj(p.Spread).SpreadDescriptor ?? ''))
    .filter((d) => hasPrefix(d, NODE_LABELS) || hasPrefix(d, ENGINE_LABELS));
  for (const n of nodes) {
    let tree = root;
    const mine = n.byService.get(serviceId) ?? 0;
    for (const d of descriptors) {
      const value = hasPrefix(d, NODE_LABELS) ? n.view.node.spec.Labels?.[d.slice(NODE_LABELS.length)] ?? '' : engineLabels(n.view.node)[d.slice(ENGINE_LABELS.length)] ?? '';
      tree.tasks += mine;
      tree.next ??= new Map();
      let sub = tree.next.get(value);
      if (!sub) tree.next.set(value, (sub = { tasks: 0, nodes: [] }));
      tree = sub;
    }
    tree.tasks += mine;
    if (passes(n)) tree.nodes.push(n);
  }
  return root;
}

export function schedule(input: ScheduleInput): Map<string, Placement> {
  const out = new Map<string, Placement>();
  const infos = new Map<string, NodeInfo>();
  const sorted = [...input.nodes].sort((a, b) => (a.node.hostname ?? '').localeCompare(b.node.hostname ?? '') || a.node.id.localeCompare(b.node.id));
  for (const v of sorted) {
    const res = v.node.resources ?? { NanoCPUs: 0, MemoryBytes: 0 };
    infos.set(v.node.id, { view: v, id: v.node.id, byService: new Map(), active: 0, cpu: num(res.NanoCPUs), mem: num(res.MemoryBytes) });
  }
  for (const t of input.running) {
    const n = infos.get(t.nodeId);
    if (n) addTask(n, t);
  }
  const all = [...infos.values()];

  // groups: tasks of one service with the same spec are placed together
  const groups = new Map<string, { serviceId: string; spec: Json; tasks: TaskRecord[] }>();
  for (const { task, service } of input.tasks) {
    const spec = task.spec && Object.keys(task.spec).length ? task.spec : obj(service.TaskTemplate);
    const key = `${task.serviceId}\n${JSON.stringify(spec)}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { serviceId: task.serviceId, spec, tasks: [] }));
    g.tasks.push(task);
  }

  for (const g of groups.values()) {
    const placement = obj(g.spec.Placement);
    let constraints: Constraint[];
    try {
      constraints = parseConstraints(Array.isArray(placement.Constraints) ? (placement.Constraints as string[]) : []);
    } catch (e) {
      for (const t of g.tasks) out.set(t.id, { pending: `no suitable node (${(e as Error).message})` });
      continue;
    }
    const filters = filtersFor(g.serviceId, g.spec, constraints);
    const passes = (n: NodeInfo) => failing(filters, n) < 0;
    const less = (a: NodeInfo, b: NodeInfo) => {
      const sa = a.byService.get(g.serviceId) ?? 0;
      const sb = b.byService.get(g.serviceId) ?? 0;
      return sa !== sb ? sa < sb : a.active < b.active;
    };
    const queue = [...g.tasks].sort((a, b) => a.slot - b.slot || a.createdAt.localeCompare(b.createdAt));
    const place = (n: NodeInfo) => {
      const t = queue.shift()!;
      out.set(t.id, { nodeId: n.id });
      addTask(n, { ...t, nodeId: n.id, spec: g.spec });
    };
    const prefs = Array.isArray(placement.Preferences) ? (placement.Preferences as Json[]) : [];
    const tree = buildTree(g.serviceId, prefs, all, passes);
    onSubtree(queue.length, tree, { passes, less, place, left: () => queue.length });
    if (queue.length) {
      const why = explain(filters, all);
      for (const t of queue) out.set(t.id, { pending: why });
    }
  }
  return out;
}

interface Placer {
  passes: (n: NodeInfo) => boolean;
  less: (a: NodeInfo, b: NodeInfo) => boolean;
  place: (n: NodeInfo) => void;
  left: () => number;
}

/** Places up to `want` tasks on a branch, evening out the service's tasks between sub-branches; returns how many went. */
function onSubtree(want: number, tree: Tree, p: Placer): number {
  if (!tree.next) return onNodes(want, tree, p);
  const subs = [...tree.next.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([, t]) => t);
  let done = 0;
  const full = new Set<Tree>();
  let converging = true;
  while (done < want && full.size < subs.length && converging && p.left() > 0) {
    const open = subs.filter((s) => !full.has(s));
    // the even share: the open branches' tasks and the ones still to place, over the open branches
    const total = open.reduce((a, s) => a + s.tasks, 0) + want - done;
    const per = Math.floor(total / open.length);
    let extra = total % open.length;
    converging = false;
    for (const sub of open) {
      if (done >= want || p.left() === 0) break;
      if (sub.tasks < per || (sub.tasks === per && extra > 0)) {
        converging = true;
        const n = Math.min(per - sub.tasks + (extra > 0 ? 1 : 0), want - done);
        const got = onSubtree(n, sub, p);
        sub.tasks += got;
        done += got;
        if (got < n) full.add(sub);
        else if (extra > 0) extra--;
      }
    }
  }
  return done;
}

/** Places up to `want` tasks on a leaf's nodes: best node first, filling to an even count, then round. */
function onNodes(want: number, tree: Tree, p: Placer): number {
  const nodes = tree.nodes.filter(p.passes).sort((a, b) => (p.less(a, b) ? -1 : p.less(b, a) ? 1 : 0));
  if (!nodes.length) return 0;
  const gone = new Set<number>();
  let done = 0;
  let i = 0;
  while (done < want && p.left() > 0) {
    const cur = nodes[i % nodes.length];
    p.place(cur);
    done++;
    if (done === want || p.left() === 0) break;
    if (i + 1 < nodes.length) {
      if (p.less(nodes[i + 1], cur)) i++;
    } else i++;
    const start = i;
    while (gone.has(i % nodes.length) || !p.passes(nodes[i % nodes.length])) {
      gone.add(i % nodes.length);
      i++;
      if (i - start === nodes.length) return done;
    }
  }
  return done;
}
