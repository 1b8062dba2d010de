// A process's start time, which with its pid names it for good: a pid alone
// may be recycled by the time berthd looks again (after a restart, say).
import fs from 'node:fs';

/** The process's start time (field 22 of /proc/<pid>/stat, clock ticks), undefined if it is gone or a zombie. */
export function processStart(pid: number): number | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // fields after the command (which may contain spaces and parentheses): state is field 3
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (f[0] === 'Z' || f[0] === 'X') return undefined;
  return Number(f[19]);
}
