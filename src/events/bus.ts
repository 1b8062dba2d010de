// Events as Docker's /events stream shows them. A bounded ring buffer keeps
// recent history for `since` queries (8,192 events: dockerd keeps 256, and
// a fleet of 1,000 containers makes 2,000+ just starting); subscribers get
// new events live.
import { EventEmitter } from 'node:events';

export interface EngineEvent {
  Type: string; // container | image | volume | network | daemon | plugin | node | service | secret | config
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local' | 'swarm';
  time: number; // seconds
  timeNano: number;
  // Legacy fields docker still sends for containers and images.
  status?: string;
  id?: string;
  from?: string;
}

const HISTORY = 8192;

export class EventBus {
  /** The last HISTORY events; once full, `next` is the oldest (and where the next one goes). */
  private readonly history: EngineEvent[] = [];
  private next = 0;
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  publish(type: string, action: string, id: string, attributes: Record<string, string> = {}, scope: 'local' | 'swarm' = 'local'): EngineEvent {
    const nowNs = BigInt(Date.now()) * 1_000_000n + process.hrtime.bigint() % 1_000_000n;
    const ev: EngineEvent = {
      Type: type,
      Action: action,
      Actor: { ID: id, Attributes: attributes },
      scope,
      time: Number(nowNs / 1_000_000_000n),
      timeNano: Number(nowNs),
    };
    if (type === 'container' || type === 'image') {
      ev.status = action;
      ev.id = id;
      if (type === 'container' && attributes.image) ev.from = attributes.image;
    }
    if (this.history.length < HISTORY) this.history.push(ev);
    else {
      this.history[this.next] = ev;
      this.next = (this.next + 1) % HISTORY;
    }
    this.emitter.emit('event', ev);
    return ev;
  }

  /** Events recorded at or after `sinceNano`. */
  since(sinceNano: number): EngineEvent[] {
    // oldest first, from `next` round the ring, without copying it
    const h = this.history;
    const out: EngineEvent[] = [];
    for (let i = 0; i < h.length; i++) {
      const e = h[(this.next + i) % h.length];
      if (e.timeNano >= sinceNano) out.push(e);
    }
    return out;
  }

  subscribe(fn: (ev: EngineEvent) => void): () => void {
    this.emitter.on('event', fn);
    return () => this.emitter.off('event', fn);
  }
}
