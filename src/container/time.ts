// since/until for logs: unix seconds with an optional fraction (what the
// docker CLI sends), RFC 3339, or a duration before now.
import { InvalidParameter } from '../util/errors';

export function parseTimestampArg(v: string, nowMs = Date.now()): bigint {
  const m = /^(\d+)(?:\.(\d{1,9}))?$/.exec(v);
  if (m) return BigInt(m[1]) * 1_000_000_000n + BigInt(((m[2] ?? '') + '000000000').slice(0, 9));
  const dur = /^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)$/.exec(v);
  if (dur) {
    const mult: Record<string, number> = { ns: 1e-6, us: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
    return BigInt(Math.round((nowMs - Number(dur[1]) * mult[dur[2]]) * 1e6));
  }
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new InvalidParameter(`failed to parse value ${v} as a timestamp`);
  return BigInt(t) * 1_000_000n;
}
