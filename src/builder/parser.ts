// Dockerfile text → instruction nodes, following the rules of the Dockerfile
// frontend (moby/buildkit frontend/dockerfile/parser): parser directives at
// the top, comments only at the start of a line, line continuations with the
// escape character (comment and empty lines inside them dropped), flags
// (`--from=x`) before the arguments, JSON or shell form, and heredocs for
// RUN/COPY/ADD. No variable expansion happens here; instructions.ts does it.
import { BerthError } from '../util/errors';
import { jsonArray } from '../util/exec-form';

export class DockerfileParseError extends BerthError {
  constructor(readonly line: number, readonly detail: string) {
    super(`dockerfile parse error on line ${line}: ${detail}`, 400);
  }
}

export interface Heredoc {
  name: string;
  /** Body with a newline after each line (leading tabs stripped for `<<-`). */
  content: string;
  /** False when the name was quoted (`<<"EOF"`): no expansion of the body. */
  expand: boolean;
  /** `<<-`: leading tabs are stripped from the body and the terminator. */
  stripTabs: boolean;
}

export interface Node {
  /** Lower-case instruction name. */
  cmd: string;
  /** The instruction as written, continuations joined (history / cache key). */
  original: string;
  startLine: number;
  endLine: number;
  /** `--name=value` flags that precede the arguments. */
  flags: string[];
  /** The arguments after the flags, unprocessed. */
  rest: string;
  /** Parsed arguments (see parseArgs for each form). */
  args: string[];
  /** Arguments were a JSON array. */
  json: boolean;
  heredocs: Heredoc[];
  /** ONBUILD's instruction. */
  sub?: Node;
}

export interface ParsedDockerfile {
  escape: string;
  directives: Record<string, string>;
  nodes: Node[];
}

const KNOWN = new Set([
  'add', 'arg', 'cmd', 'copy', 'entrypoint', 'env', 'expose', 'from', 'healthcheck', 'label',
  'maintainer', 'onbuild', 'run', 'shell', 'stopsignal', 'user', 'volume', 'workdir',
]);
const HEREDOC_CMDS = new Set(['run', 'copy', 'add']);
const DIRECTIVE = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;

