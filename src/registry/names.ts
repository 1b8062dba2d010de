// Grammar of the distribution spec: repository names, tags and digests.
// Everything that reaches the filesystem passes through these checks first,
// so a name can never climb out of the registry root.
import { RegistryError } from './errors';

const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function checkName(name: string): string {
  if (name.length > 255 || !NAME_RE.test(name)) {
    throw new RegistryError('NAME_INVALID', 'invalid repository name', { name });
  }
  return name;
}

export function isTag(ref: string): boolean {
  return TAG_RE.test(ref);
}

export function isDigest(ref: string): boolean {
  return DIGEST_RE.test(ref);
}

/** A digest the store can use, or DIGEST_INVALID (only sha256 is supported). */
export function checkDigest(d: string | null | undefined): string {
  if (!d || !DIGEST_RE.test(d)) {
    if (d && /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(d) && !d.startsWith('sha256:')) {
      throw new RegistryError('UNSUPPORTED', `unsupported digest algorithm: ${d}`, undefined, 400);
    }
    throw new RegistryError('DIGEST_INVALID', 'invalid digest', { digest: d ?? '' });
  }
  return d;
}

export function hexOf(digest: string): string {
  return digest.slice('sha256:'.length);
}
