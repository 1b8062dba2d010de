// The Compose loader on its own (no daemon): discovery, names, interpolation,
// .env, merging, profiles, normalisation and Compose's error messages.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadProject, type LoadOptions } from '../src/compose/loader';
import { substitute } from '../src/compose/interpolate';
import { normalizeProjectName } from '../src/compose/discover';
import { parseDotenv } from '../src/compose/dotenv';
import { createHash } from 'node:crypto';
import { serviceHash, serviceHashInput } from '../src/compose/hash';

const roots: string[] = [];
after(() => { for (const r of roots) fs.rmSync(r, { recursive: true, force: true }); });

function project(files: Record<string, string>, dirName = 'My App'): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'compose-loader-'));
  roots.push(root);
  const dir = path.join(root, dirName);
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

const load = (dir: string, o: LoadOptions = {}) => loadProject({ cwd: dir, env: {}, ...o });

test('interpolation: every form, nesting and $$', () => {
  const env: Record<string, string> = { A: 'a', E: '' };
  const look = (n: string) => env[n];
  assert.equal(substitute('$A ${A} $$A $$$A', look), 'a a $A $a');
  assert.equal(substitute('${E:-d} ${E-d} ${U-d} ${U:-d}', look), 'd  d d');
  assert.equal(substitute('${A:+x} ${E:+x} ${E+x} ${U+x}', look), 'x  x ');
  assert.equal(substitute('${U:-${A}-${U:-z}}', look), 'a-z');
  assert.equal(substitute('${A?e} ${E?e}', look), 'a ');
  assert.throws(() => substitute('${E:?need E}', look), /required variable E is missing a value: need E/);
  assert.throws(() => substitute('${U?}', look), /required variable U is missing a value$/);
  assert.equal(substitute('cost $5 and $ alone', look), 'cost $5 and $ alone');
  assert.throws(() => substitute('${', look));
});

test('project name normalised as compose-go, explicit names checked', () => {
  assert.equal(normalizeProjectName('My App.v2'), 'myappv2');
  assert.equal(normalizeProjectName('__x-Y'), 'x-y');
  const dir = project({ 'compose.yaml': 'services:\n  web:\n    image: busybox\n' });
  assert.equal(load(dir).name, 'myapp');
  assert.equal(load(dir, { env: { COMPOSE_PROJECT_NAME: 'fromenv' } }).name, 'fromenv');
  assert.equal(load(dir, { projectName: 'flag', env: { COMPOSE_PROJECT_NAME: 'fromenv' } }).name, 'flag');
  assert.throws(() => load(dir, { projectName: 'Bad Name' }), /invalid project name "Bad Name": must consist only of lowercase alphanumeric characters/);
  const named = project({ 'compose.yaml': 'name: top\nservices:\n  web:\n    image: busybox\n' });
  assert.equal(load(named).name, 'top');
});

test('discovery: parents, override file, compose.yaml first, none found', () => {
  const dir = project({ 'compose.yaml': 'services:\n  web:\n    image: busybox\n    environment: [A=1]\n', 'compose.override.yml': 'services:\n  web:\n    environment: [B=2]\n', 'sub/deeper/.keep': '' });
  const p = load(path.join(dir, 'sub', 'deeper'));
  assert.deepEqual(p.configFiles, [path.join(dir, 'compose.yaml'), path.join(dir, 'compose.override.yml')]);
  assert.equal(p.workingDir, dir);
  assert.deepEqual(p.services.web.environment, { A: '1', B: '2' });
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'compose-none-'));
  roots.push(empty);
  assert.throws(() => load(empty), /no configuration file provided: not found/);
});

