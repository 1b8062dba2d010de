// Pure tests of the CLI's building blocks: flag parser, Go template subset,
// tabwriter, units, run-flag translation and the stream demuxer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlagSet, FlagError, parseFilters, parseDuration } from '../src/cli/flags';
import { Template, renderTemplate, sprintf } from '../src/cli/template';
import { tabwrite } from '../src/cli/tabwriter';
import { formatRows } from '../src/cli/format';
import { humanSize, humanDuration, bytesSize, goG, shortId, ellipsis } from '../src/cli/units';
import { buildCreate, containerFlags, parsePorts, ramInBytes } from '../src/cli/commands/container/opts';
import { displayablePorts, containerContext, psHeaders } from '../src/cli/commands/container/list';
import { imageRows } from '../src/cli/commands/image/list';
import { Demuxer, encodeFrame, type Frame } from '../src/client/stream';
import { parseEndpoint } from '../src/client/host';
import { encodeQuery } from '../src/client/transport';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { groups, topLevel, loadGroup, loadCommand } from '../src/cli/registry';
import '../src/cli/commands';

const runFlags = new FlagSet([
  ...containerFlags,
  { name: 'detach', short: 'd', type: 'bool' },
  { name: 'sig-proxy', type: 'bool', default: true },
], false);

test('flags: combined shorts, attached values, = forms, lists and interspersed=false', () => {
  const p = runFlags.parse(['-dit', '-eA=1', '--env', 'B=2', '-e=C=3', '--name=web', '-p', '8080:80', '-v/x:/y:ro', 'busybox', 'sh', '-c', 'echo -d --rm']);
  assert.equal(p.flags.detach, true);
  assert.equal(p.flags.interactive, true);
  assert.equal(p.flags.tty, true);
  assert.deepEqual(p.flags.env, ['A=1', 'B=2', 'C=3']);
  assert.equal(p.flags.name, 'web');
  assert.deepEqual(p.flags.publish, ['8080:80']);
  assert.deepEqual(p.flags.volume, ['/x:/y:ro']);
  assert.deepEqual(p.args, ['busybox', 'sh', '-c', 'echo -d --rm']);
  assert.ok(p.changed.has('name') && !p.changed.has('rm'));
});

test('flags: -- ends flags, bool =false, int parse errors, unknown flags, missing values', () => {
  const fs = new FlagSet([
    { name: 'all', short: 'a', type: 'bool' },
    { name: 'time', short: 't', type: 'int' },
    { name: 'filter', short: 'f', type: 'list' },
  ]);
  const p = fs.parse(['x', '-a=false', '--filter', 'a=b', 'y', '--', '-t', '--all']);
  assert.equal(p.flags.all, false);
  assert.deepEqual(p.args, ['x', 'y', '-t', '--all']);
  assert.equal(fs.parse(['-t5']).flags.time, 5);
  assert.throws(() => fs.parse(['-t', 'abc']), (e: Error) => e instanceof FlagError && e.message === 'invalid argument "abc" for "-t, --time" flag: strconv.ParseInt: parsing "abc": invalid syntax');
  assert.throws(() => fs.parse(['--foo']), /unknown flag: --foo/);
  assert.throws(() => fs.parse(['-z']), /unknown shorthand flag: 'z' in -z/);
  assert.throws(() => fs.parse(['--time']), /flag needs an argument: --time/);
  assert.throws(() => fs.parse(['-t']), /flag needs an argument: 't' in -t/);
  assert.deepEqual(parseFilters(['label=a=b', 'status=exited', 'status=created']), { label: ['a=b'], status: ['exited', 'created'] });
  assert.equal(parseDuration('1m30s'), 90000);
  assert.equal(parseDuration('abc'), undefined);
});

