// Which files make the project and what it is called, as Compose v2 decides:
// -f (repeated) or COMPOSE_FILE, else the first of the default names in the
// working directory or its parents, plus its override file; the project
// directory is --project-directory or the first file's directory; the name
// is -p, COMPOSE_PROJECT_NAME, the top-level `name:` or the directory name.
import fs from 'node:fs';
import path from 'node:path';
import { ComposeError } from './errors';

export const DEFAULT_FILES = ['compose.yaml', 'compose.yml', 'docker-compose.yml', 'docker-compose.yaml'];
export const OVERRIDE_FILES = ['compose.override.yml', 'compose.override.yaml', 'docker-compose.override.yml', 'docker-compose.override.yaml'];

export interface Discovered {
  files: string[];
  warnings: string[];
}

function existing(names: string[], dir: string): string[] {
  return names.map((n) => path.join(dir, n)).filter((p) => fs.existsSync(p));
}

/** The config files: explicit ones resolved against cwd, else the search up from cwd. */
export function discoverFiles(explicit: string[], cwd: string, env: Record<string, string | undefined>): Discovered {
  const warnings: string[] = [];
  let files = explicit;
  if (!files.length && env.COMPOSE_FILE) files = env.COMPOSE_FILE.split(env.COMPOSE_PATH_SEPARATOR || ':').filter(Boolean);
  if (files.length) {
    return {
      files: files.map((f) => {
        if (f === '-') return f;
        const abs = path.resolve(cwd, f);
        if (!fs.existsSync(abs)) throw new ComposeError(`open ${abs}: no such file or directory`);
        return abs;
      }),
      warnings,
    };
  }
  let dir = path.resolve(cwd);
  for (;;) {
    const found = existing(DEFAULT_FILES, dir);
    if (found.length) {
      if (found.length > 1) warnings.push(`Found multiple config files with supported names: ${found.join(', ')}\nUsing ${found[0]}`);
      const out = [found[0]];
      const overrides = existing(OVERRIDE_FILES, dir);
      if (overrides.length > 1) warnings.push(`Found multiple override files with supported names: ${overrides.join(', ')}\nUsing ${overrides[0]}`);
      if (overrides.length) out.push(overrides[0]);
      return { files: out, warnings };
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new ComposeError('no configuration file provided: not found');
}

/** compose-go's NormalizeProjectName: lower case, only [a-z0-9_-], no leading `_`/`-`. */
export function normalizeProjectName(s: string): string {
  return (s.toLowerCase().match(/[a-z0-9_-]/g) ?? []).join('').replace(/^[_-]+/, '');
}

const VALID_NAME = /^[a-z0-9][a-z0-9_-]*$/;

export function checkProjectName(name: string): void {
  if (!VALID_NAME.test(name)) {
    throw new ComposeError(`invalid project name "${name}": must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number`);
  }
}

/** Picks the name; explicit names are checked, derived ones normalised. */
export function projectName(opts: { flag?: string; env?: string; fromFile?: string; dir: string }): string {
  for (const explicit of [opts.flag, opts.env, opts.fromFile]) {
    if (explicit) {
      checkProjectName(explicit);
      return explicit;
    }
  }
  const n = normalizeProjectName(path.basename(opts.dir));
  if (!n) throw new ComposeError(`project name must not be empty`);
  return n;
}