test('.env and --env-file feed interpolation; the OS environment wins', () => {
  const dir = project({
    'compose.yaml': 'services:\n  web:\n    image: "busybox:${TAG}"\n    environment:\n      G: ${GREETING:-hi}\n      P: ${PORT}\n',
    '.env': '# comment\nTAG=1.36\nexport GREETING="hello world"\nPORT=80 # trailing\n',
    'other.env': 'TAG=other\n',
  });
  const p = load(dir);
  assert.equal(p.services.web.image, 'busybox:1.36');
  assert.deepEqual(p.services.web.environment, { G: 'hello world', P: '80' });
  assert.equal(load(dir, { env: { TAG: 'os' } }).services.web.image, 'busybox:os');
  assert.equal(load(dir, { envFiles: ['other.env'] }).services.web.image, 'busybox:other');
  const u = load(project({ 'compose.yaml': 'services:\n  web:\n    image: busybox${NOPE}\n' }));
  assert.ok(u.warnings.some((w) => w === 'The "NOPE" variable is not set. Defaulting to a blank string.'), u.warnings.join('\n'));
  assert.throws(() => load(project({ 'compose.yaml': 'services:\n  web:\n    image: ${IMG:?set IMG please}\n' })), /error while interpolating services\.web\.image: required variable IMG is missing a value: set IMG please/);
  assert.deepEqual(parseDotenv("A='lit $X'\nB=\"x\\ny\"\nC=${A}-c\n", 'f'), { A: 'lit $X', B: 'x\ny', C: 'lit $X-c' });
});

test('-f merge rules: maps merge, command replaced, ports/volumes by target, !reset and !override', () => {
  const dir = project({
    'a.yml': 'services:\n  web:\n    image: busybox\n    command: sleep 1\n    ports: ["8080:80"]\n    volumes: ["./a:/data", "./b:/b"]\n    labels: {x: "1"}\n    dns: [1.1.1.1]\n    x-note: keep\n',
    'b.yml': 'services:\n  web:\n    command: ["sleep", "2"]\n    ports: ["9090:90"]\n    volumes: ["./c:/data"]\n    labels: [y=2]\n    dns: 8.8.8.8\n',
    'c.yml': 'services:\n  web:\n    ports: !reset []\n    labels: !override {z: "3"}\n',
  });
  const p = load(dir, { files: ['a.yml', 'b.yml'] });
  const w = p.services.web;
  assert.deepEqual(w.command, ['sleep', '2']);
  assert.deepEqual(w.ports!.map((x) => `${x.published}:${x.target}`), ['8080:80', '9090:90']);
  assert.deepEqual(w.volumes!.map((v) => `${v.source}:${v.target}`), [`${dir}/c:/data`, `${dir}/b:/b`]);
  assert.deepEqual(w.labels, { x: '1', y: '2' });
  assert.deepEqual(w.dns, ['1.1.1.1', '8.8.8.8']);
  assert.equal(w['x-note'], 'keep');
  const r = load(dir, { files: ['a.yml', 'c.yml'] }).services.web;
  assert.equal(r.ports, undefined);
  assert.deepEqual(r.labels, { z: '3' });
});

test('anchors, merge keys, version warning, x- extensions', () => {
  const dir = project({ 'docker-compose.yml': 'version: "3.8"\nx-common: &common\n  image: busybox\n  environment: {A: "1"}\nservices:\n  a:\n    <<: *common\n  b:\n    <<: *common\n    image: other\n' });
  const p = load(dir);
  assert.equal(p.services.a.image, 'busybox');
  assert.equal(p.services.b.image, 'other');
  assert.deepEqual(p.services.b.environment, { A: '1' });
  assert.ok(p.warnings.some((w) => w.endsWith('the attribute `version` is obsolete, it will be ignored, please remove it to avoid potential confusion')));
  assert.deepEqual(Object.keys(p.extensions), ['x-common']);
});

test('profiles: inactive by default, --profile / COMPOSE_PROFILES / a named service enable them', () => {
  const dir = project({ 'compose.yaml': 'services:\n  web:\n    image: busybox\n  debug:\n    image: busybox\n    profiles: [dev]\n    depends_on: [helper]\n  helper:\n    image: busybox\n    profiles: [dev]\n' });
  assert.deepEqual(Object.keys(load(dir).services), ['web']);
  assert.deepEqual(Object.keys(load(dir, { profiles: ['dev'] }).services).sort(), ['debug', 'helper', 'web']);
  assert.deepEqual(Object.keys(load(dir, { env: { COMPOSE_PROFILES: 'dev' } }).services).sort(), ['debug', 'helper', 'web']);
  assert.deepEqual(Object.keys(load(dir, { services: ['debug'] }).services).sort(), ['debug', 'helper', 'web']);
});

