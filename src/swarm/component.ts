// The seam swarm part 2 and 3 plug into: SwarmService runs membership,
// liveness and leadership; components (the orchestrator and scheduler on the
// leader, the dispatcher on every manager, the agent on every node, …) are
// told what this node is after every heartbeat tick and run their own loops.
// They may add authenticated routes to the control port for workers.
import type { ObjectStore } from './object-store';
import type { SwarmStore } from './store';
import type { ClientTls } from './control';
import type { ControlPool } from './control-pool';
import type { Role } from './types';

export interface SwarmContext {
  nodeId: string;
  clusterId: string;
  role: Role;
  /** True on the one manager holding the leader key. */
  leader: boolean;
  /** Managers only: the cluster store. */
  store?: SwarmStore;
  objects?: ObjectStore;
  /** addr:port of every manager's control port (workers call these). */
  managers: Array<{ NodeID: string; Addr: string }>;
  /** This node's certificate, for control calls to managers. */
  tls: ClientTls;
  /** Kept-alive connections for those calls (one pool per node, closed on leave and stop). */
  pool: ControlPool;
}

/** An authenticated control-port call from node `nodeId`; the answer is sent as JSON. */
export type ControlRoute = (nodeId: string, body: Record<string, unknown>) => Promise<unknown>;

export interface SwarmComponent {
  readonly name: string;
  /**
   * Called after every heartbeat tick with what this node is now, and with
   * undefined when it leaves the swarm or the daemon stops. Must return
   * quickly: long work goes on the component's own loop.
   */
  setContext(ctx: SwarmContext | undefined): void;
  /** Stops the component's loops (daemon shutdown); awaited with a bound. */
  stop(): Promise<void>;
  /** This node left the swarm (or was removed from it): undo what the membership made (after setContext(undefined)). */
  left?(): Promise<void>;
  /** Control-port routes (POST <path>) this component serves on managers. */
  controlRoutes?(): Record<string, ControlRoute>;
  /** Control-port routes served on every node, workers too (the route checks its caller). */
  nodeRoutes?(): Record<string, ControlRoute>;
}
