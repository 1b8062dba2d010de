// Splits parsed instructions into the global ARGs (before the first FROM)
// and build stages, and works out which stages a target needs, so stages
// the target does not depend on are never built.
import { DockerfileParseError, type Node } from './parser';
import { Lexer, type Env } from './lex';
import { InvalidParameter } from '../util/errors';

export interface Stage {
  index: number;
  /** Lower-case `AS` name, if any. */
  name?: string;
  from: Node;
  /** Base image reference after expanding global ARGs. */
  base: string;
  platform?: string;
  commands: Node[];
}

export interface Plan {
  metaArgs: Node[];
  stages: Stage[];
}

export function splitStages(nodes: Node[]): { metaArgs: Node[]; stages: Omit<Stage, 'base'>[] } {
  const metaArgs: Node[] = [];
  const stages: Omit<Stage, 'base'>[] = [];
  for (const n of nodes) {
    if (n.cmd === 'from') {
      const a = n.args;
      if (a.length !== 1 && !(a.length === 3 && a[1].toLowerCase() === 'as')) {
        throw new DockerfileParseError(n.startLine, 'FROM requires either one or three arguments');
      }
      const name = a.length === 3 ? a[2].toLowerCase() : undefined;
      if (name !== undefined && !/^[a-z][a-z0-9-_.]*$/.test(name)) {
        throw new DockerfileParseError(n.startLine, `invalid name for build stage: "${a[2]}", name can't start with a number or contain symbols`);
      }
      if (name && stages.some((s) => s.name === name)) {
        throw new DockerfileParseError(n.startLine, `duplicate name ${name}`);
      }
      let platform: string | undefined;
      for (const f of n.flags) {
        const m = /^--([a-z-]+)(?:=(.*))?$/.exec(f);
        if (m?.[1] === 'platform') platform = m[2];
        else throw new DockerfileParseError(n.startLine, `unknown flag: ${f.split('=')[0].slice(2)}`);
      }
      stages.push({ index: stages.length, name, from: n, platform, commands: [] });
      continue;
    }
    if (stages.length === 0) {
      if (n.cmd === 'arg') {
        metaArgs.push(n);
        continue;
      }
      throw new DockerfileParseError(n.startLine, 'no build stage in current context');
    }
    stages[stages.length - 1].commands.push(n);
  }
  if (stages.length === 0) throw new InvalidParameter('the Dockerfile has no FROM instruction: file with no instructions');
  return { metaArgs, stages };
}

/** Resolve base names with the global ARG values. */
export function resolveBases(stages: Omit<Stage, 'base'>[], meta: Env, escape: string): Stage[] {
  const lx = new Lexer(escape);
  return stages.map((s) => ({ ...s, base: lx.processWord(s.from.args[0], meta) }));
}

/** `--from=` value of a COPY (or undefined). */
export function copyFrom(n: Node): string | undefined {
  for (const f of n.flags) if (f.startsWith('--from=')) return f.slice(7);
  return undefined;
}

/** Index of the stage named or numbered by ref among the stages before `before`, or -1. */
export function stageRef(stages: Stage[], ref: string, before: number): number {
  const r = ref.toLowerCase();
  for (let i = 0; i < before; i++) if (stages[i].name === r) return i;
  if (/^[0-9]+$/.test(r)) {
    const i = Number(r);
    if (i < before) return i;
  }
  return -1;
}

/** The stages the target needs, in order. */
export function neededStages(stages: Stage[], target: number, meta: Env, escape: string): number[] {
  const lx = new Lexer(escape);
  const need = new Set<number>();
  const visit = (i: number) => {
    if (need.has(i)) return;
    need.add(i);
    const s = stages[i];
    const b = stageRef(stages, s.base, i);
    if (b >= 0) visit(b);
    for (const c of s.commands) {
      const f = c.cmd === 'copy' ? copyFrom(c) : undefined;
      if (f === undefined) continue;
      const j = stageRef(stages, lx.processWord(f, meta), i);
      if (j >= 0) visit(j);
    }
  };
  visit(target);
  return [...need].sort((a, b) => a - b);
}
