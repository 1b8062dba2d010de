// The daemon settings the container service reads, as plain values that
// daemon/ fills in (the container domain never imports daemon/).
export interface ContainerServiceOptions {
  dataRoot: string;
  execRoot: string;
  /** Prefix of the daemon's host objects; names the cgroup parent. */
  chainPrefix: string;
  /** OCI runtime of a container that names none, and every runtime by name (HostConfig.Runtime). */
  defaultRuntime: string;
  runtimes: Record<string, string>;
  /** Default log driver of new containers and its options. */
  logDriver: string;
  logOpts: Record<string, string>;
}
