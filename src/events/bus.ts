// Events as Docker's /events stream shows them. A bounded ring buffer keeps
// recent history for `since` queries; subscribers get new events live.
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

const HISTORY = 1024;

export class EventBus {
  private readonly history: EngineEvent[] = [];
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
    this.history.push(ev);
    if (this.history.length > HISTORY) this.history.shift();
    this.emitter.emit('event', ev);
    return ev;
  }

  /** Events recorded at or after `sinceNano`. */
  since(sinceNano: number): EngineEvent[] {
    return this.history.filter((e) => e.timeNano >= sinceNano);
  }

  subscribe(fn: (ev: EngineEvent) => void): () => void {
    this.emitter.on('event', fn);
    return () => this.emitter.off('event', fn);
  }
}
