// Platform selection in manifest lists / OCI indexes: the host's by default,
// or what `--platform os/arch[/variant]` asked for.
import { InvalidParameter } from '../util/errors';
import type { Descriptor, Platform } from './manifest';

export function hostPlatform(): Platform {
  const arch = ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' } as Record<string, string>)[process.arch] ?? process.arch;
  const p: Platform = { os: 'linux', architecture: arch };
  if (arch === 'arm64') p.variant = 'v8';
  if (arch === 'arm') p.variant = 'v7';
  return p;
}

export function parsePlatform(s: string | undefined): Platform | undefined {
  if (!s) return undefined;
  const parts = s.toLowerCase().split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((x) => !x)) {
    throw new InvalidParameter(`"${s}": unknown operating system or architecture: invalid argument`);
  }
  let arch = parts[1];
  let variant = parts[2];
  if (arch === 'x86_64' || arch === 'x86-64') arch = 'amd64';
  if (arch === 'aarch64') arch = 'arm64';
  if (arch === 'arm64' && !variant) variant = 'v8';
  return { os: parts[0], architecture: arch, ...(variant ? { variant } : {}) };
}

export function platformString(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

function norm(p: Platform): Platform {
  let variant = p.variant;
  if (p.architecture === 'arm64' && !variant) variant = 'v8';
  return { os: p.os, architecture: p.architecture, variant };
}

export function matches(want: Platform, have: Platform | undefined): boolean {
  if (!have) return false;
  const w = norm(want);
  const h = norm(have);
  if (w.os !== h.os || w.architecture !== h.architecture) return false;
  return !w.variant || !h.variant || w.variant === h.variant;
}

/** The index entry for `want`, preferring an exact variant match. */
export function selectManifest(entries: Descriptor[], want: Platform): Descriptor | undefined {
  const cands = entries.filter((d) => matches(want, d.platform));
  const exact = cands.find((d) => norm(d.platform!).variant === norm(want).variant);
  return exact ?? cands[0];
}
