// swarm init and swarm join.
import type { Command } from '../../registry';
import { FlagError } from '../../flags';
import { ApiError } from '../../../client';
import { availability, nodeAddr, specFromFlags, swarmFlags, DEFAULT_LISTEN_ADDR } from './opts';
import { printJoinCommand } from './join-token';

const addrFlags = [
  { name: 'listen-addr', type: 'string' as const, default: DEFAULT_LISTEN_ADDR, valueName: 'node-addr', usage: 'Listen address (format: "<ip|interface>[:port]")' },
  { name: 'advertise-addr', type: 'string' as const, usage: 'Advertised address (format: "<ip|interface>[:port]")' },
  { name: 'data-path-addr', type: 'string' as const, usage: 'Address or interface to use for data path traffic (format: "<ip|interface>")' },
];

export const initCommand: Command = {
  name: 'init',
  usage: '[OPTIONS]',
  short: 'Initialize a swarm',
  flags: [
    ...addrFlags,
    { name: 'data-path-port', type: 'int', valueName: 'uint32', usage: 'Port number to use for data path traffic (1024 - 49151). If no value is set or is set to 0, the default port (4789) is used.' },
    { name: 'force-new-cluster', type: 'bool', usage: 'Force create a new cluster from current state' },
    { name: 'autolock', type: 'bool', usage: 'Enable manager autolocking (requiring an unlock key to start a stopped manager)' },
    { name: 'availability', type: 'string', default: 'active', usage: 'Availability of the node ("active", "pause", "drain")' },
    { name: 'default-addr-pool', type: 'list', valueName: 'ipNetSlice', usage: 'default address pool in CIDR format' },
    { name: 'default-addr-pool-mask-length', type: 'int', default: 24, valueName: 'uint32', usage: 'default address pool subnet mask length' },
    ...swarmFlags,
  ],
  args: { max: 0 },
  async run(ctx, p) {
    const f = p.flags;
    const pools: string[] = [];
    for (const v of (f['default-addr-pool'] as string[]).flatMap((x) => x.split(','))) {
      if (!/^[0-9a-fA-F.:]+\/\d{1,3}$/.test(v)) throw new FlagError(`invalid argument "${v}" for "--default-addr-pool" flag: invalid CIDR address: ${v}`);
      pools.push(v);
    }
    const avail = availability(p);
    let nodeId: string;
    try {
      nodeId = await ctx.client.swarmInit({
        ListenAddr: nodeAddr(f['listen-addr'], 'listen-addr'),
        AdvertiseAddr: f['advertise-addr'],
        DataPathAddr: f['data-path-addr'],
        DataPathPort: f['data-path-port'],
        DefaultAddrPool: pools,
        ForceNewCluster: !!f['force-new-cluster'],
        Spec: specFromFlags(p),
        AutoLockManagers: !!f.autolock,
        Availability: avail,
        SubnetSize: f['default-addr-pool-mask-length'],
      });
    } catch (e) {
      if (e instanceof ApiError && /could not choose an IP address to advertise|could not find the system's IP address/.test(e.message)) {
        throw new Error(`Error response from daemon: ${e.message} - specify one with --advertise-addr`);
      }
      throw e;
    }
    ctx.out(`Swarm initialized: current node (${nodeId}) is now a manager.\n\n`);
    await printJoinCommand(ctx, nodeId, true, false);
    ctx.out("To add a manager to this swarm, run 'docker swarm join-token manager' and follow the instructions.\n");
    if (f.autolock) {
      let key: string;
      try {
        key = (await ctx.client.swarmUnlockKey()).UnlockKey;
      } catch (e) {
        throw new Error(`could not fetch unlock key: ${e instanceof ApiError ? `Error response from daemon: ${e.message}` : (e as Error).message}`);
      }
      printUnlockCommand(ctx.out, key);
    }
  },
};

export function printUnlockCommand(out: (s: string) => void, key: string): void {
  if (!key) return;
  out('To unlock a swarm manager after it restarts, run the `docker swarm unlock`\ncommand and provide the following key:\n\n' +
    `    ${key}\n\nRemember to store this key in a password manager, since without it you\nwill not be able to restart the manager.\n`);
}

export const joinCommand: Command = {
  name: 'join',
  usage: '[OPTIONS] HOST:PORT',
  short: 'Join a swarm as a node and/or manager',
  flags: [
    ...addrFlags,
    { name: 'token', type: 'string', usage: 'Token for entry into the swarm' },
    { name: 'availability', type: 'string', default: 'active', usage: 'Availability of the node ("active", "pause", "drain")' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, p) {
    const f = p.flags;
    const avail = availability(p);
    await ctx.client.swarmJoin({
      JoinToken: f.token,
      ListenAddr: nodeAddr(f['listen-addr'], 'listen-addr'),
      AdvertiseAddr: f['advertise-addr'],
      DataPathAddr: f['data-path-addr'],
      RemoteAddrs: [p.args[0]],
      Availability: avail,
    });
    const info = await ctx.client.info();
    ctx.out(info?.Swarm?.ControlAvailable ? 'This node joined a swarm as a manager.\n' : 'This node joined a swarm as a worker.\n');
  },
};
