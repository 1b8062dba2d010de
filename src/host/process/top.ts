// `docker top`: run the host's ps with the caller's options and keep the
// rows of the container's processes, as dockerd does.
import { execHost, HostExecError } from '../exec';
import { InvalidParameter } from '../../util/errors';

export interface TopResult {
  Titles: string[];
  Processes: string[][];
}

export async function top(pids: number[], psArgs = '-ef'): Promise<TopResult> {
  const args = psArgs.trim() ? psArgs.trim().split(/\s+/) : ['-ef'];
  let out: string;
  try {
    out = (await execHost('ps', args, { timeout: 10_000 })).stdout;
  } catch (e) {
    if (e instanceof HostExecError) throw new InvalidParameter(`Error running ps: ${e.stderr.trim() || e.message}`);
    throw e;
  }
  return parsePs(out, pids);
}

export function parsePs(out: string, pids: number[]): TopResult {
  const lines = out.split('\n').filter((l) => l.trim() !== '');
  if (lines.length === 0) return { Titles: [], Processes: [] };
  const titles = lines[0].trim().split(/\s+/);
  const pidIndex = titles.indexOf('PID');
  if (pidIndex < 0) throw new InvalidParameter(`Couldn't find PID field in ps output`);
  const want = new Set(pids);
  const processes: string[][] = [];
  for (const line of lines.slice(1)) {
    const fields = line.trim().split(/\s+/);
    // The last column (command) keeps its spaces.
    const row = fields.slice(0, titles.length - 1);
    row.push(fields.slice(titles.length - 1).join(' '));
    const pid = Number(fields[pidIndex]);
    if (want.has(pid)) processes.push(row);
  }
  return { Titles: titles, Processes: processes };
}
