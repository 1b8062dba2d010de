// Signal names and numbers as Docker accepts them (`KILL`, `SIGKILL`, `9`).
import os from 'node:os';
import { InvalidParameter } from '../util/errors';

const SIGNALS = os.constants.signals as Record<string, number>;

export function parseSignal(raw: string): number {
  const s = String(raw).trim();
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (n < 1 || n > 64) throw new InvalidParameter(`Invalid signal: ${raw}`);
    return n;
  }
  const up = s.toUpperCase();
  const name = up.startsWith('SIG') ? up : `SIG${up}`;
  const rt = /^SIGRTMIN(?:\+(\d+))?$/.exec(name) ?? /^SIGRTMAX(?:-(\d+))?$/.exec(name);
  if (rt) return name.startsWith('SIGRTMIN') ? 34 + Number(rt[1] ?? 0) : 64 - Number(rt[1] ?? 0);
  const n = SIGNALS[name];
  if (n === undefined) throw new InvalidParameter(`Invalid signal: ${raw}`);
  return n;
}
