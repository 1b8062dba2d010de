// Rendering JSON-lines progress (pull, push, load, import) as docker's
// jsonmessage does: "<id>: <status>" lines; on a terminal, per-id lines are
// rewritten in place with their progress bar.
import type { Writable } from 'node:stream';
import type { ProgressMessage } from '../client';
import { CliError } from './registry';

export async function renderProgress(stream: AsyncIterable<ProgressMessage>, out: Writable & { isTTY?: boolean }, onAux?: (aux: unknown) => void): Promise<void> {
  const tty = !!out.isTTY;
  const ids = new Map<string, number>();
  let lines = 0;
  for await (const m of stream) {
    if (m.error || m.errorDetail?.message) throw new CliError(m.errorDetail?.message || m.error || 'unknown error');
    if (m.aux !== undefined) {
      onAux?.(m.aux);
      continue;
    }
    if (m.stream !== undefined) {
      out.write(m.stream);
      continue;
    }
    const hasProgress = !!(m.progressDetail && (m.progressDetail.total || m.progressDetail.current)) || !!m.progress;
    const text = `${m.id ? m.id + ': ' : ''}${m.status ?? ''}${hasProgress && m.progress ? ' ' + m.progress : ''}`;
    if (!tty) {
      // Without a terminal docker prints status changes, not every tick of a bar.
      if (hasProgress) continue;
      out.write(text + '\n');
      continue;
    }
    if (m.id && (hasProgress || ids.has(m.id))) {
      let line = ids.get(m.id);
      if (line === undefined) {
        line = lines++;
        ids.set(m.id, line);
        out.write(text + '\n');
        continue;
      }
      const up = lines - line;
      out.write(`\x1b[${up}A\r\x1b[2K${text}\x1b[${up}B\r`);
      continue;
    }
    if (m.id) {
      ids.set(m.id, lines);
    }
    lines++;
    out.write(text + '\n');
  }
}
