// The rolling updater and rollback (svc-update owns the body of this file).
//
// CONTRACT: the orchestrator (orchestrator.ts, leader only) calls runUpdates
// once per loop (~250 ms), after its own reconciliation, with fresh lists.
// - The orchestrator never replaces a task only because its spec differs from
//   the service's current spec.TaskTemplate (or ForceUpdate changed): that is
//   this function's job. Replacements the orchestrator makes itself (restart
//   policy, node down, drain, scale up) carry the service's CURRENT
//   TaskTemplate; tasks it leaves alone keep their own spec.
// - To replace a task: in one objects.batch, set the old task's desiredState
//   to 'shutdown' (CAS on its index) and create the new task (same serviceId
//   and slot — global: same nodeId, slot 0 — status new, desiredState running,
//   nodeId '' for replicated). The orchestrator then schedules it. For
//   start-first order create the new one first and shut the old one down
//   when the new one is running.
// - It owns service.updateStatus (updating/paused/completed/rollback_*) and
//   the rollback (spec ← previousSpec) on failure-action rollback; the API's
//   explicit `update?rollback=previous` is done by the service API (svc-core)
//   and looks like any other spec change to this function.
// - Must return within a bounded time (one pass, no long sleeps): keep
//   per-service progress (delay timers, monitor windows) in module state or
//   in updateStatus, and act on the next call.
// - Errors are logged by the caller; an 'update out of sequence' just means
//   retry next loop.
import type { ObjectStore } from '../object-store';
import type { Versioned, NodeRecord } from '../types';
import type { ServiceRecord, TaskRecord } from '../objects';

export interface UpdaterNode {
  node: NodeRecord;
  ready: boolean;
}

export async function runUpdates(objects: ObjectStore, services: Array<Versioned<ServiceRecord>>, tasks: Array<Versioned<TaskRecord>>, nodes: UpdaterNode[]): Promise<void> {
  // placeholder: no rolling update yet (svc-update replaces this body)
  void objects; void services; void tasks; void nodes;
  await Promise.resolve();
}