test('normalisation: ports, volumes, environment, command, depends_on, networks', () => {
  const dir = project({
    'compose.yaml': [
      'services:',
      '  web:',
      '    image: busybox',
      '    command: sh -c "echo \'a b\'"',
      '    environment: [A=1, B]',
      '    ports: ["127.0.0.1:8000-8001:80-81/udp", 3000, {target: 22, published: 2222}]',
      '    volumes: ["data:/data:ro", "./src:/src", "/anon", {type: tmpfs, target: /t}]',
      '    depends_on: [db]',
      '  db:',
      '    image: busybox',
      '    networks: {back: {aliases: [database]}}',
      'volumes: {data: {}}',
      'networks: {back: {internal: true}, ext: {external: true}}',
    ].join('\n'),
  });
  const p = load(dir);
  const w = p.services.web;
  assert.deepEqual(w.command, ['sh', '-c', "echo 'a b'"]);
  assert.deepEqual(w.environment, { A: '1', B: null });
  assert.deepEqual(w.ports, [
    { mode: 'ingress', host_ip: '127.0.0.1', target: 80, published: '8000', protocol: 'udp' },
    { mode: 'ingress', host_ip: '127.0.0.1', target: 81, published: '8001', protocol: 'udp' },
    { mode: 'ingress', target: 3000, protocol: 'tcp' },
    { mode: 'ingress', target: 22, published: '2222', protocol: 'tcp' },
  ]);
  // compose-go's ParseVolume gives a short-syntax volume empty volume options (they enter the config hash)
  assert.deepEqual(w.volumes, [
    { type: 'volume', source: 'data', target: '/data', read_only: true, volume: {} },
    { type: 'bind', source: path.join(dir, 'src'), target: '/src', bind: { create_host_path: true } },
    { type: 'volume', target: '/anon', volume: {} },
    { type: 'tmpfs', target: '/t' },
  ]);
  assert.deepEqual(w.depends_on, { db: { condition: 'service_started', required: true } });
  assert.deepEqual(w.networks, { default: null });
  assert.deepEqual(p.services.db.networks, { back: { aliases: ['database'] } });
  assert.equal(p.networks.default.name, 'myapp_default');
  assert.equal(p.networks.back.name, 'myapp_back');
  assert.equal(p.networks.ext.name, 'ext');
  assert.equal(p.volumes.data.name, 'myapp_data');
});

test("errors name the file, the key and the line as Compose does", () => {
  const bad = (yaml: string) => {
    const dir = project({ 'compose.yaml': yaml });
    return () => load(dir);
  };
  // Compose's text, then the line the YAML parser saw the key on
  const file = (re: string, line: number) => new RegExp(`^ComposeError: validating .*/compose\\.yaml: ${re} \\(line ${line}\\)$`);
  assert.throws(bad('services:\n  web:\n    image: busybox\n    ports: "80:80"\n'), file('services\\.web\\.ports must be a list', 4));
  assert.throws(bad('services:\n  web:\n    image: busybox\n    bogus: 1\n'), file("services\\.web additional properties 'bogus' not allowed", 4));
  assert.throws(bad('services:\n  web:\n    image: busybox\n    environment: 3\n'), file('services\\.web\\.environment must be a mapping or list', 4));
  assert.throws(bad('services:\n  web:\n    image: busybox\n    depends_on: [db]\n'), /^Error: service "web" depends on undefined service "db": invalid compose project$|service "web" depends on undefined service "db": invalid compose project/);
  assert.throws(bad('services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    depends_on: [a]\n'), /dependency cycle detected: a -> b -> a/);
  assert.throws(bad('services:\n  web:\n    image: busybox\n    volumes: ["data:/d"]\n'), /service "web" refers to undefined volume data: invalid compose project/);
  assert.throws(bad('services:\n  web:\n    image: busybox\n    networks: [nope]\n'), /service "web" refers to undefined network nope: invalid compose project/);
  assert.throws(bad('services:\n  web:\n    image: busybox\n  web:\n    image: x\n'), /compose\.yaml: yaml: line \d+: Map keys must be unique/);
  assert.throws(bad('services:\n  web:\n    build: {}\n    image: [x]\n'), file('services\\.web\\.image must be a string', 4));
  assert.throws(bad('services:\n  web: {}\n'), /service "web" has neither an image nor a build context specified/);
});

