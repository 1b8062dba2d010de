// Go's text/tabwriter (as docker uses it: minwidth 10, tabwidth 1, padding 3,
// pad with spaces): tab-terminated cells are aligned per column block; the
// last cell of a line is written as is.

export interface TabwriterOptions {
  minwidth?: number;
  padding?: number;
  padchar?: string;
}

/** Runes, as Go counts them: code points (a surrogate pair is one); most cells have none, so no array is made. */
function displayWidth(s: string): number {
  return SURROGATE.test(s) ? [...s].length : s.length;
}
const SURROGATE = /[\uD800-\uDBFF]/;

export function tabwrite(text: string, o: TabwriterOptions = {}): string {
  const minwidth = o.minwidth ?? 10;
  const padding = o.padding ?? 3;
  const padchar = o.padchar ?? ' ';
  const endsWithNewline = text.endsWith('\n');
  const rawLines = (endsWithNewline ? text.slice(0, -1) : text).split('\n');
  const lines = rawLines.map((l) => l.split('\t'));
  const widths: number[] = [];
  const out: string[] = [];

  const writeLines = (line0: number, line1: number) => {
    for (let i = line0; i < line1; i++) {
      const cells = lines[i];
      let s = '';
      for (let j = 0; j < cells.length; j++) {
        const c = cells[j];
        if (j < widths.length && j < cells.length - 1) s += c + padchar.repeat(Math.max(0, widths[j] - displayWidth(c)));
        else s += c;
      }
      out.push(s);
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
      let width = minwidth;
      while (t < line1 && column < lines[t].length - 1) {
        const w = displayWidth(lines[t][column]) + padding;
        if (w > width) width = w;
        t++;
      }
      widths.push(width);
      formatBlocks(line0, t);
      widths.pop();
      line0 = t;
    }
    writeLines(line0, line1);
  }
  return out.join('\n') + (endsWithNewline ? '\n' : '');
}
