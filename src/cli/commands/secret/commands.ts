// secret|config create, ls, inspect [--pretty], rm: docker/cli's
// cli/command/secret and cli/command/config, one implementation for both.
import fs from 'node:fs';
import type { Command, CommandContext } from '../../registry';
import { CliError } from '../../registry';
import { keyValue, parseFilters } from '../../flags';
import { forEach, inspectEach } from '../../each';
import { formatRows, sortedJson } from '../../format';
import { Template } from '../../template';
import { humanDuration } from '../../units';
import { ApiError, ConnectionError, type SwarmFile } from '../../../client';
import { goTime, naturalLess, pretty } from '../node/view';

type Kind = 'secret' | 'config';
const plural = (k: Kind) => (k === 'secret' ? 'secrets' : 'configs');

const FORMAT_USAGE = "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates";

async function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks);
}

export function createCommand(kind: Kind): Command {
  const flags: Command['flags'] = [
    { name: 'label', short: 'l', type: 'list', usage: `${kind === 'secret' ? 'Secret' : 'Config'} labels` },
    { name: 'template-driver', type: 'string', usage: 'Template driver' },
  ];
  if (kind === 'secret') flags.unshift({ name: 'driver', short: 'd', type: 'string', usage: 'Secret driver' });
  return {
    name: 'create',
    usage: kind === 'secret' ? '[OPTIONS] SECRET [file|-]' : '[OPTIONS] CONFIG file|-',
    short: kind === 'secret' ? 'Create a secret from a file or STDIN as content' : 'Create a config from a file or STDIN',
    flags,
    args: kind === 'secret' ? { min: 1, max: 2 } : { min: 2, max: 2 },
    async run(ctx, p) {
      const [name, file] = p.args;
      const f = p.flags;
      const spec: SwarmFile['Spec'] = { Name: name, Labels: keyValue(f.label ?? []) };
      if (f.driver) {
        if (file) throw new CliError(`When using secret driver secret data must be empty`);
        spec.Driver = { Name: f.driver };
      } else {
        if (!file) throw new CliError('secret file is required');
        let data: Buffer;
        try {
          data = file === '-' ? await readAll(ctx.stdin) : fs.readFileSync(file);
        } catch (e) {
          throw new CliError(`error reading from ${file}: open ${file}: ${goErrno(e)}`);
        }
        if (!data.length) throw new CliError(`error reading from ${file}: data is empty`);
        spec.Data = data.toString('base64');
      }
      if (f['template-driver']) spec.Templating = { Name: f['template-driver'] };
      const r = await ctx.client.fileCreate(plural(kind), spec);
      ctx.out(r.ID + '\n');
    },
  };
}

/** Go's text for an open(2) error. */
function goErrno(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EACCES') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  return (e as Error).message;
}

