// The prune and rm prompts' question, read from stdin.
import type { CommandContext } from './registry';

/** "Are you sure you want to continue? [y/N]" read from stdin. */
export async function confirm(ctx: CommandContext, warning: string): Promise<boolean> {
  ctx.out(`${warning}\nAre you sure you want to continue? [y/N] `);
  const line = await new Promise<string>((resolve) => {
    let buf = '';
    const onData = (b: Buffer) => {
      buf += b.toString();
      if (buf.includes('\n')) done();
    };
    const done = () => {
      ctx.stdin.off('data', onData);
      ctx.stdin.off('end', done);
      ctx.stdin.pause();
      resolve(buf.split('\n')[0]);
    };
    ctx.stdin.on('data', onData);
    ctx.stdin.on('end', done);
    ctx.stdin.resume();
  });
  return /^y(es)?$/i.test(line.trim());
}
