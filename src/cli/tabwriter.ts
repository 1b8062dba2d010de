// Go's text/tabwriter (as docker uses it: minwidth 10, tabwidth 1, padding 3,
// pad with spaces): tab-terminated cells are aligned per column block; the
// last cell of a line is written as is.

export interface TabwriterOptions {
  minwidth?: number;
  padding?: number;
  padchar?: string;
}

/** Runes, as Go counts them: code points (a surrogate pair is one). */
function runes(s: string): number {
  return [...s].length;
}
const SURROGATE = /[\uD800-\uDBFF]/;

export function tabwrite(text: string, o: TabwriterOptions = {}): string {
  const endsWithNewline = text.endsWith('\n');
  const rawLines = (endsWithNewline ? text.slice(0, -1) : text).split('\n');
  // One look at the whole text: most tables have no surrogate pair, and a
  // cell's width is then its length (1,000 `ps` rows checked cell by cell
  // were a fifth of their formatting).
  return write(rawLines.map((l) => l.split('\t')), SURROGATE.test(text), o) + (endsWithNewline ? '\n' : '');
}

/**
 * The same for a text already cut into lines and cells (no tab or newline
 * in a cell): each line is written followed by a newline.
 */
export function tabwriteCells(lines: string[][], o: TabwriterOptions = {}): string {
  if (!lines.length) return '';
  let surrogates = false;
  for (let i = 0; i < lines.length && !surrogates; i++) {
    const l = lines[i];
    for (let j = 0; j < l.length; j++) if (SURROGATE.test(l[j])) { surrogates = true; break; }
  }
  return `${write(lines, surrogates, o)}\n`;
}

function write(lines: string[][], surrogates: boolean, o: TabwriterOptions): string {
  const minwidth = o.minwidth ?? 10;
  const padding = o.padding ?? 3;
  const padchar = o.padchar ?? ' ';
  const width: (s: string) => number = surrogates ? runes : (s) => s.length;
  const pads: string[] = [];
  const pad = (n: number): string => (n <= 0 ? '' : (pads[n] ??= padchar.repeat(n)));
  const widths: number[] = [];
  const out: string[] = [];

  const writeLines = (line0: number, line1: number) => {
    const nw = widths.length;
    for (let i = line0; i < line1; i++) {
      const cells = lines[i];
      const last = cells.length - 1;
      let s = '';
      for (let j = 0; j < last; j++) {
        const c = cells[j];
        s += j < nw ? c + pad(widths[j] - width(c)) : c;
      }
      out.push(s + cells[last]);
    }
  };

  formatBlocks(0, lines.length);
  function formatBlocks(line0: number, line1: number) {
    // Go's algorithm, written iteratively over the outer loop.
    const column = widths.length;
    let t = line0;
    while (t < line1) {
      if (column >= lines[t].length - 1) { t++; continue; }
      writeLines(line0, t);
      line0 = t;
      let w = minwidth;
      while (t < line1 && column < lines[t].length - 1) {
        const cw = width(lines[t][column]) + padding;
        if (cw > w) w = cw;
        t++;
      }
      widths.push(w);
      formatBlocks(line0, t);
      widths.pop();
      line0 = t;
    }
    writeLines(line0, line1);
  }
  return out.join('\n');
}
