// Image reference helpers for messages and pulls (docker's "familiar" forms).
import { parseNormalized } from '../common/reference';

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

/** docker's client-side check before create/run (reference.ParseAnyReference): ids and digests pass, names must parse. */
export function checkAnyReference(s: string): void {
  if (/^[a-f0-9]{64}$/.test(s) || /^sha256:[a-f0-9]{64}$/.test(s)) return;
  parseNormalized(s);
}

/** A tag source or target as docker's client ImageTag checks it. */
export function checkTagReference(s: string, any: boolean): void {
  try {
    if (any) checkAnyReference(s);
    else parseNormalized(s);
  } catch (e) {
    throw new Error(`Error parsing reference: ${JSON.stringify(s)} is not a valid repository/tag: ${(e as Error).message}`);
  }
}
