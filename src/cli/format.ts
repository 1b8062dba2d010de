// docker's formatter.Context: --format handling shared by list commands.
// "table" (default) → the command's default table; "table <tmpl>" → that
// template with a header row; "json" → {{json .}} per row; anything else →
// the template per row. `\t` and `\n` written literally are turned into tabs
// and newlines; tables go through the tabwriter.
import { Template } from './template';
import { tabwrite, tabwriteCells } from './tabwriter';

export interface FormatSpec {
  /** What the user gave (or "table"). */
  format: string;
  /** The command's table layout, e.g. "table {{.ID}}\t{{.Image}}". */
  defaultTable: string;
  /** Field → column title, e.g. {ID: "CONTAINER ID"}. Functions stand for methods with arguments (Label). */
  headers: Record<string, string>;
}

/** Render rows; returns the whole output text (each row ends in "\n"). */
export function formatRows(spec: FormatSpec, rows: unknown[]): string {
  let format = spec.format || 'table';
  if (format === 'table') format = spec.defaultTable;
  let table = false;
  let body: string;
  if (format.startsWith('table')) {
    table = true;
    body = format.slice('table'.length);
  } else if (format === 'json') body = '{{json .}}';
  else body = format;
  body = body.replace(/^ +| +$/g, '').replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  const tmpl = new Template(body);
  if (!table) return textOf('', tmpl, rows);
  const headerCtx: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(spec.headers)) headerCtx[k] = v;
  // docker titles a {{.Label "com.example.my-key"}} column with the key's last part: "my key".
  if ('Label' in spec.headers) headerCtx.Label = (name: string) => String(name).split('.').pop()!.replace(/[-_]/g, ' ');
  let header = '';
  try {
    header = tmpl.execute(headerCtx);
  } catch {
    header = '';
  }
  // Rows as cells when the template allows (tabwriteCells): what the text
  // would have been cut into, without making the text.
  const lines: string[][] = header ? header.split('\n').map((l) => l.split('\t')) : [];
  for (const r of rows) {
    const cells = tmpl.cells(r);
    if (!cells) return tabwrite(textOf(header, tmpl, rows));
    lines.push(cells);
  }
  return tabwriteCells(lines);
}

function textOf(header: string, tmpl: Template, rows: unknown[]): string {
  let out = header ? `${header}\n` : '';
  for (const r of rows) out += tmpl.execute(r) + '\n';
  return out;
}

/** Sort object keys (Go marshals the formatter's maps in key order). */
export function sortedJson(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o).sort()) out[k] = o[k];
  return out;
}
