// Port publishing: parsing of PortBindings/-P into concrete bindings, and a
// userland proxy (as docker-proxy) that listens on the host address: it holds
// the port (a taken port fails with Docker's error at start) and serves the
// traffic the kernel path cannot, a container reaching a published port of
// its own bridge. Everything else, loopback included, is DNATed by the
// iptables rules the service writes, so ports answer while berthd is down.
import net from 'node:net';
import dgram from 'node:dgram';
import { Conflict, InvalidParameter, SystemError } from '../util/errors';

export interface PortBinding {
  proto: 'tcp' | 'udp' | 'sctp';
  containerPort: number;
  hostIp: string;
  hostPort: number;
}

interface Wanted {
  proto: 'tcp' | 'udp' | 'sctp';
  containerPort: number;
  hostIp: string;
  /** [lo, hi]; [0, 0] means any free port. */
  range: [number, number];
}

export function parsePortKey(key: string): { port: number; proto: 'tcp' | 'udp' | 'sctp' } {
  const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/.exec(key);
  if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535) throw new InvalidParameter(`invalid port specification: "${key}"`);
  return { port: Number(m[1]), proto: (m[2] ?? 'tcp') as 'tcp' | 'udp' | 'sctp' };
}

function parseHostPort(s: string | undefined): [number, number] {
  if (!s) return [0, 0];
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (!m) throw new InvalidParameter(`invalid port specification: "${s}"`);
  const lo = Number(m[1]);
  const hi = m[2] ? Number(m[2]) : lo;
  if (lo < 1 || hi > 65535 || hi < lo) throw new InvalidParameter(`invalid port specification: "${s}"`);
  return [lo, hi];
}

/** The bindings a container asks for (validated at create, allocated at start). */
export function wantedBindings(
  portBindings: Record<string, Array<{ HostIp?: string; HostPort?: string }> | null>,
  publishAll: boolean,
  exposed: string[],
): Wanted[] {
  const out: Wanted[] = [];
  const seen = new Set<string>();
  for (const [key, list] of Object.entries(portBindings ?? {})) {
    const { port, proto } = parsePortKey(key);
    seen.add(`${port}/${proto}`);
    for (const b of list ?? [{}]) {
      const hostIp = b.HostIp ?? '';
      if (hostIp && net.isIP(hostIp) === 0) throw new InvalidParameter(`invalid IP address: ${hostIp}`);
      if (net.isIP(hostIp) === 6) continue; // IPv6 bindings are not supported; Docker skips them without IPv6 too
      out.push({ proto, containerPort: port, hostIp, range: parseHostPort(b.HostPort) });
    }
  }
  if (publishAll) {
    for (const key of exposed) {
      const { port, proto } = parsePortKey(key);
      if (seen.has(`${port}/${proto}`)) continue;
      out.push({ proto, containerPort: port, hostIp: '', range: [0, 0] });
    }
  }
  return out;
}

interface Listener {
  close(): void;
}

/** Live proxies, per container. */
export class PortProxies {
  private readonly byContainer = new Map<string, Array<{ b: PortBinding; l: Listener }>>();

  /** Allocates and starts every wanted binding; on any failure stops what it started and throws. */
  async publish(containerId: string, containerName: string, endpointId: string, wanted: Wanted[], target: string): Promise<PortBinding[]> {
    const started: Array<{ b: PortBinding; l: Listener }> = [];
    try {
      for (const w of wanted) {
        const bindIp = w.hostIp || '0.0.0.0';
        if (w.proto === 'sctp') throw new InvalidParameter('sctp ports are not supported');
        if (w.range[0] === 0 || w.range[0] !== w.range[1]) {
          const [lo, hi] = w.range[0] === 0 ? [32768, 60999] : w.range;
          let got: { b: PortBinding; l: Listener } | undefined;
          const start = lo + Math.floor(Math.random() * (hi - lo + 1));
          for (let i = 0; i <= hi - lo && !got; i++) {
            const port = lo + ((start - lo + i) % (hi - lo + 1));
            if (this.taken(bindIp, port, w.proto)) continue;
            try {
              const b: PortBinding = { proto: w.proto, containerPort: w.containerPort, hostIp: bindIp, hostPort: port };
              got = { b, l: await listen(b, target) };
            } catch {
              /* busy: try the next one */
            }
          }
          if (!got) throw new SystemError(`driver failed programming external connectivity on endpoint ${containerName} (${endpointId}): Bind for ${bindIp}:${w.range[0] ? w.range.join('-') : 0} failed: no available ports`);
          started.push(got);
        } else {
          const port = w.range[0];
          if (this.taken(bindIp, port, w.proto) || started.some((s) => s.b.hostPort === port && s.b.proto === w.proto && ipClash(s.b.hostIp, bindIp))) {
            throw new Conflict(`driver failed programming external connectivity on endpoint ${containerName} (${endpointId}): Bind for ${bindIp}:${port} failed: port is already allocated`);
          }
          const b: PortBinding = { proto: w.proto, containerPort: w.containerPort, hostIp: bindIp, hostPort: port };
          try {
            started.push({ b, l: await listen(b, target) });
          } catch {
            throw new SystemError(`driver failed programming external connectivity on endpoint ${containerName} (${endpointId}): Error starting userland proxy: listen ${w.proto}4 ${bindIp}:${port}: bind: address already in use`);
          }
        }
        this.byContainer.set(containerId, started);
      }
    } catch (e) {
      for (const s of started) s.l.close();
      this.byContainer.delete(containerId);
      throw e;
    }
    this.byContainer.set(containerId, started);
    return started.map((s) => s.b);
  }

