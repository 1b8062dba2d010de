// `.dockerignore` rules as moby/patternmatcher applies them: one pattern per
// line, `#` comments, `!` re-includes, `**` spans directories, `*` and `?`
// stay within one path element, a leading `/` is dropped (patterns are always
// relative to the context root), and a pattern that matches a directory
// matches everything below it. The last matching pattern wins.
import path from 'node:path';

interface Pattern {
  text: string;
  exclusion: boolean;
  re: RegExp;
}

export class IgnoreMatcher {
  readonly patterns: Pattern[];
  readonly hasExclusions: boolean;

  constructor(lines: string[]) {
    this.patterns = [];
    for (let raw of lines) {
      raw = raw.trim();
      if (raw === '' || raw.startsWith('#')) continue;
      let exclusion = false;
      if (raw.startsWith('!')) {
        exclusion = true;
        raw = raw.slice(1).trim();
        if (raw === '') continue;
      }
      let p = path.posix.normalize(raw);
      if (p.length > 1 && p.startsWith('/')) p = p.slice(1);
      if (p.endsWith('/') && p.length > 1) p = p.slice(0, -1);
      this.patterns.push({ text: p, exclusion, re: compile(p) });
    }
    this.hasExclusions = this.patterns.some((p) => p.exclusion);
  }

  static parse(text: string): IgnoreMatcher {
    return new IgnoreMatcher(text.split(/\r?\n/));
  }

  /** True when the context-relative path (or one of its parent directories) is ignored. */
  matches(rel: string): boolean {
    rel = path.posix.normalize(rel).replace(/^\/+/, '');
    const parents: string[] = [];
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) parents.push(parts.slice(0, i).join('/'));
    let matched = false;
    for (const p of this.patterns) {
      if (p.exclusion !== matched) continue; // can only flip the current state
      let hit = p.re.test(rel);
      if (!hit) hit = parents.some((d) => p.re.test(d));
      if (hit) matched = !p.exclusion;
    }
    return matched;
  }
}

/** Pattern → anchored regular expression over `/`-separated relative paths. */
export function compile(p: string): RegExp {
  let re = '^';
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === '*') {
      if (p[i + 1] === '*') {
        i++;
        // `**/` matches zero or more whole directories; a trailing `**` anything.
        if (p[i + 1] === '/') i++;
        re += i + 1 >= p.length ? '.*' : '(.*/)?';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = p.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        let cls = p.slice(i + 1, end);
        if (cls.startsWith('^') || cls.startsWith('!')) cls = '^' + cls.slice(1);
        re += '[' + cls.replace(/\\/g, '\\\\') + ']';
        i = end;
      }
    } else if (c === '\\' && i + 1 < p.length) {
      i++;
      re += p[i].replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(re + '$');
}

/** Go's filepath.Match for one path (COPY/ADD source globs): `*`, `?`, `[..]` never cross `/`. */
export function globMatch(pattern: string, name: string): boolean {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) return false;
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith('^') || cls.startsWith('!')) cls = '^' + cls.slice(1);
      re += '[' + cls.replace(/\\/g, '\\\\') + ']';
      i = end;
    } else if (c === '\\' && i + 1 < pattern.length) {
      i++;
      re += pattern[i].replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(re + '$').test(name);
}

export function hasGlob(p: string): boolean {
  return /[*?[]/.test(p);
}
