// Image reference helpers for messages and pulls (docker's "familiar" forms).

/** Split "host:5000/repo/name:tag@sha256:..." into name, tag and digest. */
export function parseRef(ref: string): { name: string; tag?: string; digest?: string } {
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  return { name: rest, tag, digest };
}

/** "busybox" → "busybox:latest"; digests and tags kept. */
export function withDefaultTag(ref: string): string {
  const r = parseRef(ref);
  if (r.digest || r.tag) return ref;
  return `${ref}:latest`;
}

/** "docker.io/library/busybox" → "busybox"; "docker.io/x/y" → "x/y". */
export function familiarName(name: string): string {
  return name.replace(/^(docker\.io|index\.docker\.io)\//, '').replace(/^library\/(?=[^/]+$)/, '');
}
