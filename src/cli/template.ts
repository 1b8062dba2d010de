// A subset of Go's text/template, enough for docker's --format strings:
// fields (.A.B), variables ($, $x := ...), pipelines (|), if/else if/else,
// range (with $i, $v :=), with, parenthesised pipelines, string/number/bool
// literals, trim markers ({{- -}}), and docker's functions (json, join,
// split, lower, upper, title, pad, truncate, println) plus Go's builtins
// (index, len, printf, print, eq/ne/lt/le/gt/ge, and/or/not, slice).

export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

type Expr =
  | { k: 'field'; base: Expr | null; names: string[] } // base null: dot
  | { k: 'var'; name: string; names: string[] }
  | { k: 'lit'; v: unknown }
  | { k: 'ident'; name: string }
  | { k: 'pipe'; p: Pipeline; names: string[] };
interface Command { args: Expr[] }
interface Pipeline { decl: string[]; assign: boolean; cmds: Command[] }

type Node =
  | { k: 'text'; s: string }
  | { k: 'action'; p: Pipeline }
  | { k: 'if'; p: Pipeline; then: Node[]; else: Node[] }
  | { k: 'with'; p: Pipeline; then: Node[]; else: Node[] }
  | { k: 'range'; p: Pipeline; body: Node[]; else: Node[] };

// ---------- lexing of one action ----------

type Tok = { t: 'field' | 'var' | 'str' | 'num' | 'ident' | 'pipe' | 'lp' | 'rp' | 'decl' | 'assign' | 'comma'; v: string };

function lexAction(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  const isIdent = (c: string) => /[A-Za-z0-9_]/.test(c);
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) { i++; continue; }
    if (c === '|') { out.push({ t: 'pipe', v: c }); i++; continue; }
    if (c === '(') { out.push({ t: 'lp', v: c }); i++; continue; }
    if (c === ')') {
      out.push({ t: 'rp', v: c });
      i++;
      // A field chain right after ")" applies to the parenthesised value.
      continue;
    }
    if (c === ',') { out.push({ t: 'comma', v: c }); i++; continue; }
    if (c === ':' && src[i + 1] === '=') { out.push({ t: 'decl', v: ':=' }); i += 2; continue; }
    if (c === '=') { out.push({ t: 'assign', v: '=' }); i++; continue; }
    if (c === '"') {
      let j = i + 1;
      let s = '';
      while (j < src.length && src[j] !== '"') {
        if (src[j] === '\\' && j + 1 < src.length) {
          const e = src[j + 1];
          s += e === 'n' ? '\n' : e === 't' ? '\t' : e === 'r' ? '\r' : e === '0' ? '\0' : e;
          j += 2;
        } else s += src[j++];
      }
      if (j >= src.length) throw new TemplateError('unterminated quoted string');
      out.push({ t: 'str', v: s });
      i = j + 1;
      continue;
    }
    if (c === '`') {
      const j = src.indexOf('`', i + 1);
      if (j < 0) throw new TemplateError('unterminated raw quoted string');
      out.push({ t: 'str', v: src.slice(i + 1, j) });
      i = j + 1;
      continue;
    }
    if (c === "'") {
      const j = src.indexOf("'", i + 1);
      if (j < 0) throw new TemplateError('unterminated character constant');
      out.push({ t: 'num', v: String(src.codePointAt(i + 1)) });
      i = j + 1;
      continue;
    }
    if (c === '.' || c === '$') {
      let j = i + 1;
      while (j < src.length && (isIdent(src[j]) || (src[j] === '.' && j + 1 < src.length && isIdent(src[j + 1])))) j++;
      out.push({ t: c === '.' ? 'field' : 'var', v: src.slice(i, j) });
      i = j;
      continue;
    }
    if (/[-+0-9]/.test(c)) {
      const m = /^[-+]?(0x[0-9a-fA-F]+|\d+(\.\d+)?([eE][-+]?\d+)?)/.exec(src.slice(i));
      if (!m) throw new TemplateError(`bad number syntax: "${src.slice(i, i + 5)}"`);
      out.push({ t: 'num', v: m[0] });
      i += m[0].length;
      continue;
    }
    if (isIdent(c)) {
      let j = i;
      while (j < src.length && isIdent(src[j])) j++;
      out.push({ t: 'ident', v: src.slice(i, j) });
      i = j;
      continue;
    }
    throw new TemplateError(`unexpected "${c}" in command`);
  }
  return out;
}