test('template: fields, json, pipes, range/if/else, index, join, functions, variables', () => {
  const data = { ID: 'abc', Config: { Labels: { a: '1', 'x.y': 'z' }, Env: ['A=1', 'B=2'], Tty: false }, State: { Running: true, Pid: 42 }, Name: '/web', N: null };
  assert.equal(renderTemplate('{{.ID}} {{.State.Pid}} {{.State.Running}}', data), 'abc 42 true');
  assert.equal(renderTemplate('{{json .Config.Labels}}', data), '{"a":"1","x.y":"z"}');
  assert.equal(renderTemplate('{{.Config.Env | json}}', data), '["A=1","B=2"]');
  assert.equal(renderTemplate('{{index .Config.Labels "x.y"}}', data), 'z');
  assert.equal(renderTemplate('{{join .Config.Env ","}}', data), 'A=1,B=2');
  assert.equal(renderTemplate('{{range .Config.Env}}[{{.}}]{{end}}', data), '[A=1][B=2]');
  assert.equal(renderTemplate('{{range $i, $e := .Config.Env}}{{$i}}={{$e}};{{end}}', data), '0=A=1;1=B=2;');
  assert.equal(renderTemplate('{{range $k, $v := .Config.Labels}}{{$k}}:{{$v}} {{end}}', data), 'a:1 x.y:z ');
  assert.equal(renderTemplate('{{if .Config.Tty}}tty{{else if .State.Running}}running{{else}}no{{end}}', data), 'running');
  assert.equal(renderTemplate('{{with .State}}{{.Pid}}{{end}}', data), '42');
  assert.equal(renderTemplate('{{lower "ABC"}} {{upper .ID}} {{title "hello world"}} {{truncate .ID 2}}', data), 'abc ABC Hello World ab');
  assert.equal(renderTemplate('{{printf "%s-%d|%5s|%-4s|" .ID .State.Pid "x" "y"}}', data), 'abc-42|    x|y   |');
  assert.equal(renderTemplate('{{len .Config.Env}} {{eq .ID "abc"}} {{ne .State.Pid 42}} {{and .ID .State.Running}} {{or .N "d"}} {{not .Config.Tty}}', data), '2 true false true d true');
  assert.equal(renderTemplate('{{$n := .Name}}{{slice $n 1}}', data), 'web');
  assert.equal(renderTemplate('{{- .ID -}}  \n {{/* c */}}x', data), 'abcx');
  assert.equal(renderTemplate('{{.Config}}', { Config: { b: [1, 2], a: 'x' } }), 'map[a:x b:[1 2]]');
  assert.equal(renderTemplate('{{.Missing}}', {}), '<no value>');
  assert.equal(renderTemplate('{{(index .Config.Env 1)}}', data), 'B=2');
  assert.equal(renderTemplate('{{json .}}', { a: '<&>' }), '{"a":"<&>"}');
  assert.throws(() => new Template('{{nosuch .X}}'), /function "nosuch" not defined/);
  assert.throws(() => new Template('{{if .X}}'), /template parsing error/);
  assert.equal(sprintf('%q %v %t %x %05d', 'a', [1], true, 255, 42), '"a" [1] true ff 00042');
});

test('tabwriter and table formats match docker layout', () => {
  assert.equal(tabwrite('A\tBB\tC\nxxxxxxxxxxxx\ty\tz\n'), 'A              BB        C\nxxxxxxxxxxxx   y         z\n');
  const out = formatRows({ format: 'table', defaultTable: 'table {{.ID}}\t{{.Name}}', headers: { ID: 'ID', Name: 'NAME' } }, [{ ID: '1', Name: 'a' }, { ID: '22', Name: 'bbb' }]);
  assert.equal(out, 'ID        NAME\n1         a\n22        bbb\n');
  const custom = formatRows({ format: 'table {{.Name}}\\t{{.ID}}', defaultTable: '', headers: { ID: 'ID', Name: 'NAME' } }, [{ ID: '1', Name: 'a' }]);
  assert.equal(custom, 'NAME      ID\na         1\n');
  assert.equal(formatRows({ format: '{{.ID}}:{{.Name}}', defaultTable: '', headers: {} }, [{ ID: '1', Name: 'a' }]), '1:a\n');
  assert.equal(formatRows({ format: 'json', defaultTable: '', headers: {} }, [{ ID: '1' }]), '{"ID":"1"}\n');
  // Empty list still prints the header.
  assert.equal(formatRows({ format: 'table', defaultTable: 'table {{.ID}}', headers: { ID: 'CONTAINER ID' } }, []), 'CONTAINER ID\n');
});

