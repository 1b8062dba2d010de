// Kept-alive connections to other nodes' control ports. A worker heartbeats
// every HEARTBEAT_MS on a 3 s lease: a fresh TLS connection per heartbeat
// (a handshake on both sides, a fork-free but CPU-heavy path) is what lapses
// first on a loaded machine. One keep-alive https.Agent per (address, lane)
// keeps one socket per lane open, and its TLS session for a reconnect:
//   beat  — heartbeats: never queued behind anything else;
//   poll  — the agent's long poll for its assignment (held up to ~10 s);
//   sync  — the overlay's long poll for the swarm's networks and peers (the same);
//   call  — everything else (status reports, overlay allocations), a few sockets.
// The node's certificate is part of each pooled socket's key (https.Agent
// names sockets by ca/cert/key), so a new identity never reuses an old socket.
// close() destroys every socket (leave, daemon stop); the pool makes agents
// again on demand unless closed for good; a call on a destroyed agent is
// not retried through it.
import https from 'node:https';

export type ControlLane = 'beat' | 'poll' | 'sync' | 'call';

const MAX_SOCKETS: Record<ControlLane, number> = { beat: 1, poll: 1, sync: 1, call: 4 };

/**
 * A free socket is closed after this long idle: under the control server's
 * keep-alive timeout (Node's 5 s), so the client closes first and a request
 * seldom meets a socket the server is closing.
 */
export const IDLE_MS = 4_000;

type Connect = (...args: unknown[]) => unknown;

/** A pooled agent; once destroyed (the pool closed) it opens no socket again: calls queued on it fail. */
export class ControlAgent extends https.Agent {
  closed = false;

  constructor(opts: https.AgentOptions) {
    super(opts);
    // the agent connects for a queued call when one of its sockets closes: not after destroy()
    const self = this as unknown as { createConnection: Connect };
    const connect = self.createConnection.bind(this);
    self.createConnection = (...args: unknown[]) => {
      if (!this.closed) return connect(...args);
      const cb = args[args.length - 1];
      if (typeof cb === 'function') process.nextTick(cb, new Error('the swarm connection pool was closed'));
      return undefined;
    };
  }

  override destroy(): void {
    this.closed = true;
    super.destroy();
  }
}

export class ControlPool {
  private readonly agents = new Map<string, ControlAgent>();
  private final = false;

  /** The agent for calls of `lane` to `addr`; undefined once closed for good (a call then opens its own connection). */
  agent(addr: string, lane: ControlLane): ControlAgent | undefined {
    if (this.final) return undefined;
    const key = `${lane} ${addr}`;
    let a = this.agents.get(key);
    if (!a) {
      a = new ControlAgent({ keepAlive: true, maxSockets: MAX_SOCKETS[lane], maxFreeSockets: MAX_SOCKETS[lane], timeout: IDLE_MS, scheduling: 'lifo' });
      this.agents.set(key, a);
    }
    return a;
  }

  /** Open sockets (in use and free) over every agent: for tests and logs. */
  sockets(): number {
    let n = 0;
    for (const a of this.agents.values()) {
      for (const list of Object.values(a.sockets)) n += list?.length ?? 0;
      for (const list of Object.values(a.freeSockets)) n += list?.length ?? 0;
    }
    return n;
  }

  /** Destroys every agent's sockets (calls in flight fail); `forGood`: no agents afterwards. */
  close(forGood = false): void {
    if (forGood) this.final = true;
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
  }
}

