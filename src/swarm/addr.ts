// Swarm addresses: --listen-addr (where the control port listens),
// --advertise-addr (what other nodes dial), and the etcd ports that follow
// from the control port (2377 → client 2379 on loopback, peers 2380).
import os from 'node:os';
import net from 'node:net';
import { SwarmError } from './errors';

export const DEFAULT_PORT = 2377;

export function etcdPorts(controlPort: number): { client: number; peer: number } {
  return { client: controlPort + 2, peer: controlPort + 3 };
}

/** `addr[:port]`, `:port`, `iface[:port]` → host (an IP) and port. */
function split(spec: string): { host: string; port?: number } {
  const m = /^(.*?)(?::(\d+))?$/.exec(spec.trim().replace(/^tcp:\/\//, ''))!;
  const port = m[2] !== undefined ? Number(m[2]) : undefined;
  if (port !== undefined && (port < 1 || port > 65532)) throw new SwarmError(400, `invalid port in address ${spec}`);
  return { host: m[1], port };
}

function ifaceAddr(name: string): string | undefined {
  const a = os.networkInterfaces()[name];
  if (!a) return undefined;
  const v4 = a.filter((x) => x.family === 'IPv4');
  if (v4.length === 0) throw new SwarmError(400, `interface ${name} has no usable IPv4 address`);
  if (v4.length > 1) throw new SwarmError(400, `interface ${name} has more than one IPv4 address (${v4.map((x) => x.address).join(' and ')})`);
  return v4[0].address;
}

export function resolveListen(spec: string | undefined): { host: string; port: number } {
  const s = split(spec || `0.0.0.0:${DEFAULT_PORT}`);
  const port = s.port ?? DEFAULT_PORT;
  if (!s.host) return { host: '0.0.0.0', port };
  if (net.isIPv4(s.host)) return { host: s.host, port };
  const ip = ifaceAddr(s.host);
  if (!ip) throw new SwarmError(400, `failed to parse listen address ${spec}: ${s.host} is neither an IPv4 address nor an interface`);
  return { host: ip, port };
}

/**
 * The address other nodes reach this one at: given (IP or interface), else
 * the listen IP, else the address this host used to reach the manager
 * (join), else the only IPv4 address outside loopback and our bridges.
 */
export function resolveAdvertise(spec: string | undefined, listen: { host: string; port: number }, ignore: (iface: string) => boolean, seen?: string): { ip: string; port: number } {
  if (spec) {
    const s = split(spec);
    const port = s.port ?? listen.port;
    if (net.isIPv4(s.host)) {
      if (s.host === '0.0.0.0') throw new SwarmError(400, 'advertise address must be a non-zero IP address');
      return { ip: s.host, port };
    }
    const ip = ifaceAddr(s.host);
    if (!ip) throw new SwarmError(400, `failed to parse advertise address ${spec}: ${s.host} is neither an IPv4 address nor an interface`);
    return { ip, port };
  }
  if (listen.host !== '0.0.0.0') return { ip: listen.host, port: listen.port };
  if (seen && net.isIPv4(seen)) return { ip: seen, port: listen.port };
  const found: Array<{ ip: string; iface: string }> = [];
  for (const [iface, addrs] of Object.entries(os.networkInterfaces())) {
    if (ignore(iface)) continue;
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) found.push({ ip: a.address, iface });
  }
  if (found.length === 0) throw new SwarmError(400, "could not find the system's IP address - specify one with --advertise-addr");
  if (found.length > 1) {
    throw new SwarmError(400, `could not choose an IP address to advertise since this system has multiple addresses on different interfaces (${found[0].ip} on ${found[0].iface} and ${found[1].ip} on ${found[1].iface}) - specify one with --advertise-addr`);
  }
  return { ip: found[0].ip, port: listen.port };
}