test('the full Compose Specification schema: nested keys, enums, merge keys, a valid file passes', () => {
  const err = (yaml: string) => {
    const dir = project({ 'compose.yaml': yaml });
    try {
      load(dir);
    } catch (e) {
      return (e as Error).message.replace(/^validating .*\/compose\.yaml: /, '');
    }
    return 'no error';
  };
  // compose-go's wording (the most specific error of the schema), then the line
  assert.equal(err('services:\n  web:\n    image: busybox\n    environment:\n      FOO: [1]\n'), 'services.web.environment.FOO must be a boolean, null, number or string (line 5)');
  assert.equal(err('services:\n  web:\n    image: busybox\n    depends_on:\n      db:\n        condition: nope\n  db:\n    image: x\n'),
    "services.web.depends_on.db.condition value must be one of 'service_started', 'service_healthy', 'service_completed_successfully' (line 6)");
  assert.equal(err('services:\n  web:\n    image: busybox\n    volumes:\n      - type: tmpfs\n        target: /x\n        foo: 1\n'), "services.web.volumes.0 additional properties 'foo' not allowed (line 7)");
  assert.equal(err('services:\n  web:\n    image: busybox\n    healthcheck:\n      test: true\n'), 'services.web.healthcheck.test must be a string or list (line 5)');
  assert.equal(err('services:\n  web:\n    image: busybox\n    ports: [80, 80]\n'), 'services.web.ports items at 0 and 1 are equal (line 4)');
  assert.equal(err('name: [1]\nservices:\n  web:\n    image: busybox\n'), 'name must be a string (line 1)');
  assert.equal(err('volumes:\n  data:\n    driver: local\n    bogus: 2\nservices:\n  web:\n    image: busybox\n'), "volumes.data additional properties 'bogus' not allowed (line 4)");
  assert.equal(err('networks:\n  n:\n    ipam:\n      config:\n        - subnet: 1\nservices:\n  web:\n    image: busybox\n'), 'networks.n.ipam.config.0.subnet must be a string (line 5)');
  // a key brought in by a merge key is found where it was written
  assert.equal(err('x-base: &b\n  image: busybox\n  bogus: 2\nservices:\n  web:\n    <<: *b\n'), "services.web additional properties 'bogus' not allowed (line 3)");
  // the schema runs after interpolation: a string from the environment is fine where the spec takes one
  assert.equal(err('services:\n  web:\n    image: busybox\n    cpus: ${CPUS:-0.5}\n    x-note: free\n    deploy:\n      resources:\n        limits:\n          memory: 64m\n'), 'no error');
});

test('config hash: stable, ignores build/scale/depends_on/profiles, sees environment', () => {
  const dir = project({ 'compose.yaml': 'services:\n  web:\n    image: busybox\n    environment: [A=1]\n' });
  const h1 = serviceHash(load(dir).services.web);
  assert.match(h1, /^[0-9a-f]{64}$/);
  assert.equal(serviceHash(load(dir).services.web), h1);
  fs.writeFileSync(path.join(dir, 'compose.yaml'), 'services:\n  web:\n    image: busybox\n    environment: {A: "1"}\n    scale: 3\n    profiles: [x]\n');
  assert.equal(serviceHash(load(dir, { profiles: ['x'] }).services.web), h1);
  fs.writeFileSync(path.join(dir, 'compose.yaml'), 'services:\n  web:\n    image: busybox\n    environment: [A=2]\n');
  assert.notEqual(serviceHash(load(dir).services.web), h1);
});

