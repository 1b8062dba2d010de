// `berth swarm` and `berth node` against berthd's swarm mode: three berthd
// hosts in network namespaces form a swarm; berth's output must equal the
// docker CLI's for the same command on the same daemon, and berth's
// mutations must print docker's messages (helpers/swarm-cli.ts; the same
// scenario runs against Docker's engine in swarm-cli-docker.test.ts).
import { swarmCliScenario } from './helpers/swarm-cli';

swarmCliScenario('berthd', false);
