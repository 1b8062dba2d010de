// GET /containers/json's body as text, each entry's JSON kept from one list
// to the next: at 1,000 containers building and serializing the entries
// was most of the daemon's time for `ps` (~10 ms of ~12), and almost none
// of it changes between two lists. Only "Status" ("Up 3 minutes") is made
// per list; the text around it is reused while every field the entry shows
// is the same value (scalars) or the same object (the parts the daemon
// replaces as a whole when they change: network settings, mounts, labels,
// command args — nothing edits them in place). A list of only some fields
// (`berth-fields`, Berth's own query parameter) is cut the same way and
// kept beside the whole entry.
import type { ContainerRecord } from './types';
import { listJson, statusText } from './view';

interface Entry {
  name: string;
  image: string;
  imageId: string;
  state: string;
  mode: string | undefined;
  path: string;
  args: unknown;
  labels: unknown;
  ns: unknown;
  mounts: unknown;
  /** `{"Id":…,"State":"running","Status":` */
  head: Buffer;
  /** `,"HostConfig":…}` */
  tail: Buffer;
  /** The last field subset asked for: its key, and the entry's text cut the same way (no tail: no Status in it). */
  part?: { key: string; head: Buffer; tail?: Buffer };
}

const COMMA = Buffer.from(',');
const OPEN = Buffer.from('[');
const CLOSE = Buffer.from(']\n');

function fresh(e: Entry, c: ContainerRecord, image: string): boolean {
  return e.name === c.name && e.image === image && e.imageId === c.imageId && e.state === c.state.Status
    && e.mode === c.hostConfig.NetworkMode && e.path === c.path && e.args === c.args
    && e.labels === c.config.Labels && e.ns === c.networkSettings && e.mounts === c.mounts;
}

/** The text of `o` with only `keys`, cut around Status: its head and tail, or the whole as head when Status is not kept. */
function cut(o: Record<string, unknown>, keys: string[]): { head: Buffer; tail?: Buffer } {
  const at = keys.indexOf('Status');
  const half = (ks: string[]) => JSON.stringify(Object.fromEntries(ks.map((k) => [k, o[k]])));
  if (at < 0) return { head: Buffer.from(half(keys)) };
  const before = half(keys.slice(0, at));
  const after = half(keys.slice(at + 1));
  return {
    head: Buffer.from(before === '{}' ? '{"Status":' : `${before.slice(0, -1)},"Status":`),
    tail: Buffer.from(after === '{}' ? '}' : `,${after.slice(1)}`),
  };
}

/** The entry `o` cut to `fields` (named `key`: the fields joined, as the request gave them). */
function partOf(o: Record<string, unknown>, fields: Set<string>, key: string): NonNullable<Entry['part']> {
  return { key, ...cut(o, Object.keys(o).filter((k) => fields.has(k))) };
}

function entry(c: ContainerRecord, image: string, fields?: Set<string>, key = ''): Entry {
  // listJson's own object, cut around Status: the text is what JSON.stringify of the whole makes
  const o = listJson(c, image);
  const keys = Object.keys(o);
  const { head, tail } = cut(o, keys);
  const e: Entry = {
    name: c.name, image, imageId: c.imageId, state: c.state.Status, mode: c.hostConfig.NetworkMode,
    path: c.path, args: c.args, labels: c.config.Labels, ns: c.networkSettings, mounts: c.mounts,
    head, tail: tail!,
  };
  if (fields) e.part = partOf(o, fields, key);
  return e;
}

export class ListRows {
  // per record object: a removed container's entry goes with it
  private entries = new WeakMap<ContainerRecord, Entry>();

  /**
   * The JSON array of the list entries for these containers (JSON.stringify's
   * text, and a newline); with `fields`, each entry has only those keys.
   */
  body(list: Array<{ c: ContainerRecord; image: string }>, now = Date.now(), fields?: Set<string>): Buffer {
    const parts: Buffer[] = [OPEN];
    const key = fields ? [...fields].join(',') : '';
    for (let i = 0; i < list.length; i++) {
      const { c, image } = list[i];
      let e = this.entries.get(c);
      if (!e || !fresh(e, c, image)) {
        e = entry(c, image, fields, key);
        this.entries.set(c, e);
      } else if (fields && e.part?.key !== key) {
        e.part = partOf(listJson(c, image), fields, key);
      }
      const t = fields ? e.part! : e;
      if (i > 0) parts.push(COMMA);
      if (t.tail) parts.push(t.head, Buffer.from(JSON.stringify(statusText(c, now))), t.tail);
      else parts.push(t.head);
    }
    parts.push(CLOSE);
    return Buffer.concat(parts);
  }
}