test("config hash: Compose v2's own recorded hash, and its bytes for a service with most keys", () => {
  // pkg/compose/convergence_test.go (TestCreateMobyContainer) in docker/compose records this label for
  // a service with two prioritised networks and no image; build is left out of the hash
  const rec = project({ 'compose.yaml': 'services:\n  test:\n    build: .\n    networks:\n      a: {priority: 10}\n      b: {priority: 100}\nnetworks: {a: {}, b: {}}\n' });
  const recorded = load(rec);
  assert.equal(serviceHash(recorded.services.test, recorded), '8dbce408396f8986266bc5deba0c09cfebac63c95c2238e405c7bee5f1bd84b8');

  const dir = project({
    'compose.yaml': [
      'services:',
      '  web:',
      '    image: nginx:1.25',
      '    command: sh -c "echo <hi> & bye"',
      '    environment: {B: "2", A: 1, U: null}',
      '    env_file: [web.env]',
      '    ports: ["127.0.0.1:8080:80", {target: 443, published: 8443}]',
      '    volumes: ["data:/data:ro", "./html:/usr/share/nginx/html", {type: bind, source: ./conf, target: /etc/nginx/conf.d}]',
      '    healthcheck: {test: curl -f http://localhost, interval: 90s, retries: 3}',
      '    restart: unless-stopped',
      '    stop_grace_period: 1m30s',
      '    mem_limit: 512m',
      '    cpus: 0.5',
      '    extra_hosts: ["b.example:10.0.0.2", "a.example=10.0.0.1"]',
      '    labels: {x.y: z}',
      '    ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 65535}',
      '    depends_on: [db]',
      '    deploy: {replicas: 2, resources: {limits: {memory: 1g}}}',
      '    x-extra: ignored',
      '  db: {image: busybox}',
      'volumes: {data: {}}',
    ].join('\n'),
    'web.env': 'C=3\nA=from-file\n',
  });
  const p = load(dir);
  // what Go's json.Marshal writes for compose-go's ServiceConfig: fields in declaration order, omitempty,
  // maps sorted, HTML escaped, durations and byte sizes through compose-go's marshalers; env_file resolved
  // into environment; build, depends_on, deploy.replicas, scale, pull_policy and profiles cleared
  const json = '{"cpus":0.5,"command":["sh","-c","echo \\u003chi\\u003e \\u0026 bye"],'
    + '"deploy":{"resources":{"limits":{"memory":"1073741824"}},"placement":{}},"entrypoint":null,'
    + '"environment":{"A":"1","B":"2","C":"3","U":null},"extra_hosts":["a.example=10.0.0.1","b.example=10.0.0.2"],'
    + '"healthcheck":{"test":["CMD-SHELL","curl -f http://localhost"],"interval":"1m30s","retries":3},'
    + '"image":"nginx:1.25","labels":{"x.y":"z"},"mem_limit":"536870912","networks":{"default":null},'
    + '"ports":[{"mode":"ingress","host_ip":"127.0.0.1","target":80,"published":"8080","protocol":"tcp"},{"mode":"ingress","target":443,"published":"8443","protocol":"tcp"}],'
    + '"restart":"unless-stopped","stop_grace_period":"1m30s","ulimits":{"nofile":{"soft":1024,"hard":2048},"nproc":65535},'
    + `"volumes":[{"type":"volume","source":"data","target":"/data","read_only":true,"volume":{}},{"type":"bind","source":${JSON.stringify(path.join(dir, 'html'))},"target":"/usr/share/nginx/html","bind":{}},`
    + `{"type":"bind","source":${JSON.stringify(path.join(dir, 'conf'))},"target":"/etc/nginx/conf.d"}]}`;
  assert.equal(serviceHashInput(p.services.web, p), json);
  assert.equal(serviceHash(p.services.web, p), createHash('sha256').update(json).digest('hex'));
  // an env_file change is a config change, as for Compose
  fs.writeFileSync(path.join(dir, 'web.env'), 'C=4\n');
  const changed = load(dir);
  assert.notEqual(serviceHash(changed.services.web, changed), createHash('sha256').update(json).digest('hex'));
});

