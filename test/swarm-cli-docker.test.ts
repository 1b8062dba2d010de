// `berth swarm` and `berth node` against Docker's own engine: three private
// dockerd "hosts" in network namespaces form a swarm; berth's output must
// equal the docker CLI's for the same command on the same daemon
// (helpers/swarm-cli.ts). Opt-in (BERTH_TEST_DOCKER=1) because it needs
// dockerd and takes the machine's CPU for a while.
import fs from 'node:fs';
import { swarmCliScenario } from './helpers/swarm-cli';

const WANT = process.env.BERTH_TEST_DOCKER === '1';
const HAVE = ['/usr/sbin/dockerd', '/usr/bin/dockerd'].some((p) => fs.existsSync(p));
const SKIP = !WANT ? 'set BERTH_TEST_DOCKER=1 to compare berth swarm/node with the docker CLI on private dockerds' : !HAVE ? 'dockerd is not installed' : false;

swarmCliScenario('dockerd', SKIP);
