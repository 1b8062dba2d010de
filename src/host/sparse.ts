// Frees the start of a file that another process keeps appending to
// (conmon's log spool): punching a hole keeps every offset valid, where a
// truncate would race with conmon's next write.
import { execHost } from './exec';

export async function punchHole(file: string, length: number): Promise<void> {
  if (length <= 0) return;
  await execHost('fallocate', ['--punch-hole', '--offset', '0', '--length', String(length), file], { timeout: 15_000 });
}