test('a loaded project is cached by its files, variables and options; changes are seen', () => {
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'compose-cache-'));
  roots.push(cache);
  const old = process.env.XDG_CACHE_HOME;
  process.env.XDG_CACHE_HOME = cache;
  try {
    const dir = project({
      'compose.yaml': 'include: [lib.yaml]\nservices:\n  web:\n    image: busybox\n    environment:\n      - TOKEN=${TOKEN}\n',
      'lib.yaml': 'services:\n  db:\n    image: busybox:1\n',
    });
    const env = { TOKEN: 'one', UNRELATED: 'zz-unrelated-value' };
    const first = load(dir, { env });
    const entries = () => fs.readdirSync(path.join(cache, 'berth', 'compose-projects')).filter((f) => f.endsWith('.json'));
    assert.equal(entries().length, 1);
    const file = path.join(cache, 'berth', 'compose-projects', entries()[0]);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    // the variables themselves are not written, only the model made with them
    assert.doesNotMatch(fs.readFileSync(file, 'utf8'), /zz-unrelated-value/);
    const again = load(dir, { env });
    assert.deepEqual(again, first);
    assert.equal(again.environment.UNRELATED, 'zz-unrelated-value');
    // an included file, a variable, an option: each makes a new model
    fs.writeFileSync(path.join(dir, 'lib.yaml'), 'services:\n  db:\n    image: busybox:2\n');
    assert.equal(load(dir, { env }).services.db.image, 'busybox:2');
    assert.deepEqual(load(dir, { env: { ...env, TOKEN: 'two' } }).services.web.environment, { TOKEN: 'two' });
    assert.equal(load(dir, { env, projectName: 'other' }).name, 'other');
  } finally {
    if (old === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = old;
  }
});

test('extends (same file and file:) and include, paths relative to their own file', () => {
  const dir = project({
    'compose.yaml': [
      'include:',
      '  - lib/db.yaml',
      'services:',
      '  base:',
      '    image: busybox',
      '    environment: {A: "1"}',
      '    command: sleep 1',
      '  web:',
      '    extends: base',
      '    environment: {B: "2"}',
      '  worker:',
      '    extends: {file: common/worker.yaml, service: job}',
      '    command: run-worker',
    ].join('\n'),
    'common/worker.yaml': 'services:\n  job:\n    image: busybox\n    volumes: ["./data:/data"]\n    env_file: job.env\n',
    'common/job.env': 'J=1\n',
    'lib/db.yaml': 'services:\n  db:\n    build: ./dbimage\nvolumes:\n  dbdata: {}\n',
  });
  const p = load(dir);
  assert.deepEqual(p.services.web.environment, { A: '1', B: '2' });
  assert.deepEqual(p.services.web.command, ['sleep', '1']);
  assert.equal(p.services.web.image, 'busybox');
  assert.deepEqual(p.services.worker.command, ['run-worker']);
  assert.equal(p.services.worker.volumes![0].source, path.join(dir, 'common', 'data'));
  assert.equal(p.services.worker.env_file![0].path, path.join(dir, 'common', 'job.env'));
  assert.equal(p.services.db.build!.context, path.join(dir, 'lib', 'dbimage'));
  assert.equal(p.volumes.dbdata.name, 'myapp_dbdata');
  const loop = project({ 'compose.yaml': 'services:\n  a:\n    extends: b\n  b:\n    extends: a\n' });
  assert.throws(() => load(loop), /circular reference with extends/);
  const clash = project({ 'compose.yaml': 'include: [other.yaml]\nservices:\n  db:\n    image: x\n', 'other.yaml': 'services:\n  db:\n    image: y\n' });
  assert.throws(() => load(clash), /imported compose file .*other\.yaml defines conflicting service db/);
});
