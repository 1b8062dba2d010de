// What the swarm agent needs of this engine, and nothing more: the image,
// distribution and container services reached through a narrow seam that
// src/daemon/swarm-engine.ts implements (src/swarm never imports them).

/** A container of this engine as the agent sees it. */
export interface EngineContainer {
  id: string;
  name: string;
  labels: Record<string, string>;
  running: boolean;
  /** created, running, exited, dead, removing, … */
  status: string;
  exitCode: number;
  pid: number;
  /** The runtime's error of a start that failed ('' otherwise). */
  error: string;
  /** Its healthcheck's status while it has one (starting, healthy, unhealthy). */
  health?: string;
}

/** A container lifecycle event (die, destroy, start, `health_status: <s>`, …) of a container carrying `labels`. */
export interface EngineEvent {
  id: string;
  action: string;
  labels: Record<string, string>;
  exitCode?: number;
}

/** One piece of a container's log (a line, with its newline when whole). */
export interface EngineLogLine {
  stream: 'stdout' | 'stderr';
  /** Nanoseconds since the epoch, as a decimal string. */
  timeNs: string;
  /** base64 */
  data: string;
}

export interface AgentEngine {
  /** The image is present locally under `ref` (name[:tag][@digest] or id). */
  hasImage(ref: string): boolean;
  /** Pulls `ref` through the distribution service; throws the registry's error. */
  pullImage(ref: string): Promise<void>;
  /** Creates a container (Docker's create body); returns its id. */
  create(name: string, body: Record<string, unknown>): Promise<string>;
  start(id: string): Promise<void>;
  /** Stop signal, then SIGKILL after `timeoutSec`; a stopped container is fine. */
  stop(id: string, timeoutSec: number): Promise<void>;
  /** Force removal (with anonymous volumes); a missing container is fine. */
  remove(id: string): Promise<void>;
  /** This engine's containers that carry `label`. */
  containersWithLabel(label: string): EngineContainer[];
  container(id: string): EngineContainer | undefined;
  /** Container events; returns the unsubscribe function. */
  onContainerEvent(fn: (ev: EngineEvent) => void): () => void;
  /** What a container logged (its log driver's files), from `sinceNs`, the last `tail` lines. */
  readLogs(id: string, o: { sinceNs?: bigint; untilNs?: bigint; tail?: number; stdout: boolean; stderr: boolean }): Promise<EngineLogLine[]>;
  /** A directory under the exec root (tmpfs, never the data root) for secrets and configs of tasks. */
  readonly runDir: string;
}
