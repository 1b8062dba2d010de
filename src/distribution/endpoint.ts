// Where a registry named in an image reference is reached: Docker Hub's
// API host for docker.io, HTTPS by default, and HTTP allowed (after HTTPS
// without verification fails) for loopback and --insecure-registry entries.
import net from 'node:net';

export interface Endpoint {
  /** The registry as named in references (`docker.io`, `localhost:5000`). */
  name: string;
  /** Base URLs to try in order (no trailing slash). */
  bases: string[];
  /** Skip TLS verification (insecure registries). */
  insecureTls: boolean;
}

export const DOCKER_HUB = 'docker.io';
const HUB_API = 'https://registry-1.docker.io';
/** What clients send as serveraddress for Docker Hub. */
export const HUB_AUTH_KEY = 'https://index.docker.io/v1/';

function hostOnly(name: string): string {
  if (name.startsWith('[')) return name.slice(1, name.indexOf(']'));
  const i = name.lastIndexOf(':');
  return i > 0 && !name.slice(0, i).includes(':') ? name.slice(0, i) : name;
}

function inCidr(ip: string, cidr: string): boolean {
  const [base, bitsRaw] = cidr.split('/');
  const bits = Number(bitsRaw);
  if (!net.isIPv4(ip) || !net.isIPv4(base) || !Number.isInteger(bits)) return false;
  const toInt = (a: string) => a.split('.').reduce((n, o) => (n << 8) + Number(o), 0) >>> 0;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (toInt(ip) & mask) === (toInt(base) & mask);
}

export function isInsecure(name: string, insecureRegistries: string[]): boolean {
  const host = hostOnly(name);
  if (host === 'localhost' || host === '::1' || (net.isIPv4(host) && host.startsWith('127.'))) return true;
  for (const e of insecureRegistries) {
    const entry = e.replace(/^https?:\/\//, '').replace(/\/+$/, '');
    if (entry === name || entry === host) return true;
    if (entry.includes('/') && inCidr(host, entry)) return true;
  }
  return false;
}

/** Registry name from what a client sent as serveraddress (`https://index.docker.io/v1/`, `localhost:5000`). */
export function registryFromServerAddress(addr: string | undefined): string {
  if (!addr) return DOCKER_HUB;
  let s = addr.trim().replace(/^https?:\/\//, '');
  s = s.split('/')[0];
  if (s === 'index.docker.io' || s === 'registry-1.docker.io' || s === 'docker.io' || s === '') return DOCKER_HUB;
  return s;
}

export function resolveEndpoint(name: string, insecureRegistries: string[]): Endpoint {
  if (name === DOCKER_HUB) return { name, bases: [HUB_API], insecureTls: false };
  if (isInsecure(name, insecureRegistries)) {
    return { name, bases: [`https://${name}`, `http://${name}`], insecureTls: true };
  }
  return { name, bases: [`https://${name}`], insecureTls: false };
}
