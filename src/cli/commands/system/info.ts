// info: the daemon's /info in docker's layout (or --format).
import type { Command } from '../../registry';
import { Template } from '../../template';
import { bytesSize } from '../../units';
import { BERTH_VERSION } from '../../../version';

export const infoCommand: Command = {
  name: 'info',
  usage: '[OPTIONS]',
  short: 'Display system-wide information',
  flags: [{ name: 'format', short: 'f', type: 'string', usage: 'Format output using a custom template' }],
  args: { max: 0 },
  async run(ctx, p) {
    const clientInfo = { Debug: false, Version: BERTH_VERSION, Context: 'default', Plugins: [], Warnings: null };
    let info: any;
    let err: unknown;
    try {
      info = await ctx.client.info();
    } catch (e) {
      err = e;
    }
    if (p.flags.format) {
      const data = { ...(info ?? {}), ClientInfo: clientInfo };
      if (info) ctx.out(new Template(p.flags.format).execute(data) + '\n');
      if (err) throw err;
      return;
    }
    let o = `Client:\n Version:    ${clientInfo.Version}\n Context:    ${clientInfo.Context}\n Debug Mode: false\n\nServer:\n`;
    if (err) {
      ctx.out(o);
      throw err;
    }
    const i = info;
    const line = (s: string) => { o += s + '\n'; };
    line(` Containers: ${i.Containers}`);
    line(`  Running: ${i.ContainersRunning}`);
    line(`  Paused: ${i.ContainersPaused}`);
    line(`  Stopped: ${i.ContainersStopped}`);
    line(` Images: ${i.Images}`);
    line(` Server Version: ${i.ServerVersion}`);
    line(` Storage Driver: ${i.Driver}`);
    for (const [k, v] of i.DriverStatus ?? []) line(`  ${k}: ${v}`);
    line(` Logging Driver: ${i.LoggingDriver}`);
    line(` Cgroup Driver: ${i.CgroupDriver}`);
    line(` Cgroup Version: ${i.CgroupVersion}`);
    line(' Plugins:');
    line(`  Volume: ${(i.Plugins?.Volume ?? []).join(' ')}`);
    line(`  Network: ${(i.Plugins?.Network ?? []).join(' ')}`);
    line(`  Log: ${(i.Plugins?.Log ?? []).join(' ')}`);
    line(` Swarm: ${i.Swarm?.LocalNodeState ?? 'inactive'}`);
    line(` Runtimes: ${Object.keys(i.Runtimes ?? {}).join(' ')}`);
    line(` Default Runtime: ${i.DefaultRuntime}`);
    line(` Init Binary: ${i.InitBinary ?? ''}`);
    line(` containerd version: ${i.ContainerdCommit?.ID ?? ''}`);
    line(` runc version: ${i.RuncCommit?.ID ?? ''}`);
    line(` init version: ${i.InitCommit?.ID ?? ''}`);
    if (i.SecurityOptions?.length) {
      line(' Security Options:');
      for (const so of i.SecurityOptions as string[]) {
        const kv = Object.fromEntries(so.split(',').map((x) => x.split('=')));
        line(`  ${kv.name}`);
        for (const [k, v] of Object.entries(kv)) if (k !== 'name') line(`   ${k[0].toUpperCase() + k.slice(1)}: ${v}`);
      }
    }
    line(` Kernel Version: ${i.KernelVersion}`);
    line(` Operating System: ${i.OperatingSystem}`);
    line(` OSType: ${i.OSType}`);
    line(` Architecture: ${i.Architecture}`);
    line(` CPUs: ${i.NCPU}`);
    line(` Total Memory: ${bytesSize(i.MemTotal ?? 0)}`);
    line(` Name: ${i.Name}`);
    line(` ID: ${i.ID}`);
    line(` Docker Root Dir: ${i.DockerRootDir}`);
    line(` Debug Mode: ${!!i.Debug}`);
    if (i.Debug) {
      line(`  File Descriptors: ${i.NFd}`);
      line(`  Goroutines: ${i.NGoroutines}`);
      line(`  System Time: ${i.SystemTime}`);
      line(`  EventsListeners: ${i.NEventsListener}`);
    }
    if (i.HttpProxy) line(` HTTP Proxy: ${i.HttpProxy}`);
    if (i.HttpsProxy) line(` HTTPS Proxy: ${i.HttpsProxy}`);
    if (i.NoProxy) line(` No Proxy: ${i.NoProxy}`);
    if (i.Labels?.length) { line(' Labels:'); for (const l of i.Labels) line(`  ${l}`); }
    line(` Experimental: ${!!i.ExperimentalBuild}`);
    const insecure = [
      ...Object.values(i.RegistryConfig?.IndexConfigs ?? {}).filter((c: any) => !c.Secure).map((c: any) => c.Name),
      ...(i.RegistryConfig?.InsecureRegistryCIDRs ?? []),
    ];
    if (insecure.length) { line(' Insecure Registries:'); for (const r of insecure) line(`  ${r}`); }
    if (i.RegistryConfig?.Mirrors?.length) { line(' Registry Mirrors:'); for (const r of i.RegistryConfig.Mirrors) line(`  ${r}`); }
    line(` Live Restore Enabled: ${!!i.LiveRestoreEnabled}`);
    ctx.out(o + '\n');
    for (const w of i.Warnings ?? []) ctx.err(`${w}\n`);
  },
};
