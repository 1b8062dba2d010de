// A process's start time, which with its pid names it for good: a pid alone
// may be recycled by the time berthd looks again (after a restart, say).
import fs from 'node:fs';

/** The parts of /proc/<pid>/stat used here: its command, state (field 3) and start time (field 22, clock ticks). */
export interface ProcStat { comm: string; state: string; start: number }

/** One read of /proc/<pid>/stat; undefined if the process is gone. */
export function procStat(pid: number): ProcStat | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // the command may contain spaces and parentheses: it ends at the last ')'
  const end = stat.lastIndexOf(')');
  const f = stat.slice(end + 2).split(' ');
  return { comm: stat.slice(stat.indexOf('(') + 1, end), state: f[0], start: Number(f[19]) };
}

/** The process's start time (field 22 of /proc/<pid>/stat, clock ticks), undefined if it is gone or a zombie. */
export function processStart(pid: number): number | undefined {
  const st = procStat(pid);
  if (!st || st.state === 'Z' || st.state === 'X') return undefined;
  return st.start;
}