function row(kind: Kind, s: SwarmFile, now: number): Record<string, unknown> {
  const labels = s.Spec.Labels ?? {};
  const ago = (t: string) => humanDuration(now - Date.parse(t)) + ' ago';
  const r: Record<string, unknown> = {
    ID: s.ID,
    Name: s.Spec.Name,
    CreatedAt: ago(s.CreatedAt),
    UpdatedAt: ago(s.UpdatedAt),
    Labels: Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`).join(','),
    Label: (k: string) => labels[k] ?? '',
  };
  if (kind === 'secret') r.Driver = s.Spec.Driver?.Name ?? '';
  return r;
}

export function lsCommand(kind: Kind): Command {
  return {
    name: 'ls',
    aliases: ['list'],
    usage: '[OPTIONS]',
    short: `List ${plural(kind)}`,
    flags: [
      { name: 'quiet', short: 'q', type: 'bool', usage: 'Only display IDs' },
      { name: 'format', type: 'string', usage: FORMAT_USAGE },
      { name: 'filter', short: 'f', type: 'list', usage: 'Filter output based on conditions provided' },
    ],
    args: { max: 0 },
    async run(ctx, p) {
      const f = p.flags;
      const list = await ctx.client.fileList(plural(kind), parseFilters(f.filter ?? []));
      list.sort((a, b) => (naturalLess(a.Spec.Name, b.Spec.Name) ? -1 : naturalLess(b.Spec.Name, a.Spec.Name) ? 1 : 0));
      let format: string = f.format || 'table';
      if (f.quiet && (format === 'table' || !f.format)) format = '{{.ID}}';
      const table = kind === 'secret' ? 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.CreatedAt}}\t{{.UpdatedAt}}' : 'table {{.ID}}\t{{.Name}}\t{{.CreatedAt}}\t{{.UpdatedAt}}';
      const now = Date.now();
      const rows = list.map((s) => row(kind, s, now));
      // --format json: Go marshals the formatter's fields in key order, without methods
      if (format === 'json') {
        ctx.out(rows.map((r) => JSON.stringify(sortedJson(Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'Label'))))).join('\n') + (rows.length ? '\n' : ''));
        return;
      }
      ctx.out(formatRows({ format, defaultTable: table, headers: { ID: 'ID', Name: 'NAME', Driver: 'DRIVER', CreatedAt: 'CREATED', UpdatedAt: 'UPDATED', Labels: 'LABELS', Label: 'LABEL' } }, rows));
    },
  };
}

const SECRET_PRETTY = `ID:              {{.ID}}
Name:              {{.Name}}
{{- if .Labels }}
Labels:
{{- range $k, $v := .Labels }}
 - {{ $k }}{{if $v }}={{ $v }}{{ end }}
{{- end }}{{ end }}
Driver:            {{.Driver}}
Created at:        {{.CreatedAt}}
Updated at:        {{.UpdatedAt}}`;

const CONFIG_PRETTY = `ID:\t\t\t{{.ID}}
Name:\t\t\t{{.Name}}
{{- if .Labels }}
Labels:
{{- range $k, $v := .Labels }}
 - {{ $k }}{{if $v }}={{ $v }}{{ end }}
{{- end }}{{ end }}
Created at:            \t{{.CreatedAt}}
Updated at:            \t{{.UpdatedAt}}
Data:
{{.Data}}`;

function prettyPage(kind: Kind, s: SwarmFile): string {
  const labels = s.Spec.Labels && Object.keys(s.Spec.Labels).length ? s.Spec.Labels : undefined;
  const fields: Record<string, unknown> = {
    ID: s.ID,
    Name: s.Spec.Name,
    Labels: labels,
    Driver: s.Spec.Driver?.Name ?? '',
    CreatedAt: pretty(goTime(s.CreatedAt)),
    UpdatedAt: pretty(goTime(s.UpdatedAt)),
    Data: Buffer.from(s.Spec.Data ?? '', 'base64').toString(),
  };
  return new Template(kind === 'secret' ? SECRET_PRETTY : CONFIG_PRETTY).execute(fields) + '\n';
}

export function inspectCommand(kind: Kind): Command {
  return {
    name: 'inspect',
    usage: `[OPTIONS] ${kind.toUpperCase()} [${kind.toUpperCase()}...]`,
    short: `Display detailed information on one or more ${plural(kind)}`,
    flags: [
      { name: 'format', short: 'f', type: 'string', usage: "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates" },
      { name: 'pretty', type: 'bool', usage: 'Print the information in a human friendly format' },
    ],
    args: { min: 1 },
    async run(ctx, p) {
      const format: string = p.flags.pretty ? 'pretty' : (p.flags.format ?? '');
      if (p.flags.pretty && p.flags.format) throw new CliError('--format is incompatible with human friendly format');
      if (format !== 'pretty') {
        await inspectEach(ctx, p.args, format, (ref) => ctx.client.fileInspect(plural(kind), ref));
        return;
      }
      await prettyEach(ctx, kind, p.args);
    },
  };
}

/** The pretty pages stop at the first reference docker cannot get. */
async function prettyEach(ctx: CommandContext, kind: Kind, refs: string[]): Promise<void> {
  for (const ref of refs) {
    let s: SwarmFile;
    try {
      s = await ctx.client.fileInspect(plural(kind), ref);
    } catch (e) {
      if (e instanceof ConnectionError) throw e;
      throw new CliError(e instanceof ApiError ? `Error response from daemon: ${e.message}` : (e as Error).message);
    }
    ctx.out(prettyPage(kind, s));
  }
}

export function rmCommand(kind: Kind): Command {
  return {
    name: 'rm',
    aliases: ['remove'],
    usage: `${kind.toUpperCase()} [${kind.toUpperCase()}...]`,
    short: `Remove one or more ${plural(kind)}`,
    args: { min: 1 },
    async run(ctx, p) {
      await forEach(ctx, p.args, async (ref) => {
        await ctx.client.fileRemove(plural(kind), ref);
        return ref;
      });
    },
  };
}
