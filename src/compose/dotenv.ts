// `.env` / `--env-file` / `env_file:` files as compose-go's dotenv reads them:
// `KEY=VALUE`, optional `export `, `#` comments, single quotes literal,
// double quotes with \n escapes, unquoted values cut at ` #`; values are
// interpolated with what was read before them and the lookup given.
import { substitute, type Lookup } from './interpolate';
import { ComposeError } from './errors';

export function parseDotenv(text: string, file: string, lookup: Lookup = () => undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  const look: Lookup = (n) => (n in out ? out[n] : lookup(n));
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i].trim();
    if (!line || line.startsWith('#')) continue;
    if (line.startsWith('export ')) line = line.slice(7).trimStart();
    const eq = line.search(/[=:]/);
    if (eq < 0) {
      // a bare name takes its value from the environment, if any
      if (!/^[A-Za-z_][\w.-]*$/.test(line)) throw new ComposeError(`failed to read ${file}: line ${i + 1}: unexpected character "${line[0]}" in variable name "${line}"`);
      const v = lookup(line);
      if (v !== undefined) out[line] = v;
      continue;
    }
    const key = line.slice(0, eq).trim();
    if (!/^[A-Za-z_][\w.-]*$/.test(key)) throw new ComposeError(`failed to read ${file}: line ${i + 1}: unexpected character in variable name "${key}"`);
    let raw = line.slice(eq + 1).trimStart();
    let value: string;
    if (raw.startsWith("'") || raw.startsWith('"')) {
      const q = raw[0];
      // a quoted value may span lines
      let body = raw.slice(1);
      let end = findClose(body, q);
      while (end < 0 && i + 1 < lines.length) {
        body += '\n' + lines[++i];
        end = findClose(body, q);
      }
      if (end < 0) throw new ComposeError(`failed to read ${file}: unterminated quoted value for ${key}`);
      value = body.slice(0, end);
      if (q === '"') {
        value = value.replace(/\\([nrt"\\$])/g, (_m, c: string) => ({ n: '\n', r: '\r', t: '\t' } as Record<string, string>)[c] ?? (c === '$' ? '$$' : c));
        value = substitute(value, look);
      }
    } else {
      const hash = raw.search(/\s#/);
      if (hash >= 0) raw = raw.slice(0, hash);
      value = substitute(raw.trim(), look);
    }
    out[key] = value;
  }
  return out;
}

function findClose(s: string, q: string): number {
  for (let i = 0; i < s.length; i++) {
    if (q === '"' && s[i] === '\\') { i++; continue; }
    if (s[i] === q) return i;
  }
  return -1;
}
