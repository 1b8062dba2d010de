// Validation against the Compose Specification's JSON schema (spec/compose-
// spec.json, validated by ajv), with compose-go's wording: the most specific
// error ("services.web.ports must be a list", "services.web additional
// properties 'foo' not allowed", "... must be one of ..."), prefixed with the
// file and followed by the line the YAML parser saw the key on.
// Compiling the schema costs ~1 s; the compiled code is cached as an ajv
// standalone module under the user's cache directory, keyed by the schema
// and ajv version, so later runs only load it; and a document once found
// valid is remembered there by its hash, so an unchanged file costs nothing.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ComposeError } from './errors';

/** An ajv error, as much of it as we read. */
export interface SchemaError {
  instancePath: string;
  keyword: string;
  params: Record<string, any>;
  message?: string;
}
type Validate = ((doc: unknown) => boolean) & { errors?: SchemaError[] | null };

// The schema stays in the repository's src/compose/spec; this module runs
// from dist/src/compose (tsc) or from dist/ (the CLI bundle), so look upwards.
function specPath(): string {
  const rel = path.join('src', 'compose', 'spec', 'compose-spec.json');
  for (let dir = __dirname, i = 0; i < 6; i++, dir = path.dirname(dir)) {
    const p = path.join(dir, rel);
    if (fs.existsSync(p)) return p;
  }
  return path.resolve(__dirname, '..', '..', '..', rel);
}

let validator: Validate | undefined;
let spec: { text: string; ajvDir: string; key: string } | undefined;

function cacheDir(): string {
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'berth');
}

/** The schema's text and a key naming it with the ajv that compiles it. */
function specInfo(): { text: string; ajvDir: string; key: string } {
  if (spec) return spec;
  const text = fs.readFileSync(specPath(), 'utf8');
  const ajvDir = path.dirname(require.resolve('ajv/package.json'));
  const ajvVersion = JSON.parse(fs.readFileSync(path.join(ajvDir, 'package.json'), 'utf8')).version as string;
  spec = { text, ajvDir, key: crypto.createHash('sha256').update(`${ajvVersion}\n${ajvDir}\n${text}`).digest('hex').slice(0, 16) };
  return spec;
}

