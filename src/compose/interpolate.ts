// Variable substitution in Compose files, as compose-go's template package:
// `$V ${V} ${V:-d} ${V-d} ${V:?e} ${V?e} ${V:+a} ${V+a}`, defaults and
// alternates may nest further substitutions, `$$` is a literal `$`.
// A `$` not followed by a name or `{` stays as it is.
import { ComposeError } from './errors';

export type Lookup = (name: string) => string | undefined;

const NAME_START = /[_a-zA-Z]/;
const NAME_CHAR = /[_a-zA-Z0-9]/;

export class InvalidTemplate extends Error {}
export class MissingRequired extends Error {}

/** Substitute one string. `onUnset` is told about variables that default to blank. */
export function substitute(template: string, lookup: Lookup, onUnset?: (name: string) => void): string {
  let out = '';
  let i = 0;
  while (i < template.length) {
    const c = template[i];
    if (c !== '$') { out += c; i++; continue; }
    const n = template[i + 1];
    if (n === '$') { out += '$'; i += 2; continue; }
    if (n !== undefined && NAME_START.test(n)) {
      let j = i + 1;
      while (j < template.length && NAME_CHAR.test(template[j])) j++;
      const name = template.slice(i + 1, j);
      const v = lookup(name);
      if (v === undefined) onUnset?.(name);
      out += v ?? '';
      i = j;
      continue;
    }
    if (n === '{') {
      const end = matchingBrace(template, i + 2);
      if (end < 0) throw new InvalidTemplate(template);
      out += braced(template.slice(i + 2, end), template, lookup, onUnset);
      i = end + 1;
      continue;
    }
    out += c;
    i++;
  }
  return out;
}

/** Index of the `}` closing a `${` whose body starts at `from`, nested `${...}` skipped. */
function matchingBrace(s: string, from: number): number {
  let depth = 1;
  for (let i = from; i < s.length; i++) {
    if (s[i] === '$' && s[i + 1] === '$') { i++; continue; }
    if (s[i] === '$' && s[i + 1] === '{') { depth++; i++; continue; }
    if (s[i] === '}' && --depth === 0) return i;
  }
  return -1;
}

function braced(body: string, whole: string, lookup: Lookup, onUnset?: (name: string) => void): string {
  let j = 0;
  if (!body.length || !NAME_START.test(body[0])) throw new InvalidTemplate(whole);
  while (j < body.length && NAME_CHAR.test(body[j])) j++;
  const name = body.slice(0, j);
  const rest = body.slice(j);
  const value = lookup(name);
  if (rest === '') {
    if (value === undefined) onUnset?.(name);
    return value ?? '';
  }
  const m = /^(:?)([-?+])/.exec(rest);
  if (!m) throw new InvalidTemplate(whole);
  const colon = m[1] === ':';
  const op = m[2];
  const arg = rest.slice(m[0].length);
  // `:` also treats an empty value as unset
  const set = colon ? value !== undefined && value !== '' : value !== undefined;
  switch (op) {
    case '-':
      return set ? value! : substitute(arg, lookup, onUnset);
    case '+':
      return set ? substitute(arg, lookup, onUnset) : '';
    default: {
      if (set) return value!;
      const msg = substitute(arg, lookup, onUnset);
      throw new MissingRequired(`required variable ${name} is missing a value${msg ? `: ${msg}` : ''}`);
    }
  }
}

/**
 * Interpolate every string scalar of a parsed document (keys are left alone),
 * naming the path in errors as compose-go does.
 */
export function interpolateTree(node: unknown, lookup: Lookup, onUnset: (name: string) => void, path: string[] = []): unknown {
  if (typeof node === 'string') {
    try {
      return substitute(node, lookup, onUnset);
    } catch (e) {
      if (e instanceof InvalidTemplate) throw new ComposeError(`invalid interpolation format for ${path.join('.')}.\nYou may need to escape any $ with another $.\n${node}`);
      if (e instanceof MissingRequired) throw new ComposeError(`error while interpolating ${path.join('.')}: ${e.message}`);
      throw e;
    }
  }
  if (Array.isArray(node)) return node.map((v, i) => interpolateTree(v, lookup, onUnset, [...path, `[${i}]`]));
  if (node && typeof node === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) out[k] = interpolateTree(v, lookup, onUnset, [...path, k]);
    return out;
  }
  return node;
}
