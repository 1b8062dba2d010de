// Timestamps as Go's encoding/json writes a time.Time (RFC 3339 with the
// fraction's trailing zeros dropped). The docker CLI decodes and re-encodes
// what it inspects, so a stored "…:24.120Z" comes out of `docker inspect`
// as "…:24.12Z": answering in Go's form keeps every client's output equal.

/** An ISO 8601 UTC time (as Date.toISOString gives) in Go's RFC3339Nano form; anything else unchanged. */
export function goJsonTime<T>(iso: T): T | string {
  if (typeof iso !== 'string') return iso;
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(iso);
  if (!m) return iso;
  const frac = (m[2] ?? '').replace(/0+$/, '');
  return `${m[1]}${frac ? '.' + frac : ''}Z`;
}
