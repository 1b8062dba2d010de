// The embedded DNS inside containers' own namespaces: udp and tcp sockets on
// 127.0.0.11:53 that the addon makes in a container's namespace
// (ip.embeddedDnsSockets), adopted by a DnsServer that answers for that
// container. One per running container on a user-defined network; closed at
// its teardown, since an open socket keeps its namespace alive.
import * as ip from '../host/network/ip';
import { DnsServer } from './dns';

export class ContainerDns {
  private readonly servers = new Map<string, DnsServer>();
  /** Opens in flight: close() drops the token, and a server opened across one is closed, never kept. */
  private readonly opening = new Map<string, object>();

  constructor(
    /** Addresses for `name` asked from inside container `containerId`. */
    private readonly resolve: (containerId: string, name: string) => string[],
    /** Where to forward other names for the container. */
    private readonly upstream: (containerId: string) => string[],
  ) {}

  /** Whether this berthd listens inside namespaces (the addon can make the sockets and BERTH_DNS_IN_NS is not 0). */
  get enabled(): boolean {
    return ip.embeddedDnsInNamespace();
  }

  /** Listens in the container's namespace `nsName` (again, replacing any server it had). */
  async open(containerId: string, nsName: string): Promise<void> {
    const token = {};
    this.opening.set(containerId, token);
    try {
      const fds = await ip.embeddedDnsSockets(nsName);
      const srv = new DnsServer(fds, (name) => this.resolve(containerId, name), () => this.upstream(containerId));
      await srv.start();
      if (this.opening.get(containerId) !== token) {
        srv.close(); // torn down meanwhile: the sockets would keep its namespace alive
        return;
      }
      this.servers.get(containerId)?.close();
      this.servers.set(containerId, srv);
    } finally {
      if (this.opening.get(containerId) === token) this.opening.delete(containerId);
    }
  }

  close(containerId: string): void {
    this.opening.delete(containerId);
    this.servers.get(containerId)?.close();
    this.servers.delete(containerId);
  }

  /** Daemon stop: every server closes; the namespaces are the containers'. */
  closeAll(): void {
    for (const s of this.servers.values()) s.close();
    this.servers.clear();
    this.opening.clear();
  }
}
