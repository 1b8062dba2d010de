// `berth completion bash|zsh|fish`: the shell script that completes berth's
// commands, flags and the daemon's container/image/network/volume names.
import type { Command } from '../../registry';
import { CliError } from '../../registry';
import { completionScript } from '../../completion';

export const completionCommand: Command = {
  name: 'completion',
  usage: 'bash|zsh|fish',
  short: 'Generate the autocompletion script for the specified shell',
  args: { min: 1, max: 1 },
  async run(ctx, p) {
    const script = completionScript(p.args[0], ctx.prog);
    if (!script) throw new CliError(`unsupported shell "${p.args[0]}": use bash, zsh or fish`);
    ctx.out(script);
  },
};