test('units: sizes, durations, ids', () => {
  assert.equal(humanSize(4_860_000, 3), '4.86MB');
  assert.equal(humanSize(1_981_440, 3), '1.98MB');
  assert.equal(humanSize(0, 3), '0B');
  assert.equal(humanSize(999, 3), '999B');
  assert.equal(humanSize(1000, 3), '1kB');
  assert.equal(humanSize(123456789012, 3), '123GB');
  assert.equal(bytesSize(25_275_482_112), '23.54GiB');
  assert.equal(goG(999.9, 3), '1e+03');
  assert.equal(humanDuration(500), 'Less than a second');
  assert.equal(humanDuration(1000), '1 second');
  assert.equal(humanDuration(45_000), '45 seconds');
  assert.equal(humanDuration(90_000), 'About a minute');
  assert.equal(humanDuration(150_000), '2 minutes');
  assert.equal(humanDuration(3_600_000), 'About an hour');
  assert.equal(humanDuration(5 * 3_600_000), '5 hours');
  assert.equal(humanDuration(3 * 86_400_000), '3 days');
  assert.equal(humanDuration(800 * 86_400_000), '2 years');
  assert.equal(shortId('sha256:0123456789abcdef0123'), '0123456789ab');
  assert.equal(ellipsis('sh -c while true; do sleep 1; done', 20), 'sh -c while true; d…');
});

test('run flags become Config/HostConfig as docker sends them', () => {
  const p = runFlags.parse(['--rm', '-e', 'A=1', '-p', '127.0.0.1:8080:80/udp', '-p', '9000-9001:90-91', '-v', 'data:/data', '-v', '/anon',
    '-m', '512m', '--cpus', '1.5', '--restart', 'on-failure:3', '-l', 'k=v', '-w', '/tmp', '-u', '1000:1000', '--entrypoint', '', '--stop-timeout', '5',
    '--ulimit', 'nofile=100:200', '--tmpfs', '/run:size=1m', '--network', 'net1', '--network-alias', 'web', 'busybox', 'echo', 'hi']);
  assert.throws(() => buildCreate(p, false), /conflicting options: cannot specify both --restart and --rm/);
  const p2 = runFlags.parse(['-e', 'A=1', '-p', '127.0.0.1:8080:80/udp', '-p', '9000-9001:90-91', '-v', 'data:/data', '-v', '/anon',
    '-m', '512m', '--cpus', '1.5', '--restart', 'on-failure:3', '-l', 'k=v', '-w', '/tmp', '-u', '1000:1000', '--entrypoint', '', '--stop-timeout', '5',
    '--ulimit', 'nofile=100:200', '--tmpfs', '/run:size=1m', '--network', 'net1', '--network-alias', 'web', '-i', 'busybox', 'echo', 'hi']);
  const { body, image } = buildCreate(p2, false);
  const hc = body.HostConfig as Record<string, any>;
  assert.equal(image, 'busybox');
  assert.deepEqual(body.Cmd, ['echo', 'hi']);
  assert.deepEqual(body.Entrypoint, ['']);
  assert.deepEqual(body.Env, ['A=1']);
  assert.deepEqual(body.Labels, { k: 'v' });
  assert.equal(body.WorkingDir, '/tmp');
  assert.equal(body.User, '1000:1000');
  assert.equal(body.StopTimeout, 5);
  assert.equal(body.AttachStdin, true);
  assert.equal(body.OpenStdin, true);
  assert.equal(body.StdinOnce, true);
  assert.deepEqual(body.Volumes, { '/anon': {} });
  assert.deepEqual(hc.Binds, ['data:/data']);
  assert.deepEqual(hc.PortBindings['80/udp'], [{ HostIp: '127.0.0.1', HostPort: '8080' }]);
  assert.deepEqual(hc.PortBindings['91/tcp'], [{ HostIp: '', HostPort: '9001' }]);
  assert.deepEqual(Object.keys(body.ExposedPorts!).sort(), ['80/udp', '90/tcp', '91/tcp']);
  assert.equal(hc.Memory, 512 * 1024 * 1024);
  assert.equal(hc.NanoCpus, 1.5e9);
  assert.deepEqual(hc.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 3 });
  assert.deepEqual(hc.Ulimits, [{ Name: 'nofile', Soft: 100, Hard: 200 }]);
  assert.deepEqual(hc.Tmpfs, { '/run': 'size=1m' });
  assert.equal(hc.NetworkMode, 'net1');
  assert.deepEqual(body.NetworkingConfig?.EndpointsConfig, { net1: { Aliases: ['web'] } });
  const d = buildCreate(runFlags.parse(['-d', 'busybox']), true).body;
  assert.equal(d.AttachStdout, false);
  assert.equal((d.HostConfig as any).NetworkMode, 'default');
  assert.throws(() => ramInBytes('12x', '-m, --memory'), /invalid size: '12x'/);
  assert.throws(() => parsePorts(['1-3:80-81'], []), /invalid ranges/);
  assert.deepEqual(parsePorts(['1-3:80'], []).bindings['80/tcp'], [{ HostIp: '', HostPort: '1-3' }]);
});

