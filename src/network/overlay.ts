// What the network domain needs from the swarm for overlay networks (the swarm
// side lives in src/swarm/network/; src/daemon/ wires the two, so neither
// folder imports the other).

/** One container's endpoint on an overlay. */
export interface OverlayEndpoint {
  containerId: string; ip: string; mac: string; names: string[]; service?: string;
  /** A task with a healthcheck that is not (yet) healthy: reachable, but out of its service's balancing set and DNS answers. */
  unhealthy?: boolean;
}
/** A port a service publishes on the routing mesh (PublishMode ingress). */
export interface MeshPort { protocol: 'tcp' | 'udp' | 'sctp'; published: number; target: number }
/** A swarm service on overlays: endpoint mode, its VIP per network id, its ports on the routing mesh. */
export interface OverlayService { id: string; name: string; mode: 'vip' | 'dnsrr'; vips: Record<string, string>; ports?: MeshPort[] }
/** An endpoint of any node, with the node's address (the VXLAN destination). */
export interface OverlayPeer extends OverlayEndpoint { nodeId: string; node: string; addr: string }

/** The cluster's record of an overlay (Docker's NetworkCreate body as spec, allocated subnet, VNI). */
export interface SwarmNetworkDef {
  id: string;
  createdAt: string;
  spec: Record<string, any>;
  ipam: Array<{ Subnet: string; Gateway: string }>;
  vni: number;
}

export interface OverlaySnapshot {
  nodeId: string;
  addr: string;
  port: number;
  networks: SwarmNetworkDef[];
  peers: Record<string, OverlayPeer[]>;
  services?: OverlayService[];
}

/** The swarm, as the network domain calls it. */
export interface SwarmNetworks {
  create(req: Record<string, any>): Promise<SwarmNetworkDef>;
  remove(id: string): Promise<void>;
  /** A cluster-unique address on the overlay for `owner`. */
  allocate(netId: string, owner: string, preferred?: string): Promise<string>;
  release(netId: string, ip: string): Promise<void>;
  /** Publish local endpoint changes now. */
  kick(): void;
}