export function parseDockerfile(text: string): ParsedDockerfile {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const lines = text.split(/\r?\n/);
  const directives: Record<string, string> = {};
  let escape = '\\';
  let i = 0;
  // Directives: only at the very top, each at most once, up to the first other line.
  for (; i < lines.length; i++) {
    const m = DIRECTIVE.exec(lines[i]);
    if (!m) break;
    const key = m[1].toLowerCase();
    if (key in directives) throw new DockerfileParseError(i + 1, `only one ${key} parser directive can be used`);
    directives[key] = m[2];
    if (key === 'escape') {
      if (m[2] !== '\\' && m[2] !== '`') throw new DockerfileParseError(i + 1, `invalid escape token '${m[2]}' does not match ${'`'} or \\`);
      escape = m[2];
    }
  }
  const esc = escape.replace(/[\\`]/g, '\\$&');
  const contRe = new RegExp(`${esc}[ \\t]*$`);
  const isComment = (l: string) => /^\s*#/.test(l);
  const isEmpty = (l: string) => l.trim() === '';

  const nodes: Node[] = [];
  while (i < lines.length) {
    const first = lines[i];
    const startLine = i + 1;
    i++;
    if (isComment(first) || isEmpty(first)) continue;
    let line = first.replace(/^\s+/, '');
    let endLine = startLine;
    while (contRe.test(line)) {
      line = line.replace(contRe, '');
      // Pull the next meaningful line; comments and blank lines inside a continuation vanish.
      let more: string | undefined;
      while (i < lines.length) {
        const l = lines[i++];
        if (isComment(l) || isEmpty(l)) continue;
        more = l;
        endLine = i;
        break;
      }
      if (more === undefined) break;
      line += more;
    }
    line = line.replace(/\s+$/, '');
    const node = parseLine(line, startLine, endLine, escape);
    if (node.heredocs.length) {
      for (const h of node.heredocs) {
        const strip = h.stripTabs;
        let body = '';
        let closed = false;
        while (i < lines.length) {
          let l = lines[i++];
          if (strip) l = l.replace(/^\t+/, '');
          if (l === h.name) {
            closed = true;
            break;
          }
          body += l + '\n';
        }
        node.endLine = i;
        if (!closed) throw new DockerfileParseError(startLine, `unterminated heredoc ${h.name}`);
        h.content = body;
      }
    }
    nodes.push(node);
  }
  return { escape, directives, nodes };
}

function parseLine(line: string, startLine: number, endLine: number, escape: string): Node {
  const m = /^(\S+)\s*([\s\S]*)$/.exec(line)!;
  const cmd = m[1].toLowerCase();
  if (!KNOWN.has(cmd)) throw new DockerfileParseError(startLine, `unknown instruction: ${m[1]}`);
  const { flags, rest } = extractFlags(m[2]);
  const node: Node = { cmd, original: line, startLine, endLine, flags, rest, args: [], json: false, heredocs: [] };
  if (HEREDOC_CMDS.has(cmd) && !rest.trimStart().startsWith('[')) {
    for (const w of splitWords(rest, escape)) {
      const h = /^<<(-?)(["']?)([A-Za-z0-9_.-]+)\2$/.exec(w);
      if (h) node.heredocs.push({ name: h[3], content: '', expand: h[2] === '', stripTabs: h[1] === '-' });
    }
  }
  parseArgs(node, escape);
  return node;
}

/** Leading `--name[=value]` words; `--` alone ends them. */
function extractFlags(s: string): { flags: string[]; rest: string } {
  const flags: string[] = [];
  let rest = s;
  for (;;) {
    const m = /^(--\S*)\s*/.exec(rest);
    if (!m) break;
    rest = rest.slice(m[0].length);
    if (m[1] === '--') break;
    flags.push(m[1]);
  }
  return { flags, rest };
}

/** Split on whitespace outside quotes; quotes and escapes are kept as written. */
export function splitWords(s: string, escape: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote = '';
  for (let k = 0; k < s.length; k++) {
    const c = s[k];
    if (quote) {
      cur += c;
      if (c === escape && quote === '"' && k + 1 < s.length) cur += s[++k];
      else if (c === quote) quote = '';
      continue;
    }
    if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
      continue;
    }
    inWord = true;
    if (c === escape && k + 1 < s.length) {
      cur += c + s[++k];
      continue;
    }
    if (c === '"' || c === "'") quote = c;
    cur += c;
  }
  if (inWord) words.push(cur);
  return words;
}

function tryJson(rest: string): string[] | undefined {
  return jsonArray(rest.trim());
}

function parseArgs(node: Node, escape: string): void {
  const err = (msg: string) => new DockerfileParseError(node.startLine, msg);
  const rest = node.rest;
  switch (node.cmd) {
    case 'run':
    case 'cmd':
    case 'entrypoint':
    case 'shell': {
      const j = tryJson(rest);
      if (j) {
        node.json = true;
        node.args = j;
      } else {
        if (node.cmd === 'shell') throw err('SHELL requires the arguments to be in JSON form');
        node.args = rest === '' ? [] : [rest];
      }
      break;
    }
    case 'add':
    case 'copy':
    case 'volume': {
      const j = tryJson(rest);
      if (j) {
        node.json = true;
        node.args = j;
      } else node.args = rest.split(/\s+/).filter(Boolean);
      break;
    }
    case 'from':
    case 'expose':
      node.args = rest.split(/\s+/).filter(Boolean);
      break;
    case 'env':
    case 'label': {
      node.args = parseNameVal(node, escape);
      break;
    }
    case 'arg': {
      const words = splitWords(rest, escape);
      if (words.length === 0) throw err('ARG requires at least one argument');
      node.args = words;
      break;
    }
    case 'onbuild': {
      const sub = rest.trim();
      if (!sub) throw err('ONBUILD requires at least one argument');
      const inner = parseLine(sub, node.startLine, node.endLine, escape);
      if (['onbuild', 'from', 'maintainer'].includes(inner.cmd)) {
        throw err(`${inner.cmd.toUpperCase()} isn't allowed as an ONBUILD trigger`);
      }
      node.sub = inner;
      node.args = [sub];
      break;
    }
    case 'healthcheck': {
      const t = rest.trim();
      const m = /^(\S+)\s*([\s\S]*)$/.exec(t);
      if (!m) throw err('HEALTHCHECK requires an argument');
      const kind = m[1].toUpperCase();
      if (kind === 'NONE') {
        if (m[2]) throw err('HEALTHCHECK NONE takes no arguments');
        node.args = ['NONE'];
      } else if (kind === 'CMD') {
        const j = tryJson(m[2]);
        if (j) {
          node.json = true;
          node.args = ['CMD', ...j];
        } else node.args = ['CMD', m[2]];
      } else throw err(`Unknown type "${kind}" in HEALTHCHECK (try CMD)`);
      break;
    }
    default: // maintainer, stopsignal, user, workdir
      node.args = rest.trim() === '' ? [] : [rest.trim()];
  }
}

/** ENV/LABEL: `k=v k2="v 2"` or the legacy `KEY value with spaces`. Returns [k, v, k, v, ...]. */
function parseNameVal(node: Node, escape: string): string[] {
  const name = node.cmd.toUpperCase();
  const words = splitWords(node.rest, escape);
  if (words.length === 0) throw new DockerfileParseError(node.startLine, `${name} requires at least one argument`);
  if (!words[0].includes('=')) {
    const m = /^(\S+)\s+([\s\S]*)$/.exec(node.rest.trim());
    if (!m) throw new DockerfileParseError(node.startLine, `${name} must have two arguments`);
    return [m[1], m[2]];
  }
  const out: string[] = [];
  for (const w of words) {
    const eq = w.indexOf('=');
    if (eq <= 0) {
      throw new DockerfileParseError(node.startLine, `Syntax error - can't find = in "${w}". Must be of the form: name=value`);
    }
    out.push(w.slice(0, eq), w.slice(eq + 1));
  }
  return out;
}