test('ps and images rows as docker shows them', () => {
  assert.equal(displayablePorts([
    { IP: '0.0.0.0', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' },
    { PrivatePort: 443, Type: 'tcp' }, { PrivatePort: 444, Type: 'tcp' },
    { IP: '::', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' },
  ]), '443-444/tcp, 0.0.0.0:8080->80/tcp, [::]:8080->80/tcp');
  const c = containerContext({
    Id: 'a'.repeat(64), Names: ['/web'], Image: 'busybox', ImageID: 'sha256:' + 'b'.repeat(64), Command: 'sh -c "sleep 1000; echo done"',
    Created: Math.floor(Date.now() / 1000) - 130, Ports: [], Labels: { z: '1', a: '2' }, State: 'running', Status: 'Up 2 minutes',
  }, true);
  const out = formatRows({ format: 'table', defaultTable: 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}', headers: psHeaders }, [c]);
  const lines = out.split('\n');
  assert.match(lines[0], /^CONTAINER ID   IMAGE     COMMAND                   CREATED         STATUS         PORTS     NAMES$/);
  assert.match(lines[1], /^aaaaaaaaaaaa   busybox   "sh -c \\"sleep 1000; …"   2 minutes ago   Up 2 minutes             web$/);
  assert.equal(new Template('{{.Labels}} {{.Label "a"}}').execute(c), 'a=2,z=1 2');
  const rows = imageRows({ Id: 'sha256:' + 'c'.repeat(64), ParentId: '', RepoTags: ['busybox:latest', 'docker.io/library/busybox:1', 'reg:5000/x/y:t'], RepoDigests: [], Created: 0, Size: 1, SharedSize: -1, Labels: null, Containers: -1 }, false, true);
  assert.deepEqual(rows.map((r) => `${r.Repository}:${r.Tag}:${r.ID}`), ['busybox:latest:cccccccccccc', 'busybox:1:cccccccccccc', 'reg:5000/x/y:t:cccccccccccc']);
  assert.deepEqual(imageRows({ Id: 'sha256:d', ParentId: '', RepoTags: [], RepoDigests: [], Created: 0, Size: 1, SharedSize: -1, Labels: null, Containers: -1 }, false, true).map((r) => r.Repository), ['<none>']);
});

test('client: demuxer handles split frames; hosts and queries parse as docker does', () => {
  const d = new Demuxer();
  const got: Frame[] = [];
  d.on('data', (f: Frame) => got.push(f));
  const all = Buffer.concat([encodeFrame(1, Buffer.from('out')), encodeFrame(2, Buffer.from('err!')), encodeFrame(1, Buffer.alloc(0))]);
  for (let i = 0; i < all.length; i += 3) d.write(all.subarray(i, i + 3));
  d.end();
  assert.deepEqual(got.map((f) => [f.stream, f.data.toString()]), [[1, 'out'], [2, 'err!'], [1, '']]);
  assert.deepEqual(parseEndpoint({ host: 'unix:///x.sock', env: {} }), { raw: 'unix:///x.sock', kind: 'unix', socketPath: '/x.sock', basePath: '' });
  const t = parseEndpoint({ host: 'tcp://127.0.0.1:2375', env: {} });
  assert.equal(t.hostname, '127.0.0.1');
  assert.equal(t.port, 2375);
  assert.equal(parseEndpoint({ env: { BERTH_HOST: 'unix:///b.sock', DOCKER_HOST: 'unix:///d.sock' } }).socketPath, '/b.sock');
  assert.equal(parseEndpoint({ env: {} }).socketPath, '/run/berth/berth.sock');
  assert.equal(encodeQuery({ all: true, limit: 3, filters: { status: ['exited'] }, x: undefined }), '?all=1&limit=3&filters=%7B%22status%22%3A%5B%22exited%22%5D%7D');
});

test('registry: lazy entries match their modules; start-up loads no command module', async () => {
  const entries = [...topLevel.values()];
  for (const g of [...groups.keys()]) entries.push(...(await loadGroup(g))!.commands);
  assert.ok(groups.get('network')!.commands.length > 0 && groups.get('volume')!.commands.length > 0);
  for (const e of entries) {
    const c = await loadCommand(e);
    assert.equal(c.name, e.name);
    assert.deepEqual(c.aliases ?? [], e.aliases ?? [], `aliases of ${e.name}`);
    assert.equal(typeof c.run, 'function');
  }
  // What `berth <anything>` pays before dispatch: main and the registry, not the commands.
  const main = path.join(__dirname, '..', 'src', 'cli', 'main.js');
  const loaded = execFileSync(process.execPath, ['-e', `require(${JSON.stringify(main)}); console.log(Object.keys(require.cache).join('\\n'))`], { encoding: 'utf8', timeout: 20_000 });
  for (const heavy of ['/commands/container/run.js', '/commands/container/list.js', '/commands/network/index.js', '/completion.js', 'node_modules/']) {
    assert.ok(!loaded.includes(heavy), `${heavy} loaded at start-up:\n${loaded}`);
  }
});

test('a template of plain fields prints what the executor prints, for every kind of value', () => {
  const t = new Template('{{.A}}\t{{.B}} x');
  const general = new Template('{{.A}}\t{{.B}} x{{if false}}{{end}}'); // not plain: always the executor
  for (const row of [{ A: 'a', B: 'b' }, { A: 1, B: 'b' }, { A: null, B: true }, { A: '', B: [1, 2] }, { A: 'a', B: { k: 'v' } }]) {
    assert.equal(t.execute(row), general.execute(row), JSON.stringify(row));
  }
  // a missing field prints as the executor prints it; a getter is read like a field
  assert.equal(t.execute({ A: 'a' }), general.execute({ A: 'a' }));
  assert.equal(t.execute({ A: 'a', get B() { return 'lazy'; } }), 'a\tlazy x');
});

test('tabwriter counts runes: a cell with surrogate pairs aligns like its code points', () => {
  assert.equal(tabwrite('a\u{1F600}\u{1F600}\tx\nbbb\ty\n', { minwidth: 0, padding: 1 }), 'a\u{1F600}\u{1F600} x\nbbb y\n');
});

test('ps context: fields computed on demand equal the eager ones; json has them all', () => {
  const c = { Id: 'f'.repeat(64), Names: ['/web', '/other/alias'], Image: 'docker.io/library/busybox:latest', ImageID: 'sha256:' + 'e'.repeat(64), Command: 'sleep 100000 and a long tail', Created: 1700000000, Ports: [], Labels: { b: '2', a: '1' }, State: 'running', Status: 'Up 2 minutes', Mounts: [{ Name: 'vol', Source: '/x', Driver: 'local' }], NetworkSettings: { Networks: { bridge: {} } } } as any;
  const ctx = containerContext(c, true);
  assert.equal(ctx.ID, 'f'.repeat(12));
  assert.equal(ctx.Names, 'web');
  assert.equal(ctx.Image, 'busybox:latest');
  assert.equal(ctx.Command, '"sleep 100000 and a …"');
  assert.equal(ctx.Labels, 'a=1,b=2');
  assert.equal(ctx.LocalVolumes, '1');
  const j = JSON.parse(renderTemplate('{{json .}}', ctx));
  assert.deepEqual(Object.keys(j), Object.keys(j).sort());
  assert.equal(j.Image, 'busybox:latest');
  assert.equal(j.Networks, 'bridge');
  assert.equal(renderTemplate('{{.Label "a"}}', ctx), '1');
});

test('a table made from cells is the table made from text: tabs, newlines, runes, non-strings, empty', () => {
  // formatRows takes cells from plain templates (Template.cells) and falls
  // back to the text for anything a cell cannot hold; both must print what
  // the tabwriter prints for the executor's text.
  const viaText = (format: string, headers: Record<string, string>, rows: unknown[]) => {
    const body = format.slice('table'.length).trim().replace(/\\t/g, '\t');
    const t = new Template(`${body}{{if false}}{{end}}`); // never plain: the executor's text
    let header = '';
    try { header = t.execute(headers); } catch { header = ''; }
    return tabwrite((header ? `${header}\n` : '') + rows.map((r) => `${t.execute(r)}\n`).join(''));
  };
  const headers = { A: 'A', B: 'BEE', C: 'C' };
  const cases: unknown[][] = [
    [],
    [{ A: 'a', B: 'b', C: 'c' }, { A: 'aaaaaaaaaaaaaaa', B: '', C: 'cc' }],
    [{ A: 'a\u{1F600}\u{1F600}', B: 'b', C: 'c' }, { A: 'x', B: 'é', C: '' }],
    [{ A: 'a', B: 'has\ttab', C: 'c' }, { A: 'b', B: 'ok', C: 'c' }],
    [{ A: 'a', B: 'two\nlines', C: 'c' }],
    [{ A: 1, B: null, C: true }, { A: 'a', B: ['x'], C: { k: 1 } }],
    [{ A: 'only A' }],
  ];
  for (const format of ['table {{.A}}\\t{{.B}}\\t{{.C}}', 'table {{.A}}-{{.B}}\\tx\\t{{.C}} y', 'table {{.A}}\\t\\t{{.C}}']) {
    for (const rows of cases) {
      assert.equal(formatRows({ format, defaultTable: '', headers }, rows), viaText(format, headers, rows), `${format} ${JSON.stringify(rows)}`);
    }
  }
  const t = new Template('{{.A}}\t{{.B}}');
  assert.deepEqual(t.cells({ A: 'a', B: 'b' }), ['a', 'b']);
  assert.equal(t.cells({ A: 'a', B: 'b\tc' }), undefined);
  assert.equal(new Template('{{.A}}\n{{.B}}').cells({ A: 'a', B: 'b' }), undefined);
  assert.equal(new Template('{{.A | lower}}').cells({ A: 'a' }), undefined);
});
