// An init's etcd member starts alone with short raft timers (FAST_TIMERS in
// src/host/etcd.ts), so that it is leader ~0.1 s after its start and the
// first manager join finds a leader instead of waiting up to 1 s for the
// lone member's first election. Short timers are wrong once other members
// exist (a leader that hears no quorum for 100 ms steps down; a follower
// that misses 100 ms of heartbeats campaigns; on a loaded machine both
// happen). Members therefore join as learners meanwhile (no quorum change
// until their log caught up and they are promoted). Once the member set has
// more than one member, every member is started and a voter, and the set
// has not changed for QUIET_MS (joins often come in a row), leadership moves to a started peer (raft's transfer: no election
// wait) and the member restarts with the normal timers on the same data.
import { log } from '../util/log';
import type { EtcdProcess } from '../host/etcd';
import type { EtcdClient, Member } from './etcd-client';

/** How long the member set must stay as it is before the member restarts. */
export const QUIET_MS = 2000;
/**
 * While the member is alone, how often the tick looks at the member list
 * (a join through this manager pokes it at once): each look is an etcd call,
 * and a swarm with one manager stays alone for good.
 */
export const LONE_RECHECK_MS = 5000;
/** The longest berthd's etcd calls wait for the restarted member to serve. */
const HOLD_MAX_MS = 5000;

/**
 * Promotes every started learner etcd accepts (one not caught up is refused:
 * the next call tries again); the ids promoted. A joining manager's learner
 * is promoted by the manager that added it, within ms of its catch-up; this
 * is for one whose promoter died or restarted first, called by the settler
 * and by the Berth leader's tick (service.ts), so no member stays a non-voter
 * that `node ls` counts as a manager.
 */
export async function promoteStartedLearners(client: EtcdClient, members?: Member[]): Promise<string[]> {
  const done: string[] = [];
  for (const m of (members ?? await client.memberList()).filter((x) => x.isLearner && x.name !== '' && x.clientURLs.length > 0)) {
    try {
      await client.memberPromote(m.id);
      done.push(m.id);
    } catch { /* behind the leader's log, or promoted meanwhile */ }
  }
  return done;
}

export class ElectionSettler {
  private seen = '';
  private since = 0;
  private busy = false;
  /** When the member list last showed this member alone (0: not alone, or poked since). */
  private aloneAt = 0;

  constructor(private readonly proc: EtcdProcess, private readonly client: EtcdClient) {}

  /** Whether the member still runs with the short timers. */
  get pending(): boolean {
    return !!this.proc.cfg.fastElection;
  }

  /** A member was added through this manager: the next check looks at once. */
  poke(): void {
    this.aloneAt = 0;
  }

  /** One look (a manager's tick calls it): restarts the member when it is time. Never throws. */
  async check(now = Date.now()): Promise<void> {
    if (!this.pending || this.busy) return;
    if (this.aloneAt && now - this.aloneAt < LONE_RECHECK_MS) return;
    this.busy = true;
    try {
      const members = await this.client.memberList();
      this.aloneAt = members.length < 2 ? now : 0;
      const started = (m: { name: string; clientURLs: string[] }): boolean => m.name !== '' && m.clientURLs.length > 0;
      const key = members.map((m) => `${m.id}:${started(m)}:${m.isLearner}`).sort().join(',');
      if (key !== this.seen) {
        this.seen = key;
        this.since = now;
        return;
      }
      await promoteStartedLearners(this.client, members);
      if (members.length < 2 || !members.every(started) || members.some((m) => m.isLearner) || now - this.since < QUIET_MS) return;
      const { leader, memberId } = await this.client.status();
      if (leader === memberId) {
        const peer = members.find((m) => m.id !== memberId && !m.isLearner);
        if (!peer) return;
        await this.client.moveLeader(peer.id);
      }
      const t0 = Date.now();
      // berthd's calls wait for the member to serve again (bounded) instead of failing meanwhile
      const restarted = (async () => {
        await this.proc.restartWithNormalTimers();
        while (Date.now() - t0 < HOLD_MAX_MS && !(await this.client.serving())) await new Promise((r) => setTimeout(r, 20));
      })();
      this.client.hold(restarted);
      await restarted;
      log.info('etcd member restarted with the normal raft timers', { members: members.length, wasLeader: leader === memberId, ms: Date.now() - t0 });
    } catch (e) {
      log.warn('etcd member: could not leave the short raft timers yet', { err: String(e) });
    } finally {
      this.busy = false;
    }
  }
}
