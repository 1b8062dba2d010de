// Word processing as the Dockerfile frontend does it (buildkit shell/lex):
// quotes are removed, the escape character escapes the next character,
// `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR:+word}`, `${VAR:?msg}` (and the
// forms without the colon) expand from the build's environment.
import { InvalidParameter } from '../util/errors';

export type Env = Map<string, string>;

export interface LexOptions {
  /** Leave quotes in the output (for parsing, not expansion). */
  rawQuotes?: boolean;
  /** Leave escapes in the output. */
  rawEscapes?: boolean;
  /** Leave unset variables as written (`$FOO`). */
  skipUnset?: boolean;
}

class Scanner {
  pos = 0;
  constructor(readonly s: string) {}
  peek(): string { return this.pos < this.s.length ? this.s[this.pos] : ''; }
  next(): string { return this.pos < this.s.length ? this.s[this.pos++] : ''; }
  eof(): boolean { return this.pos >= this.s.length; }
}

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;

export class Lexer {
  constructor(readonly escape = '\\', readonly opts: LexOptions = {}) {}

  /** One word: quotes processed and variables expanded; no splitting. */
  processWord(word: string, env: Env): string {
    return this.run(word, env, false)[0] ?? '';
  }

  /** Split on unquoted whitespace after expansion (like `FOO=$x` in a shell, without globbing). */
  processWords(word: string, env: Env): string[] {
    return this.run(word, env, true);
  }

  /**
   * Heredoc bodies expand like a shell heredoc: `$VAR` and `${...}` only;
   * quotes are ordinary characters; `\$` and `\\` are escapes.
   */
  processHeredoc(body: string, env: Env): string {
    const sc = new Scanner(body);
    let out = '';
    while (!sc.eof()) {
      const c = sc.peek();
      if (c === '$') out += this.dollar(sc, env);
      else if (c === '\\' && (body[sc.pos + 1] === '$' || body[sc.pos + 1] === '\\')) {
        sc.next();
        out += sc.next();
      } else out += sc.next();
    }
    return out;
  }

  private run(word: string, env: Env, split: boolean): string[] {
    const sc = new Scanner(word);
    const words: string[] = [];
    let cur = '';
    let inWord = false;
    const push = () => {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    };
    while (!sc.eof()) {
      const ch = sc.peek();
      if (split && /\s/.test(ch)) {
        sc.next();
        push();
        continue;
      }
      inWord = true;
      if (ch === "'") {
        cur += this.singleQuoted(sc);
      } else if (ch === '"') {
        cur += this.doubleQuoted(sc, env);
      } else if (ch === '$') {
        const v = this.dollar(sc, env);
        if (split) {
          // Unquoted expansion is split on whitespace as a shell would.
          const parts = v.split(/\s+/);
          for (let i = 0; i < parts.length; i++) {
            if (i > 0) {
              push();
              inWord = true;
            }
            cur += parts[i];
          }
        } else cur += v;
      } else if (ch === this.escape) {
        sc.next();
        if (sc.eof()) {
          cur += ch;
          break;
        }
        if (this.opts.rawEscapes) cur += ch;
        cur += sc.next();
      } else {
        cur += sc.next();
      }
    }
    push();
    if (!split && words.length === 0) words.push('');
    return words;
  }

  private singleQuoted(sc: Scanner): string {
    sc.next();
    let out = this.opts.rawQuotes ? "'" : '';
    for (;;) {
      if (sc.eof()) throw new InvalidParameter('unexpected end of statement while looking for matching single-quote');
      const c = sc.next();
      if (c === "'") break;
      out += c;
    }
    if (this.opts.rawQuotes) out += "'";
    return out;
  }

  private doubleQuoted(sc: Scanner, env: Env): string {
    sc.next();
    let out = this.opts.rawQuotes ? '"' : '';
    for (;;) {
      if (sc.eof()) throw new InvalidParameter('unexpected end of statement while looking for matching double-quote');
      const c = sc.peek();
      if (c === '"') {
        sc.next();
        break;
      }
      if (c === '$') {
        out += this.dollar(sc, env);
      } else if (c === this.escape) {
        sc.next();
        const n = sc.next();
        // Inside double quotes only `"`, `$` and the escape itself are escapable.
        if (n === '"' || n === '$' || n === this.escape) {
          if (this.opts.rawEscapes) out += c;
          out += n;
        } else out += c + n;
      } else out += sc.next();
    }
    if (this.opts.rawQuotes) out += '"';
    return out;
  }

  private lookup(name: string, env: Env): string | undefined {
    return env.get(name);
  }

  private dollar(sc: Scanner, env: Env): string {
    sc.next(); // $
    const c = sc.peek();
    if (c !== '{') {
      if (!NAME_START.test(c) && !/[0-9]/.test(c)) return '$';
      let name = '';
      while (!sc.eof() && NAME_CHAR.test(sc.peek())) name += sc.next();
      const v = this.lookup(name, env);
      if (v === undefined && this.opts.skipUnset) return '$' + name;
      return v ?? '';
    }
    sc.next(); // {
    let name = '';
    while (!sc.eof() && NAME_CHAR.test(sc.peek())) name += sc.next();
    if (name === '') throw new InvalidParameter(`bad substitution`);
    const v = this.lookup(name, env);
    let op = sc.next();
    if (op === '}') {
      if (v === undefined && this.opts.skipUnset) return '${' + name + '}';
      return v ?? '';
    }
    let colon = false;
    if (op === ':') {
      colon = true;
      op = sc.next();
    }
    if (op !== '-' && op !== '+' && op !== '?') {
      throw new InvalidParameter(`unsupported modifier (${op}) in substitution`);
    }
    const word = this.untilBrace(sc, env);
    const set = colon ? v !== undefined && v !== '' : v !== undefined;
    switch (op) {
      case '-':
        return set ? v! : word;
      case '+':
        return set ? word : '';
      default:
        if (!set) throw new InvalidParameter(`${name}: ${word || 'is not allowed to be unset'}`);
        return v!;
    }
  }

  /** The word of `${VAR:-word}` up to the closing brace, itself expanded. */
  private untilBrace(sc: Scanner, env: Env): string {
    let out = '';
    for (;;) {
      if (sc.eof()) throw new InvalidParameter('syntax error: missing \'}\'');
      const c = sc.peek();
      if (c === '}') {
        sc.next();
        return out;
      }
      if (c === '$') out += this.dollar(sc, env);
      else if (c === "'") out += this.singleQuoted(sc);
      else if (c === '"') out += this.doubleQuoted(sc, env);
      else if (c === this.escape) {
        sc.next();
        out += sc.next();
      } else out += sc.next();
    }
  }
}
