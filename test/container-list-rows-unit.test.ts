// GET /containers/json's body from kept entries (container/list-rows.ts) is
// byte for byte what JSON.stringify of the freshly built entries makes, and
// follows every change an entry shows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ListRows } from '../src/container/list-rows';
import { listJson } from '../src/container/view';
import type { ContainerRecord } from '../src/container/types';

function record(i: number): ContainerRecord {
  return {
    id: `${i}`.padStart(64, 'a'),
    name: `c${i}`,
    created: new Date(Date.UTC(2026, 11, 1, 0, 0, i)).toISOString(),
    path: 'sleep',
    args: ['100000'],
    imageId: `sha256:${'b'.repeat(64)}`,
    config: { Labels: { i: String(i), 'com.example': 'é "quoted" \u2028' } },
    hostConfig: { NetworkMode: i % 2 ? 'default' : '' },
    state: { Status: 'running', Running: true, Paused: false, Restarting: false, OOMKilled: false, Dead: false, Pid: 100 + i, ExitCode: 0, Error: '', StartedAt: new Date(Date.now() - i * 61_000).toISOString(), FinishedAt: '0001-01-01T00:00:00Z' },
    networkSettings: { Ports: i % 3 ? {} : { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: String(8000 + i) }], '53/udp': null }, Networks: { bridge: { NetworkID: 'n', IPAddress: `10.0.0.${i}` } } },
    mounts: i % 4 ? [] : [{ Type: 'volume', Name: `v${i}`, Source: '/x', Destination: '/data', Driver: 'local' }],
    extra: {},
    restartCount: 0,
  } as unknown as ContainerRecord;
}

test('list body from kept entries equals JSON.stringify of fresh ones, through every kind of change', () => {
  const rows = new ListRows();
  const list = Array.from({ length: 12 }, (_, i) => record(i));
  const now = Date.now();
  const check = (what: string, image = 'busybox') => {
    const sel = list.map((c) => ({ c, image }));
    const want = `${JSON.stringify(list.map((c) => listJson(c, image)))}\n`;
    assert.equal(rows.body(sel, now).toString(), want, what);
  };
  check('first list');
  check('second list, all kept');
  list[1].name = 'renamed';
  check('rename');
  list[2].state = { ...list[2].state, Status: 'paused' };
  check('pause');
  list[3].networkSettings = { Ports: {}, Networks: {} };
  check('network settings replaced');
  list[4].mounts = [{ Type: 'bind', Source: '/a', Destination: '/b' }] as never;
  check('mounts replaced');
  list[5].config = { ...list[5].config, Labels: { new: 'label' } };
  check('labels replaced');
  list[6].hostConfig.NetworkMode = 'host';
  check('network mode');
  list[7].state.Status = 'exited';
  list[7].state.FinishedAt = new Date(now - 5_000).toISOString();
  check('stopped: status text from the state, entry made again');
  check('image name changed', 'busybox:1.36');
  assert.equal(rows.body([], now).toString(), '[]\n');
});

test('a list of some fields keeps only those keys, in the entry\'s order, and follows changes too', () => {
  const rows = new ListRows();
  const list = Array.from({ length: 6 }, (_, i) => record(i));
  const now = Date.now();
  const check = (what: string, fields: string[]) => {
    const f = new Set(fields);
    const want = `${JSON.stringify(list.map((c) => Object.fromEntries(Object.entries(listJson(c, 'busybox')).filter(([k]) => f.has(k)))))}\n`;
    assert.equal(rows.body(list.map((c) => ({ c, image: 'busybox' })), now, f).toString(), want, what);
  };
  const table = ['Status', 'Id', 'Names', 'Image', 'ImageID', 'Command', 'Created', 'Ports'];
  check('the table\'s fields (asked out of order)', table);
  check('again, kept', table);
  check('no Status: one piece', ['Id']);
  check('only Status', ['Status']);
  check('unknown keys are left out', ['Id', 'Bogus']);
  list[2].name = 'renamed';
  list[3].state = { ...list[3].state, Status: 'paused' };
  check('after a rename and a pause', table);
  // the whole entry is still the whole entry
  assert.equal(rows.body(list.map((c) => ({ c, image: 'busybox' })), now).toString(), `${JSON.stringify(list.map((c) => listJson(c, 'busybox')))}\n`);
});
