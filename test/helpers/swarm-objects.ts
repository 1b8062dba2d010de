// Swarm records read from and written straight into a manager's etcd, for
// tests of the node side: task records as the agents report them, and
// secrets/configs while there is no API for them. Task records written by
// hand are managed by the leader's orchestrator like any other (a task of
// no service is removed, extra slots scaled away), so tests make their
// tasks through POST /services/create instead. The etcd client port is on 127.0.0.1 inside the manager's network namespace, so
// this file is also a small program run there with `ip netns exec`:
//   node swarm-objects.js <data-root> <control-port> <op> <kind> [json|id]
// ops: get, list, create, create-many, put (update whatever the current version is), delete.
import fs from 'node:fs';
import path from 'node:path';
import type { ClusterHost } from './cluster';
import { EtcdClient } from '../../src/swarm/etcd-client';
import { ObjectStore } from '../../src/swarm/object-store';

export type Kind = 'services' | 'tasks' | 'secrets' | 'configs';

/** Records of `kind` in the manager `m`'s store, through a program in its namespace. */
export class SwarmObjects {
  constructor(private readonly m: ClusterHost, private readonly port = 2377) {}

  private async call(op: string, kind: Kind, arg?: unknown): Promise<unknown> {
    const args = [__filename.replace(/\.ts$/, '.js'), this.m.dataRoot, String(this.port), op, kind];
    if (arg !== undefined) args.push(typeof arg === 'string' ? arg : JSON.stringify(arg));
    const r = await this.m.exec(process.execPath, args, { timeout: 20_000 });
    if (r.code !== 0) throw new Error(`swarm-objects ${op} ${kind} failed (${r.code}): ${r.stderr}`);
    return r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
  }

  get<T = Record<string, unknown>>(kind: Kind, id: string): Promise<(T & { index: number }) | undefined> {
    return this.call('get', kind, id) as Promise<(T & { index: number }) | undefined>;
  }

  list<T = Record<string, unknown>>(kind: Kind): Promise<Array<T & { index: number }>> {
    return this.call('list', kind) as Promise<Array<T & { index: number }>>;
  }

  async create(kind: Kind, value: { id: string }, name?: string): Promise<void> {
    await this.call('create', kind, { value, name });
  }

  /** Creates several records in one transaction (at most 128). */
  async createMany(kind: Kind, values: Array<{ id: string }>): Promise<void> {
    await this.call('create-many', kind, values);
  }

  /** Merges `patch` into the current record (fresh read, compare-and-swap, retried). */
  async patch(kind: Kind, id: string, patch: Record<string, unknown>): Promise<void> {
    await this.call('put', kind, { id, patch });
  }

  async delete(kind: Kind, id: string): Promise<void> {
    await this.call('delete', kind, id);
  }
}

async function main(argv: string[]): Promise<void> {
  const [dataRoot, port, op, kind, arg] = argv;
  const certs = path.join(dataRoot, 'swarm', 'certificates');
  const read = (f: string) => fs.readFileSync(path.join(certs, f), 'utf8');
  const etcd = new EtcdClient(`https://127.0.0.1:${Number(port) + 2}`, { ca: read('etcd-ca.crt'), cert: read('etcd.crt'), key: read('etcd.key') });
  const store = new ObjectStore(etcd);
  const k = kind as Kind;
  let out: unknown;
  try {
    if (op === 'get') {
      const r = await store.get(k, arg);
      out = r ? { ...r.value, index: r.index } : undefined;
    } else if (op === 'list') {
      out = (await store.list(k)).map((r) => ({ ...r.value, index: r.index }));
    } else if (op === 'create') {
      const { value, name } = JSON.parse(arg) as { value: never; name?: string };
      await store.create(k, value, name);
    } else if (op === 'create-many') {
      await store.batch((JSON.parse(arg) as Array<{ id: string }>).map((value) => ({ op: 'create' as const, kind: k, value })));
    } else if (op === 'put') {
      const { id, patch } = JSON.parse(arg) as { id: string; patch: Record<string, unknown> };
      for (let i = 0; ; i++) {
        const cur = await store.get(k, id);
        if (!cur) throw new Error(`no ${kind} ${id}`);
        try {
          await store.update(k, { ...cur.value, ...patch, updatedAt: new Date().toISOString() } as never, cur.index);
          break;
        } catch (e) {
          if (i >= 10 || !/out of sequence/.test((e as Error).message)) throw e;
        }
      }
    } else if (op === 'delete') {
      const cur = await store.get(k, arg);
      if (cur) await store.delete(k, arg, cur.index);
    } else {
      throw new Error(`unknown op ${op}`);
    }
  } finally {
    etcd.close();
  }
  if (out !== undefined) process.stdout.write(JSON.stringify(out) + '\n');
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exit(1);
  });
}