  /** Restarts proxies for bindings that were already allocated (daemon restart with running containers). */
  async restore(containerId: string, bindings: PortBinding[], target: string): Promise<void> {
    const started: Array<{ b: PortBinding; l: Listener }> = [];
    for (const b of bindings) {
      try {
        started.push({ b, l: await listen(b, target) });
      } catch {
        /* the port was taken meanwhile; DNAT still serves non-local traffic */
      }
    }
    this.byContainer.set(containerId, started);
  }

  unpublish(containerId: string): void {
    for (const s of this.byContainer.get(containerId) ?? []) s.l.close();
    this.byContainer.delete(containerId);
  }

  closeAll(): void {
    for (const id of [...this.byContainer.keys()]) this.unpublish(id);
  }

  private taken(ip: string, port: number, proto: string): boolean {
    for (const list of this.byContainer.values()) {
      for (const s of list) if (s.b.hostPort === port && s.b.proto === proto && ipClash(s.b.hostIp, ip)) return true;
    }
    return false;
  }
}

function ipClash(a: string, b: string): boolean {
  return a === b || a === '0.0.0.0' || b === '0.0.0.0';
}

function listen(b: PortBinding, target: string): Promise<Listener> {
  return b.proto === 'udp' ? listenUdp(b, target) : listenTcp(b, target);
}

function listenTcp(b: PortBinding, target: string): Promise<Listener> {
  return new Promise((resolve, reject) => {
    const conns = new Set<net.Socket>();
    // Half-open on both legs: a client that shuts down its sending side still gets the answer.
    const server = net.createServer({ allowHalfOpen: true }, (client) => {
      const upstream = net.connect({ host: target, port: b.containerPort, allowHalfOpen: true });
      conns.add(client);
      conns.add(upstream);
      const done = () => {
        client.destroy();
        upstream.destroy();
        conns.delete(client);
        conns.delete(upstream);
      };
      client.on('error', done).on('close', done);
      upstream.on('error', done).on('close', done);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    server.once('error', reject);
    server.listen({ host: b.hostIp, port: b.hostPort, exclusive: true }, () => {
      server.off('error', reject);
      server.on('error', () => {});
      resolve({
        close: () => {
          server.close();
          for (const c of conns) c.destroy();
        },
      });
    });
  });
}

function listenUdp(b: PortBinding, target: string): Promise<Listener> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket({ type: 'udp4' });
    // One upstream socket per client, so replies find their way back; idle ones expire.
    const flows = new Map<string, { s: dgram.Socket; t: NodeJS.Timeout }>();
    sock.on('message', (msg, rinfo) => {
      const key = `${rinfo.address}:${rinfo.port}`;
      let f = flows.get(key);
      if (!f) {
        const s = dgram.createSocket('udp4');
        s.on('message', (reply) => sock.send(reply, rinfo.port, rinfo.address));
        s.on('error', () => {});
        f = { s, t: setTimeout(() => {}, 0) };
        flows.set(key, f);
      }
      clearTimeout(f.t);
      const flow = f;
      f.t = setTimeout(() => {
        flow.s.close();
        flows.delete(key);
      }, 90_000);
      f.s.send(msg, b.containerPort, target);
    });
    sock.once('error', reject);
    sock.bind({ address: b.hostIp, port: b.hostPort, exclusive: true }, () => {
      sock.off('error', reject);
      sock.on('error', () => {});
      resolve({
        close: () => {
          for (const f of flows.values()) {
            clearTimeout(f.t);
            f.s.close();
          }
          flows.clear();
          sock.close();
        },
      });
    });
  });
}
