// The `filters` query of list, prune and events requests, read as moby's
// filters.Args: a map of names to value sets, checked against the names an
// endpoint accepts, with Docker's label and boolean rules and error texts.
import { InvalidParameter } from '../util/errors';

/** The wire shape: filter name → values. */
export type FilterMap = Record<string, string[]>;

/** moby's filters.FromJSON: `{"k":["v"]}`, or the old `{"k":{"v":true}}`. */
export function parseFilterJson(raw: string | null | undefined): FilterMap {
  if (!raw) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new InvalidParameter(`invalid filter '${raw}'`);
  }
  const out: FilterMap = {};
  if (parsed && typeof parsed === 'object') {
    for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
      if (Array.isArray(v)) out[k] = v.map(String);
      else if (v && typeof v === 'object') out[k] = Object.entries(v).filter(([, on]) => on).map(([x]) => x);
      else throw new InvalidParameter(`invalid filter '${raw}'`);
    }
  }
  return out;
}

/** moby's invalidFilter text: `invalid filter 'name'` or `invalid filter 'name=[v1 v2]'`. */
export function invalidFilter(name: string, values?: string[]): InvalidParameter {
  return new InvalidParameter(`invalid filter '${name}${values ? `=[${values.join(' ')}]` : ''}'`);
}

export class Filters {
  constructor(readonly map: Readonly<FilterMap> = {}) {}

  /** Names present (even with no values). */
  keys(): string[] {
    return Object.keys(this.map);
  }

  contains(name: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.map, name);
  }

  get(name: string): string[] {
    return this.contains(name) ? [...this.map[name]] : [];
  }

  /** moby's Validate: every name must be one the endpoint accepts. */
  validate(accepted: readonly string[]): this {
    for (const k of this.keys()) if (!accepted.includes(k)) throw invalidFilter(k);
    return this;
  }

  /**
   * moby's MatchKVList: every `key` or `key=value` under `name` is among the
   * labels; true when `name` has no values.
   */
  matchKVList(name: string, labels: Readonly<Record<string, string>> | null | undefined): boolean {
    const want = this.get(name);
    if (want.length === 0) return true;
    const src = labels ?? {};
    return want.every((w) => {
      const i = w.indexOf('=');
      const key = i < 0 ? w : w.slice(0, i);
      if (!Object.prototype.hasOwnProperty.call(src, key)) return false;
      return i < 0 || src[key] === w.slice(i + 1);
    });
  }

  /** `label=` must all match and `label!=` must not all match, as moby's prune matchLabels. */
  matchLabels(labels: Readonly<Record<string, string>> | null | undefined): boolean {
    if (!this.matchKVList('label', labels)) return false;
    if (this.get('label!').length && this.matchKVList('label!', labels)) return false;
    return true;
  }

  /** moby's GetBoolOrDefault: "1"/"true" or "0"/"false"; none or both is an invalid filter. */
  bool(name: string, dflt: boolean): boolean {
    if (!this.contains(name)) return dflt;
    const vals = this.get(name);
    if (vals.length === 0) throw invalidFilter(name);
    const isFalse = vals.includes('0') || vals.includes('false');
    const isTrue = vals.includes('1') || vals.includes('true');
    if (isFalse === isTrue) throw invalidFilter(name, vals);
    return isTrue;
  }
}