/** A template function: Go templates call it with whatever values they hold. */
export type TemplateFunc = (...args: any[]) => unknown;

class ActionParser {
  private i = 0;
  constructor(private toks: Tok[], private funcs: Record<string, TemplateFunc>) {}
  done(): boolean { return this.i >= this.toks.length; }
  peek(): Tok | undefined { return this.toks[this.i]; }

  pipeline(): Pipeline {
    const p: Pipeline = { decl: [], assign: false, cmds: [] };
    // $x := / $i, $e :=
    const save = this.i;
    const vars: string[] = [];
    while (this.peek()?.t === 'var' && !this.peek()!.v.slice(1).includes('.')) {
      vars.push(this.toks[this.i++].v);
      if (this.peek()?.t === 'comma') { this.i++; continue; }
      break;
    }
    const nt = this.peek();
    if (vars.length && nt && (nt.t === 'decl' || nt.t === 'assign')) {
      this.i++;
      p.decl = vars;
      p.assign = nt.t === 'assign';
    } else this.i = save;
    for (;;) {
      const cmd: Command = { args: [] };
      while (!this.done() && this.peek()!.t !== 'pipe' && this.peek()!.t !== 'rp') cmd.args.push(this.operand());
      if (!cmd.args.length) throw new TemplateError('missing value for command');
      p.cmds.push(cmd);
      if (this.peek()?.t === 'pipe') { this.i++; continue; }
      break;
    }
    return p;
  }

  private operand(): Expr {
    const t = this.toks[this.i++];
    switch (t.t) {
      case 'field':
        return { k: 'field', base: null, names: t.v === '.' ? [] : t.v.slice(1).split('.') };
      case 'var': {
        const parts = t.v.split('.');
        return { k: 'var', name: parts[0], names: parts.slice(1) };
      }
      case 'str': return { k: 'lit', v: t.v };
      case 'num': return { k: 'lit', v: Number(t.v) };
      case 'ident':
        if (t.v === 'true' || t.v === 'false') return { k: 'lit', v: t.v === 'true' };
        if (t.v === 'nil') return { k: 'lit', v: null };
        if (!(t.v in this.funcs)) throw new TemplateError(`function "${t.v}" not defined`);
        return { k: 'ident', name: t.v };
      case 'lp': {
        const p = this.pipeline();
        if (this.toks[this.i++]?.t !== 'rp') throw new TemplateError('unclosed left paren');
        let names: string[] = [];
        const nx = this.peek();
        if (nx?.t === 'field' && nx.v !== '.') { names = nx.v.slice(1).split('.'); this.i++; }
        return { k: 'pipe', p, names };
      }
      default:
        throw new TemplateError(`unexpected "${t.v}" in operand`);
    }
  }
}

// ---------- template structure ----------