function loadValidator(): Validate {
  if (validator) return validator;
  const { text, ajvDir, key } = specInfo();
  const cached = path.join(cacheDir(), `compose-spec-${key}.js`);
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a generated module at a path known only now
    validator = require(cached) as Validate;
    return validator;
  } catch {
    // not compiled yet (or unreadable): compile below
  }
  /* eslint-disable @typescript-eslint/no-require-imports -- ajv is loaded only when the cache misses */
  const Ajv = require('ajv').default;
  const standalone = require('ajv/dist/standalone').default;
  /* eslint-enable @typescript-eslint/no-require-imports */
  // the spec's "$schema" (https://…/draft-07/schema) is not ajv's meta-schema id; draft-07 is ajv's default
  const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false, code: { source: true } });
  validator = ajv.compile(JSON.parse(text)) as Validate;
  try {
    // the generated module requires ajv's runtime helpers by package name; pin them to this ajv
    const code = (standalone(ajv, validator) as string).replace(/require\("ajv\/dist\//g, `require(${JSON.stringify(ajvDir + '/dist/').slice(0, -1)}`);
    fs.mkdirSync(cacheDir(), { recursive: true });
    const tmp = `${cached}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, code);
    fs.renameSync(tmp, cached);
  } catch {
    // a read-only home only costs the next run the compile again
  }
  return validator;
}

const HUMAN: Record<string, string> = { object: 'mapping', array: 'list' };

function human(types: string[]): string {
  const names = types.map((t) => HUMAN[t] ?? t);
  if (names.length === 1) return names[0];
  return `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
}

/** `/services/web/ports` → ['services', 'web', 'ports'] (JSON pointer unescaped). */
export function pointerPath(p: string): string[] {
  return p === '' ? [] : p.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

const quote = (s: string) => `'${s.replace(/'/g, "\\'")}'`;
const display = (v: unknown) => (typeof v === 'string' ? quote(v) : v !== null && typeof v === 'object' ? 'value' : String(v));

/**
 * The error compose-go would print: the deepest one (an unknown key counts
 * one deeper than its mapping), the first of equals; type errors of the
 * branches of a oneOf at that place are reported together.
 */
export function describe(errors: SchemaError[]): { path: string[]; text: string } {
  const leaves = errors.filter((e) => !['oneOf', 'anyOf', 'allOf', 'if', 'not'].includes(e.keyword));
  const pool = leaves.length ? leaves : errors;
  const depth = (e: SchemaError) => pointerPath(e.instancePath).length + (e.keyword === 'additionalProperties' ? 1 : 0);
  let best = pool[0];
  for (const e of pool) if (depth(e) > depth(best)) best = e;
  const where = pointerPath(best.instancePath);
  const name = where.length ? where.join('.') : '(root)';
  switch (best.keyword) {
    case 'type': {
      const types: string[] = [];
      for (const e of pool) {
        if (e.keyword !== 'type' || e.instancePath !== best.instancePath) continue;
        const t = Array.isArray(e.params.type) ? e.params.type : String(e.params.type).split(',');
        for (const x of t.length > 1 ? [...t].sort() : t) if (!types.includes(x)) types.push(x);
      }
      return { path: where, text: `${name} must be a ${human(types)}` };
    }
    case 'additionalProperties': {
      const extra = pool.filter((e) => e.keyword === 'additionalProperties' && e.instancePath === best.instancePath).map((e) => String(e.params.additionalProperty));
      return { path: [...where, extra[0]], text: `${name} additional properties ${[...new Set(extra)].map(quote).join(', ')} not allowed` };
    }
    case 'enum': {
      const want = (best.params.allowedValues ?? []) as unknown[];
      return { path: where, text: `${name} ${want.length === 1 ? `value must be ${display(want[0])}` : `value must be one of ${want.map(display).join(', ')}`}` };
    }
    case 'const':
      return { path: where, text: `${name} value must be ${display(best.params.allowedValue)}` };
    case 'required':
      return { path: where, text: `${name} missing property ${quote(String(best.params.missingProperty))}` };
    case 'pattern':
      return { path: where, text: `${name} does not match pattern ${quote(String(best.params.pattern))}` };
    case 'uniqueItems':
      return { path: where, text: `${name} items at ${best.params.j} and ${best.params.i} are equal` };
    case 'minimum':
      return { path: where, text: `${name} must be greater than or equal to ${best.params.limit}` };
    case 'maximum':
      return { path: where, text: `${name} must be less than or equal to ${best.params.limit}` };
    case 'propertyNames':
      return { path: where, text: `${name} invalid propertyName ${quote(String(best.params.propertyName))}` };
    case 'oneOf':
      return { path: where, text: `${name} oneOf failed, ${best.params.passingSchemas ? `subschemas ${best.params.passingSchemas.join(', ')} matched` : 'none matched'}` };
    default:
      return { path: where, text: `${name} ${best.message ?? `fails ${best.keyword}`}` };
  }
}

/**
 * Check one file's interpolated document; throws the first problem found.
 * `lineOf` maps a key path to the line the key was written on.
 */
export function validateFile(doc: unknown, file: string, lineOf: (p: string[]) => number | undefined = () => undefined): void {
  if (doc === null || doc === undefined) return;
  const at = (p: string[]) => {
    const line = lineOf(p);
    return line ? ` (line ${line})` : '';
  };
  // a document seen valid before (same bytes after interpolation, same schema) is not checked again:
  // loading the compiled schema is most of a no-op `up`'s own CPU time
  const seen = path.join(cacheDir(), 'compose-valid', crypto.createHash('sha256').update(`${specInfo().key}\n${JSON.stringify(doc)}`).digest('hex'));
  if (!fs.existsSync(seen)) {
    const validate = loadValidator();
    if (!validate(doc)) {
      const { path: where, text } = describe(validate.errors ?? []);
      throw new ComposeError(`validating ${file}: ${text}${at(where)}`);
    }
    try {
      fs.mkdirSync(path.dirname(seen), { recursive: true });
      fs.writeFileSync(seen, '');
    } catch {
      // not cached: checked again next time
    }
  }
  // compose-go takes any string here and the engine refuses it at create time; say it early
  for (const [name, svc] of Object.entries(((doc as Record<string, any>).services ?? {}) as Record<string, any>)) {
    const r = svc?.restart;
    if (typeof r === 'string' && !/^(no|always|on-failure(:\d+)?|unless-stopped)$/.test(r)) {
      throw new ComposeError(`validating ${file}: services.${name}.restart invalid restart policy "${r}"${at(['services', name, 'restart'])}`);
    }
  }
}
