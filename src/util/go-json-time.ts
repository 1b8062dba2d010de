// Timestamps as Go writes a time.Time (RFC3339Nano: RFC 3339 with the
// fraction's trailing zeros dropped), for JSON answers and log lines. The docker CLI decodes and re-encodes
// what it inspects, so a stored "…:24.120Z" comes out of `docker inspect`
// as "…:24.12Z": answering in Go's form keeps every client's output equal.

/** An ISO 8601 UTC time (as Date.toISOString gives) in Go's RFC3339Nano form; anything else unchanged. */
export function goJsonTime<T>(iso: T): T | string {
  if (typeof iso !== 'string') return iso;
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(iso);
  if (!m) return iso;
  return `${m[1]}${goFraction(m[2] ?? '')}Z`;
}

/** A fraction of a second as Go prints it: trailing zeros dropped, no point when nothing is left. */
export function goFraction(digits: string): string {
  const frac = digits.replace(/0+$/, '');
  return frac ? `.${frac}` : '';
}

let lastSec = -1n;
let lastBase = '';

/** Go's RFC3339Nano in UTC for a time in nanoseconds (log lines: the second's text is kept). */
export function rfc3339Nano(ns: bigint): string {
  const sec = ns / 1_000_000_000n;
  if (sec !== lastSec) {
    lastSec = sec;
    lastBase = new Date(Number(sec) * 1000).toISOString().slice(0, 19);
  }
  return `${lastBase}${goFraction(String(ns % 1_000_000_000n).padStart(9, '0'))}Z`;
}
