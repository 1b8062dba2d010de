// The scheduler: which node each unassigned task goes to. A pure function,
// no I/O; the orchestrator (orchestrator.ts, leader only) calls it every loop
// with the tasks still in state new/pending and writes the answer back
// (nodeId + state assigned, or state pending with the message).
//
// CONTRACT (svc-core owns the input/output types, svc-update owns the body):
// - input.tasks: the tasks to place, each with its service's spec (for
//   TaskTemplate.Placement {Constraints, Preferences, MaxReplicas} and
//   TaskTemplate.Resources.Reservations).
// - input.nodes: every node record with `ready` (its liveness lease is alive)
//   and its availability (spec.Availability). Only ready + active nodes get
//   new tasks (pause: none; drain: none).
// - input.running: every non-terminal task that already has a nodeId (the
//   load each node carries), including the ones of other services.
// - output: task id → { nodeId } when placed, or { pending: message } when no
//   node fits (Docker's text, e.g. "no suitable node (1 node not available
//   for new tasks)"). Tasks placed in one call count for the next ones of the
//   same call (spread within a batch).
// This placeholder: first ready active node with the fewest tasks of the
// service, then the fewest tasks overall; no constraints.
import type { NodeRecord } from '../types';
import type { TaskRecord, Json } from '../objects';

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

export function schedule(input: ScheduleInput): Map<string, Placement> {
  const out = new Map<string, Placement>();
  const eligible = input.nodes.filter((n) => n.ready && n.availability === 'active');
  const total = new Map<string, number>();
  const perService = new Map<string, number>();
  const svcKey = (svc: string, node: string) => `${svc}/${node}`;
  for (const t of input.running) {
    total.set(t.nodeId, (total.get(t.nodeId) ?? 0) + 1);
    perService.set(svcKey(t.serviceId, t.nodeId), (perService.get(svcKey(t.serviceId, t.nodeId)) ?? 0) + 1);
  }
  for (const { task } of input.tasks) {
    if (!eligible.length) {
      const n = input.nodes.length;
      out.set(task.id, { pending: `no suitable node (${n} node${n === 1 ? '' : 's'} not available for new tasks)` });
      continue;
    }
    let best = eligible[0].node.id;
    let bestKey: [number, number] = [Infinity, Infinity];
    for (const n of eligible) {
      const k: [number, number] = [perService.get(svcKey(task.serviceId, n.node.id)) ?? 0, total.get(n.node.id) ?? 0];
      if (k[0] < bestKey[0] || (k[0] === bestKey[0] && k[1] < bestKey[1])) {
        best = n.node.id;
        bestKey = k;
      }
    }
    out.set(task.id, { nodeId: best });
    total.set(best, (total.get(best) ?? 0) + 1);
    perService.set(svcKey(task.serviceId, best), (perService.get(svcKey(task.serviceId, best)) ?? 0) + 1);
  }
  return out;
}