function parseTemplate(src: string, funcs: Record<string, TemplateFunc>): Node[] {
  // Split into text and actions, honouring {{- and -}} trim markers and comments.
  const pieces: Array<{ text?: string; action?: string }> = [];
  let pos = 0;
  while (pos < src.length) {
    const open = src.indexOf('{{', pos);
    if (open < 0) { pieces.push({ text: src.slice(pos) }); break; }
    let text = src.slice(pos, open);
    let inner = open + 2;
    if (src[inner] === '-' && /\s/.test(src[inner + 1] ?? '')) { text = text.replace(/\s+$/, ''); inner += 1; }
    let close: number;
    if (src.startsWith('/*', src.slice(inner).search(/\S/) + inner)) {
      const end = src.indexOf('*/', inner);
      if (end < 0) throw new TemplateError('unclosed comment');
      close = src.indexOf('}}', end);
    } else close = findClose(src, inner);
    if (close < 0) throw new TemplateError('unclosed action');
    let body = src.slice(inner, close);
    let after = close + 2;
    let trimAfter = false;
    if (/\s-$/.test(body)) { body = body.slice(0, -1); trimAfter = true; }
    if (text) pieces.push({ text });
    if (!/^\s*\/\*/.test(body)) pieces.push({ action: body.trim() });
    if (trimAfter) { const m = /^\s*/.exec(src.slice(after)); after += m ? m[0].length : 0; }
    pos = after;
  }
  let idx = 0;
  const parseList = (stop: string[]): { nodes: Node[]; ended: string; rest?: string } => {
    const nodes: Node[] = [];
    while (idx < pieces.length) {
      const pc = pieces[idx++];
      if (pc.text !== undefined) { nodes.push({ k: 'text', s: pc.text }); continue; }
      const a = pc.action!;
      const kw = /^(if|range|with|else|end|define|template|block)\b\s*(.*)$/s.exec(a);
      if (kw) {
        const [, word, rest] = kw;
        if (word === 'end' || word === 'else') {
          if (!stop.includes(word)) throw new TemplateError(`unexpected {{${word}}}`);
          return { nodes, ended: word, rest };
        }
        if (word === 'if' || word === 'with') {
          const p = parsePipe(rest);
          const body = parseList(['else', 'end']);
          let els: Node[] = [];
          if (body.ended === 'else') els = parseElse(word, body.rest ?? '');
          nodes.push({ k: word, p, then: body.nodes, else: els } as Node);
          continue;
        }
        if (word === 'range') {
          const p = parsePipe(rest);
          const body = parseList(['else', 'end']);
          let els: Node[] = [];
          if (body.ended === 'else') {
            const e = parseList(['end']);
            els = e.nodes;
          }
          nodes.push({ k: 'range', p, body: body.nodes, else: els });
          continue;
        }
        throw new TemplateError(`{{${word}}} is not supported`);
      }
      nodes.push({ k: 'action', p: parsePipe(a) });
    }
    if (stop.length) throw new TemplateError('unexpected EOF');
    return { nodes, ended: 'eof' };
  };
  const parseElse = (word: 'if' | 'with', rest: string): Node[] => {
    const m = /^(if|with)\s+(.*)$/s.exec(rest.trim());
    if (m) {
      // {{else if x}} chains: nest a new if that consumes the shared {{end}}.
      const p = parsePipe(m[2]);
      const body = parseList(['else', 'end']);
      let els: Node[] = [];
      if (body.ended === 'else') els = parseElse(m[1] as 'if' | 'with', body.rest ?? '');
      return [{ k: m[1], p, then: body.nodes, else: els } as Node];
    }
    void word;
    return parseList(['end']).nodes;
  };
  const parsePipe = (s: string): Pipeline => {
    const ap = new ActionParser(lexAction(s), funcs);
    const p = ap.pipeline();
    if (!ap.done()) throw new TemplateError(`unexpected "${ap.peek()!.v}" in command`);
    return p;
  };
  return parseList([]).nodes;
}

function findClose(src: string, from: number): number {
  // Skip "}}" inside quoted strings.
  let i = from;
  while (i < src.length) {
    const c = src[i];
    if (c === '"') {
      i++;
      while (i < src.length && src[i] !== '"') i += src[i] === '\\' ? 2 : 1;
      i++;
      continue;
    }
    if (c === '`') { i = src.indexOf('`', i + 1) + 1; if (i === 0) return -1; continue; }
    if (c === '}' && src[i + 1] === '}') return i;
    i++;
  }
  return -1;
}

// ---------- values ----------

/** Go's %v rendering of a decoded JSON value. */
export function goString(v: unknown): string {
  if (v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return goNumber(v);
  if (typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return '[' + v.map(goString).join(' ') + ']';
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (typeof (o as { toString?: unknown }).toString === 'function' && o.toString !== Object.prototype.toString) return String(o);
    return 'map[' + Object.keys(o).sort().map((k) => `${k}:${goString(o[k])}`).join(' ') + ']';
  }
  return String(v);
}

function goNumber(n: number): string {
  if (Number.isInteger(n)) return String(n);
  return String(n);
}

function truthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v as object).length > 0 || (v as object).constructor !== Object;
  return true;
}

