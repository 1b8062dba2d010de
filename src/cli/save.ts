// `-o FILE` of save and export: a response body written to a file (temp +
// fsync + rename) or to a stdout that is not a terminal.
import fs from 'node:fs';
import path from 'node:path';
import type { CommandContext } from './registry';
import { CliError } from './registry';

/** Write a response body to -o FILE (temp + rename) or to stdout, refusing a terminal. */
export async function saveTo(ctx: CommandContext, body: NodeJS.ReadableStream, output: string, what: string): Promise<void> {
  if (!output) {
    if (ctx.stdout.isTTY) throw new CliError(`${what}: cowardly refusing to save to a terminal. Use the -o flag or redirect`);
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (!ctx.stdout.write(chunk)) await new Promise((r) => ctx.stdout.once('drain', r));
    }
    return;
  }
  const dir = path.dirname(path.resolve(output));
  if (!fs.existsSync(dir)) throw new CliError(`failed to save image: invalid output path: directory "${dir}" does not exist`);
  const tmp = path.join(dir, `.${path.basename(output)}.${process.pid}.tmp`);
  const fd = fs.openSync(tmp, 'w', 0o644);
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) fs.writeSync(fd, chunk);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, output);
  } catch (e) {
    try { fs.closeSync(fd); } catch { /* closed already */ }
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}
