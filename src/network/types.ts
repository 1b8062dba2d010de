// The network domain's records. A network: a bridge (or the predefined host
// and none) with an address pool. An attachment: a container's wish to be on
// a network (aliases, fixed address), kept while the container exists. An
// endpoint: the live part (address, MAC, veth) that exists while it runs.

export interface NetworkRecord {
  id: string;
  name: string;
  driver: 'bridge' | 'host' | 'null' | 'overlay';
  /** 'swarm' for an overlay (its record lives in the cluster store; this is the node's copy). */
  scope?: 'swarm';
  /** Overlay: the swarm's ingress network (the routing mesh). */
  ingress?: boolean;
  /** Overlay: the VXLAN network identifier and the VXLAN device's name. */
  vni?: number;
  vxlan?: string;
  created: string;
  internal: boolean;
  attachable: boolean;
  enableIPv6: boolean;
  labels: Record<string, string>;
  options: Record<string, string>;
  /** IPAM config as the user gave it (empty for a pool we picked). */
  ipamOptions: Record<string, string>;
  pools: Array<{ subnet: string; gateway: string; ipRange?: string }>;
  /** IPv6 pools (EnableIPv6). */
  pools6?: Array<{ subnet: string; gateway: string; ipRange?: string }>;
  /** The subnet was given by the user (then --ip is allowed). */
  userSubnet: boolean;
  /** Bridge interface name (bridge driver). */
  bridge?: string;
  /** The default bridge, host and none. */
  predefined: boolean;
}

export interface AttachConfig {
  aliases: string[];
  ipv4?: string;
  /** --ip6 */
  ipv6?: string;
  /** --link-local-ip: extra addresses on the interface. */
  linkLocal?: string[];
  links: string[];
  mac?: string;
  driverOpts?: Record<string, string>;
}

export interface Endpoint {
  endpointId: string;
  ip: string;
  prefix: number;
  gateway: string;
  /** IPv6 address, prefix and gateway on an EnableIPv6 network. */
  ip6?: string;
  prefix6?: number;
  gateway6?: string;
  mac: string;
  hostIf: string;
  ifName: string;
}

export interface Attachment {
  containerId: string;
  networkId: string;
  config: AttachConfig;
  endpoint?: Endpoint;
}

/** What the network service needs to know about a container. */
export interface NetContainer {
  id: string;
  /** Name without the leading slash. */
  name: string;
  hostname: string;
  domainname: string;
  /** HostConfig.NetworkMode ("default", "bridge", "host", "none", "container:x", or a network name/id). */
  networkMode: string;
  endpointsConfig: Record<string, any>;
  macAddress?: string;
  portBindings: Record<string, Array<{ HostIp?: string; HostPort?: string }> | null>;
  publishAll: boolean;
  exposedPorts: string[];
  /** Config.Env: a linked container's environment becomes <ALIAS>_ENV_<VAR> of its linkers. */
  env: string[];
  links: string[];
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  extraHosts: string[];
  running: boolean;
  /** Config.Labels (a swarm task's `com.docker.swarm.*` labels tie it to its service). */
  labels?: Record<string, string>;
  /** PID of the container's init while it runs (for `container:` mode of others). */
  pid?: number;
  /** State.Health.Status while it runs with a healthcheck (starting, healthy, unhealthy). */
  health?: string;
}

export interface ContainerLookup {
  /** By id, id prefix or name; undefined when there is no such container. */
  find(idOrName: string): NetContainer | undefined;
}
