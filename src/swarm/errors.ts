// Swarm errors carry the HTTP status dockerd answers with and its text
// (daemon/cluster and swarmkit's gRPC statuses as dockerd prints them).
import { BerthError } from '../util/errors';

export class SwarmError extends BerthError {
  constructor(status: number, message: string) { super(message, status); }
}

export const NO_SWARM = 'This node is not part of a swarm';
export const NOT_MANAGER = 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
export const WORKER_NOT_MANAGER = "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager.";
export const MANAGER_NOT_READY = 'This node is not a swarm manager. Manager is being prepared or has trouble connecting to the cluster.';
export const ALREADY_IN_SWARM = 'This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join another one.';
export const BAD_TOKEN = 'rpc error: code = InvalidArgument desc = A valid join token is necessary to join this cluster';