/** JSON as docker's `json` function writes it (no HTML escaping; objects keep their key order). */
export function toJson(v: unknown): string {
  if (v === undefined) return 'null';
  // bigints (event timeNano) are written as exact integers, as Go's int64
  const big = '\u0000bigint:';
  const s = (JSON.stringify(v, (_k, x) => (x === undefined ? null : typeof x === 'bigint' ? `${big}${x}` : x)) ?? 'null')
    .replace(/"\\u0000bigint:(-?\d+)"/g, '$1');
  // docker's list contexts marshal themselves with json.Marshal, which escapes HTML characters.
  if (v && typeof (v as { toJSON?: unknown }).toJSON === 'function') return s.replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
  return s;
}

/** Go's fmt.Sprintf for the verbs templates use: %s %v %d %q %f %x %t %%, with width/flags. */
export function sprintf(format: string, ...args: unknown[]): string {
  let ai = 0;
  return format.replace(/%([-+# 0]*)(\d+|\*)?(?:\.(\d+))?([svdqfxXtTeEgc%])/g, (_m, flags: string, width: string | undefined, prec: string | undefined, verb: string) => {
    if (verb === '%') return '%';
    if (ai >= args.length) return `%!${verb}(MISSING)`;
    const a = args[ai++];
    let s: string;
    switch (verb) {
      case 'd': s = typeof a === 'number' ? String(Math.trunc(a)) : `%!d(${typeof a}=${goString(a)})`; break;
      case 'f': s = typeof a === 'number' ? a.toFixed(prec !== undefined ? Number(prec) : 6) : `%!f(${typeof a}=${goString(a)})`; break;
      case 'e': case 'E': s = typeof a === 'number' ? a.toExponential(prec !== undefined ? Number(prec) : 6) : goString(a); break;
      case 'g': s = typeof a === 'number' ? goNumber(a) : goString(a); break;
      case 'q': s = JSON.stringify(goString(a)); break;
      case 'x': case 'X': {
        s = typeof a === 'number' ? a.toString(16) : Buffer.from(goString(a)).toString('hex');
        if (verb === 'X') s = s.toUpperCase();
        break;
      }
      case 't': s = String(!!a); break;
      case 'c': s = typeof a === 'number' ? String.fromCodePoint(a) : goString(a); break;
      case 'T': s = a === null ? '<nil>' : Array.isArray(a) ? '[]interface {}' : typeof a === 'number' ? (Number.isInteger(a) ? 'int' : 'float64') : typeof a === 'object' ? 'map[string]interface {}' : typeof a; break;
      default:
        s = goString(a);
        if (prec !== undefined && verb === 's') s = [...s].slice(0, Number(prec)).join('');
    }
    if (width) {
      const w = Number(width);
      const len = [...s].length;
      if (len < w) s = flags.includes('-') ? s + ' '.repeat(w - len) : (flags.includes('0') && /[dfx]/.test(verb) ? '0' : ' ').repeat(w - len) + s;
    }
    return s;
  });
}

function cmpValues(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  throw new TemplateError('incompatible types for comparison');
}

function titleCase(s: string): string {
  return s.replace(/(^|[^\p{L}\p{N}_'])(\p{L})/gu, (_m, p: string, c: string) => p + c.toUpperCase());
}

export const baseFuncs: Record<string, TemplateFunc> = {
  json: (v: unknown) => toJson(v),
  split: (s: string, sep: string) => String(s).split(sep),
  join: (a: unknown, sep: string) => (Array.isArray(a) ? a.map(goString).join(sep) : goString(a)),
  title: (s: string) => titleCase(String(s)),
  lower: (s: string) => String(s).toLowerCase(),
  upper: (s: string) => String(s).toUpperCase(),
  pad: (s: string, l: number, r: number) => ' '.repeat(l) + goString(s) + ' '.repeat(r),
  truncate: (s: string, n: number) => { const cs = [...goString(s)]; return cs.length > n ? cs.slice(0, n).join('') : cs.join(''); },
  println: (...a: unknown[]) => a.map(goString).join(' ') + '\n',
  print: (...a: unknown[]) => a.map((x, i) => (i > 0 && typeof x !== 'string' && typeof a[i - 1] !== 'string' ? ' ' : '') + goString(x)).join(''),
  printf: (f: string, ...a: unknown[]) => sprintf(f, ...a),
  len: (v: unknown) => {
    if (typeof v === 'string') return Buffer.byteLength(v);
    if (Array.isArray(v)) return v.length;
    if (v && typeof v === 'object') return Object.keys(v).length;
    throw new TemplateError(`error calling len: len of type ${typeof v}`);
  },
  index: (v: unknown, ...keys: unknown[]) => {
    let cur: any = v;
    for (const k of keys) {
      if (cur === null || cur === undefined) return undefined;
      if (Array.isArray(cur)) {
        if (typeof k !== 'number' || k < 0 || k >= cur.length) throw new TemplateError(`error calling index: index out of range: ${goString(k)}`);
        cur = cur[k];
      } else cur = Object.prototype.hasOwnProperty.call(cur, String(k)) ? cur[String(k)] : undefined;
    }
    return cur;
  },
  slice: (v: unknown, ...ix: number[]) => {
    if (typeof v === 'string' || Array.isArray(v)) return (v as string).slice(ix[0] ?? 0, ix[1]);
    throw new TemplateError('error calling slice: can\'t slice item');
  },
  eq: (a: unknown, ...bs: unknown[]) => bs.some((b) => a === b),
  ne: (a: unknown, b: unknown) => a !== b,
  lt: (a: unknown, b: unknown) => cmpValues(a, b) < 0,
  le: (a: unknown, b: unknown) => cmpValues(a, b) <= 0,
  gt: (a: unknown, b: unknown) => cmpValues(a, b) > 0,
  ge: (a: unknown, b: unknown) => cmpValues(a, b) >= 0,
  not: (a: unknown) => !truthy(a),
  // and/or are evaluated lazily in exec; these serve piped use.
  and: (...a: unknown[]) => { for (const x of a) if (!truthy(x)) return x; return a[a.length - 1]; },
  or: (...a: unknown[]) => { for (const x of a) if (truthy(x)) return x; return a[a.length - 1]; },
  html: (s: unknown) => goString(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&#34;').replace(/'/g, '&#39;'),
  urlquery: (...a: unknown[]) => encodeURIComponent(a.map(goString).join('')),
};

// ---------- execution ----------

class Exec {
  private vars: Array<[string, unknown]> = [];
  constructor(private funcs: Record<string, TemplateFunc>, root: unknown) {
    this.vars.push(['$', root]);
  }

  private lookupVar(name: string): unknown {
    for (let i = this.vars.length - 1; i >= 0; i--) if (this.vars[i][0] === name) return this.vars[i][1];
    throw new TemplateError(`undefined variable: ${name}`);
  }

  private field(v: unknown, names: string[], args: unknown[] | null, expr: string): unknown {
    let cur: any = v;
    for (let n = 0; n < names.length; n++) {
      const name = names[n];
      const last = n === names.length - 1;
      if (cur === null || cur === undefined) {
        if (cur === null) throw new TemplateError(`nil pointer evaluating interface {}.${name}`);
        return undefined;
      }
      if (typeof cur !== 'object') throw new TemplateError(`can't evaluate field ${name} in type ${typeof cur === 'number' ? 'float64' : typeof cur}`);
      let x: any;
      if (name in cur) x = cur[name];
      else if (cur.constructor !== Object && !Array.isArray(cur)) throw new TemplateError(`can't evaluate field ${name} in type ${cur.constructor?.name ?? 'object'}`);
      else x = undefined;
      if (typeof x === 'function') x = x.apply(cur, last && args ? args : []);
      else if (last && args && args.length) throw new TemplateError(`${expr} is not a method but has arguments`);
      cur = x;
    }
    return cur;
  }

  private evalExpr(e: Expr, dot: unknown, args: unknown[] | null): unknown {
    switch (e.k) {
      case 'lit': return e.v;
      case 'field': return this.field(dot, e.names, args, '.' + e.names.join('.'));
      case 'var': return this.field(this.lookupVar(e.name), e.names, args, e.name);
      case 'pipe': return this.field(this.pipeline(e.p, dot), e.names, args, '(...)');
      case 'ident': {
        const f = this.funcs[e.name];
        return f(...(args ?? []));
      }
    }
  }

  pipeline(p: Pipeline, dot: unknown): unknown {
    let value: unknown;
    let first = true;
    for (const c of p.cmds) {
      const head = c.args[0];
      const rest = c.args.slice(1);
      if (head.k === 'ident' && (head.name === 'and' || head.name === 'or') && first) {
        // Short-circuit like Go.
        let last: unknown;
        for (const a of rest) {
          last = this.evalExpr(a, dot, null);
          if (head.name === 'and' ? !truthy(last) : truthy(last)) break;
        }
        value = last;
      } else {
        const args = rest.map((a) => this.evalExpr(a, dot, null));
        if (!first) args.push(value);
        if (head.k === 'ident' || head.k === 'field' || head.k === 'var' || head.k === 'pipe') {
          if (head.k !== 'ident' && args.length === 0) value = this.evalExpr(head, dot, null);
          else value = this.evalExpr(head, dot, args);
        } else {
          if (args.length) throw new TemplateError(`can't give argument to non-function ${goString(head.v)}`);
          value = head.v;
        }
      }
      first = false;
    }
    if (p.decl.length === 1) {
      if (p.assign) this.setVar(p.decl[0], value);
      else this.vars.push([p.decl[0], value]);
    }
    return value;
  }

  private setVar(name: string, v: unknown): void {
    for (let i = this.vars.length - 1; i >= 0; i--) if (this.vars[i][0] === name) { this.vars[i][1] = v; return; }
    throw new TemplateError(`undefined variable: ${name}`);
  }

  run(nodes: Node[], dot: unknown, out: string[]): void {
    const mark = this.vars.length;
    for (const n of nodes) {
      switch (n.k) {
        case 'text': out.push(n.s); break;
        case 'action': {
          const v = this.pipeline(n.p, dot);
          if (n.p.decl.length === 0) out.push(goString(v));
          break;
        }
        case 'if': {
          const m = this.vars.length;
          const v = this.pipeline(n.p, dot);
          this.run(truthy(v) ? n.then : n.else, dot, out);
          this.vars.length = m;
          break;
        }
        case 'with': {
          const m = this.vars.length;
          const v = this.pipeline({ ...n.p, decl: [] }, dot);
          if (n.p.decl.length === 1) this.vars.push([n.p.decl[0], v]);
          if (truthy(v)) this.run(n.then, v, out);
          else this.run(n.else, dot, out);
          this.vars.length = m;
          break;
        }
        case 'range': {
          const m = this.vars.length;
          const v = this.pipeline({ ...n.p, decl: [] }, dot);
          let entries: Array<[unknown, unknown]> = [];
          if (Array.isArray(v)) entries = v.map((x, i) => [i, x]);
          else if (v && typeof v === 'object') entries = Object.keys(v).sort().map((k) => [k, (v as any)[k]]);
          else if (typeof v === 'number') entries = Array.from({ length: v }, (_x, i) => [i, i]);
          else if (v !== null && v !== undefined) throw new TemplateError(`range can't iterate over ${goString(v)}`);
          if (!entries.length) this.run(n.else, dot, out);
          for (const [k, x] of entries) {
            const im = this.vars.length;
            if (n.p.decl.length === 1) this.vars.push([n.p.decl[0], x]);
            else if (n.p.decl.length === 2) this.vars.push([n.p.decl[0], k], [n.p.decl[1], x]);
            this.run(n.body, x, out);
            this.vars.length = im;
          }
          this.vars.length = m;
          break;
        }
      }
    }
    this.vars.length = mark;
  }
}

/**
 * A template that is only text and `{{.Field}}` actions (every default table
 * of the CLI) as its pieces: a row whose fields are all strings is joined
 * directly — what the general executor prints for them — and any other row
 * goes through the executor. `ps` with 1,000 containers spent most of its
 * formatting in the executor.
 */
function plainFields(nodes: Node[]): Array<string | { field: string }> | undefined {
  const out: Array<string | { field: string }> = [];
  for (const n of nodes) {
    if (n.k === 'text') out.push(n.s);
    else if (n.k === 'action' && n.p.decl.length === 0 && n.p.cmds.length === 1 && n.p.cmds[0].args.length === 1) {
      const e = n.p.cmds[0].args[0];
      if (e.k !== 'field' || e.base !== null || e.names.length !== 1) return undefined;
      out.push({ field: e.names[0] });
    } else return undefined;
  }
  return out;
}

/**
 * A plain template cut at its tabs: per column, the text and fields that
 * make its cell. Undefined when a text piece has a newline (a row that is
 * not one table line).
 */
function columnsOf(plain: Array<string | { field: string }>): Array<Array<string | { field: string }>> | undefined {
  const cols: Array<Array<string | { field: string }>> = [[]];
  for (const p of plain) {
    if (typeof p !== 'string') { cols[cols.length - 1].push(p); continue; }
    if (p.includes('\n')) return undefined;
    const parts = p.split('\t');
    parts.forEach((t, i) => {
      if (i > 0) cols.push([]);
      if (t) cols[cols.length - 1].push(t);
    });
  }
  return cols;
}

export class Template {
  private nodes: Node[];
  private funcs: Record<string, TemplateFunc>;
  private plain?: Array<string | { field: string }>;
  private columns?: Array<Array<string | { field: string }>>;

  constructor(readonly source: string, extraFuncs: Record<string, TemplateFunc> = {}) {
    this.funcs = { ...baseFuncs, ...extraFuncs };
    try {
      this.nodes = parseTemplate(source, this.funcs);
    } catch (e) {
      throw new TemplateError(`template parsing error: template: :1: ${(e as Error).message}`);
    }
    this.plain = plainFields(this.nodes);
    if (this.plain) this.columns = columnsOf(this.plain);
  }

  /**
   * A table line's cells for `data`, split at tabs as the tabwriter would
   * split execute()'s text — or undefined where that text is needed (not a
   * plain template, a field that is not a string, a value with a tab or a
   * newline in it). Spares a table of 1,000 rows joining each row and the
   * tabwriter cutting it up again.
   */
  cells(data: unknown): string[] | undefined {
    const cols = this.columns;
    if (!cols || data === null || typeof data !== 'object' || data instanceof Map) return undefined;
    const out: string[] = new Array(cols.length);
    for (let i = 0; i < cols.length; i++) {
      const col = cols[i];
      let s = '';
      for (let j = 0; j < col.length; j++) {
        const p = col[j];
        if (typeof p === 'string') { s += p; continue; }
        const v = (data as Record<string, unknown>)[p.field];
        if (typeof v !== 'string' || v.includes('\t') || v.includes('\n')) return undefined;
        s += v;
      }
      out[i] = s;
    }
    return out;
  }

  execute(data: unknown): string {
    const plain = this.plain;
    if (plain && data !== null && typeof data === 'object' && !(data instanceof Map)) {
      // An indexed loop, no `in`: this runs cold in a fresh CLI, once per
      // field and row, and each saved bytecode counts at 1,000 rows.
      let s = '';
      for (let i = 0; i < plain.length; i++) {
        const p = plain[i];
        if (typeof p === 'string') {
          s += p;
          continue;
        }
        // a field read as the executor reads it (the prototype too); only a
        // string is printed as is: a missing field or any other value goes
        // to the executor, which says what it says for them
        const v = (data as Record<string, unknown>)[p.field];
        if (typeof v !== 'string') return this.run(data);
        s += v;
      }
      return s;
    }
    return this.run(data);
  }

  private run(data: unknown): string {
    const out: string[] = [];
    try {
      new Exec(this.funcs, data).run(this.nodes, data, out);
    } catch (e) {
      throw new TemplateError(`template: :1: executing "" ${(e as Error).message}`);
    }
    return out.join('');
  }
}

/** Parse and run in one go. */
export function renderTemplate(source: string, data: unknown): string {
  return new Template(source).execute(data);
}
