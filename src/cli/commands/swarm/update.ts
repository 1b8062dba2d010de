// swarm update and swarm ca.
import fs from 'node:fs';
import type { Command } from '../../registry';
import { CliError } from '../../registry';
import { FlagError, HelpRequested } from '../../flags';
import { ApiError } from '../../../client';
import { caFlags, mergeCAFlags, mergeSwarmFlags, swarmFlags } from './opts';
import { printUnlockCommand } from './init';

export const updateCommand: Command = {
  name: 'update',
  usage: '[OPTIONS]',
  short: 'Update the swarm',
  flags: [
    { name: 'autolock', type: 'bool', usage: 'Change manager autolocking setting (true|false)' },
    ...swarmFlags,
  ],
  args: { max: 0 },
  async run(ctx, p) {
    // No flag at all: docker prints the command's help.
    if (p.changed.size === 0) throw new HelpRequested();
    const sw = await ctx.client.swarmInspect();
    const spec = sw.Spec;
    const prevAutoLock = !!spec.EncryptionConfig?.AutoLockManagers;
    mergeSwarmFlags(spec, p, sw.TLSInfo?.TrustRoot ?? '');
    const curAutoLock = !!spec.EncryptionConfig?.AutoLockManagers;
    await ctx.client.swarmUpdate(sw.Version.Index, spec);
    ctx.out('Swarm updated.\n');
    if (curAutoLock && !prevAutoLock) {
      let key: string;
      try {
        key = (await ctx.client.swarmUnlockKey()).UnlockKey;
      } catch (e) {
        throw new CliError(`could not fetch unlock key: ${e instanceof ApiError ? `Error response from daemon: ${e.message}` : (e as Error).message}`);
      }
      printUnlockCommand(ctx.out, key);
    }
  },
};

function pemFile(path: string, flag: string): string {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (e) {
    throw new FlagError(`invalid argument "${path}" for "--${flag}" flag: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? `open ${path}: no such file or directory` : (e as Error).message}`);
  }
  if (!/-----BEGIN [^-]+-----[\s\S]*-----END [^-]+-----/.test(text)) throw new FlagError(`invalid argument "${path}" for "--${flag}" flag: file contents must be in PEM format`);
  return text;
}

export const caCommand: Command = {
  name: 'ca',
  usage: '[OPTIONS]',
  short: 'Display and rotate the root CA',
  flags: [
    ...caFlags,
    { name: 'rotate', type: 'bool', usage: 'Rotate the swarm CA - if no certificate or key are provided, new ones will be generated' },
    { name: 'ca-cert', type: 'string', valueName: 'pem-file', usage: 'Path to the PEM-formatted root CA certificate to use for the new cluster' },
    { name: 'ca-key', type: 'string', valueName: 'pem-file', usage: 'Path to the PEM-formatted root CA key to use for the new cluster' },
    { name: 'detach', short: 'd', type: 'bool', usage: 'Exit immediately instead of waiting for the root rotation to converge' },
    { name: 'quiet', short: 'q', type: 'bool', usage: 'Suppress progress output' },
  ],
  args: { max: 0 },
  async run(ctx, p) {
    const caCert = p.changed.has('ca-cert') ? pemFile(p.flags['ca-cert'], 'ca-cert') : '';
    const caKey = p.changed.has('ca-key') ? pemFile(p.flags['ca-key'], 'ca-key') : '';
    const sw = await ctx.client.swarmInspect();
    if (!p.flags.rotate) {
      for (const f of ['ca-cert', 'ca-key', 'cert-expiry', 'external-ca']) {
        if (p.changed.has(f)) throw new CliError(`\`--${f}\` flag requires the \`--rotate\` flag to update the CA`);
      }
      const root = sw.TLSInfo?.TrustRoot ?? '';
      if (!root) throw new CliError('no CA information available');
      ctx.out(root.trim() + '\n');
      return;
    }
    const externals = (p.flags['external-ca'] as string[]) ?? [];
    if (p.changed.has('external-ca') && externals.length > 0 && !p.changed.has('ca-cert')) {
      throw new CliError('rotating to an external CA requires the `--ca-cert` flag to specify the external CA\'s cert - to add an external CA with the current root CA certificate, use the `update` command instead');
    }
    if (p.changed.has('ca-cert') && externals.length === 0 && !p.changed.has('ca-key')) {
      throw new CliError('the --ca-cert flag requires that a --ca-key flag and/or --external-ca flag be provided as well');
    }
    const spec = sw.Spec;
    mergeCAFlags(spec, p, caCert);
    spec.CAConfig = { ...spec.CAConfig, SigningCACert: caCert, SigningCAKey: caKey };
    if (!caKey && !caCert) spec.CAConfig.ForceRotate = (spec.CAConfig.ForceRotate ?? 0) + 1;
    await ctx.client.swarmUpdate(sw.Version.Index, spec);
    if (p.flags.detach) return;
    // Wait (bounded) for the rotation to converge, then show the new root.
    const deadline = Date.now() + 120_000;
    for (;;) {
      const now = await ctx.client.swarmInspect();
      if (!now.RootRotationInProgress) {
        if (!p.flags.quiet) ctx.out((now.TLSInfo?.TrustRoot ?? '').trim() + '\n');
        return;
      }
      if (Date.now() > deadline) throw new CliError('timed out waiting for the root CA rotation to converge');
      await new Promise((r) => setTimeout(r, 500));
    }
  },
};
