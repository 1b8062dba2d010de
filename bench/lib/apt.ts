// Programs the harness needs, installed from Debian when missing (a fresh
// machine has none of them): non-interactive, bounded, and with the
// package's service kept from starting (policy-rc.d) where it has one.
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { quiet } from './proc';

const POLICY_RC = '/usr/sbin/policy-rc.d';

export function which(cmd: string): string | undefined {
  const p = quiet('sh', ['-c', `command -v ${cmd}`]).trim();
  return p || undefined;
}

/** Installs Debian package `pkg` when `cmd` is missing; throws if it is still missing after. */
export function ensureCommand(cmd: string, pkg: string, log: (s: string) => void): void {
  if (which(cmd)) return;
  log(`${cmd} not found: installing Debian ${pkg} (apt-get)`);
  // Without a policy-rc.d, a postinst would start the package's system-wide
  // service (docker.io's on /var/run/docker.sock, iperf3's server).
  const madePolicy = !fs.existsSync(POLICY_RC);
  if (madePolicy) fs.writeFileSync(POLICY_RC, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', pkg], {
      stdio: 'inherit',
      timeout: 600_000,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } finally {
    if (madePolicy) fs.rmSync(POLICY_RC, { force: true });
  }
  if (!which(cmd)) throw new Error(`${pkg} installed but ${cmd} is still missing`);
}
