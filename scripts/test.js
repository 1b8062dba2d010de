#!/usr/bin/env node
// The whole test suite: build, then every dist/test/**/*.test.js under
// node:test, a few files at a time (each file runs its own private berthd).
// Usage: npm test [-- <name filter>...]
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
if (process.getuid && process.getuid() !== 0) {
  // As the README's quickstart: a sudoer runs the same command, we re-run it as root.
  const sudo = (process.env.PATH || '').split(':').map((d) => path.join(d, 'sudo')).find((p) => fs.existsSync(p));
  if (!sudo) {
    console.error('the test suite runs as root (real runc, mounts, namespaces, iptables) and sudo is not installed: run it as root');
    process.exit(1);
  }
  console.error('the test suite runs as root: re-running under sudo');
  // sudo resets the environment: hand the suite's settings over explicitly.
  const pass = Object.entries(process.env).filter(([k]) => /^BERTH_/.test(k)).map(([k, v]) => `${k}=${v}`);
  const r = spawnSync(sudo, ['env', ...pass, process.execPath, __filename, ...process.argv.slice(2)], { stdio: 'inherit', cwd: root });
  process.exit(r.status ?? 1);
}
// tsc through node itself: under sudo's secure_path npx may not be found.
const build = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc', { paths: [root] }), '-p', '.'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
// The CLI bundle bin/berth runs (scripts/bundle.js).
const bundle = spawnSync(process.execPath, [path.join(root, 'scripts', 'bundle.js')], { cwd: root, stdio: 'inherit' });
if (bundle.status !== 0) process.exit(bundle.status ?? 1);

function find(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...find(p));
    else if (e.name.endsWith('.test.js')) out.push(p);
  }
  return out;
}
const filters = process.argv.slice(2);
const files = find(path.join(root, 'dist', 'test'))
  // matched against `test/<name>.test.js`, not the checkout's own path (a checkout under .../build/ matched every file)
  .filter((f) => filters.length === 0 || filters.some((x) => path.relative(path.join(root, 'dist'), f).includes(x)))
  .sort();
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
const concurrency = process.env.BERTH_TEST_CONCURRENCY || '3';
// Files that start several engines at once (namespaced hosts, etcd members)
// run after the rest, one at a time: on 2 cores they would starve the other
// files' timing, and each other's.
const heavy = (f) => /[/\\](cluster-harness|swarm-(single|cluster|cli|agent|services|services-e2e|service-cli|update|secrets|overlay|vip|mesh))\.test\.js$/.test(f);
const phases = [
  { files: files.filter((f) => !heavy(f)), concurrency },
  { files: files.filter(heavy), concurrency: '1' },
].filter((p) => p.files.length > 0);
const started = Date.now();
const deadline = started + 75 * 60 * 1000; // a hung test process must not outlive CI's 90 minutes
let status = 0;
let tap = '';
for (const phase of phases) {
  // spec for people, tap into a file for the closing count line.
  const tapFile = path.join(require('node:os').tmpdir(), `berth-tests-${process.pid}.tap`);
  const r = spawnSync(
    process.execPath,
    [
      '--test', `--test-concurrency=${phase.concurrency}`, '--test-timeout=600000',
      '--test-reporter=spec', '--test-reporter-destination=stdout',
      '--test-reporter=tap', `--test-reporter-destination=${tapFile}`,
      ...phase.files,
    ],
    { cwd: root, stdio: 'inherit', timeout: Math.max(1000, deadline - Date.now()), killSignal: 'SIGKILL' },
  );
  if (r.error) console.error(`test run stopped: ${r.error.message}`);
  try {
    tap += fs.readFileSync(tapFile, 'utf8') + '\n';
    fs.rmSync(tapFile, { force: true });
  } catch { /* runner died before writing */ }
  if (r.status !== 0) status = r.status ?? 1;
}
const count = (name) => {
  let n = 0;
  for (const m of tap.matchAll(new RegExp(`^# ${name} (\\d+)$`, 'gm'))) n += Number(m[1]);
  return n;
};
const secs = Math.round((Date.now() - started) / 1000);
console.log(`\n${files.length} test files in ${secs} s`);
console.log(`${count('pass')} passed, ${count('fail') + count('cancelled')} failed, ${count('skipped') + count('todo')} skipped`);
process.exit(status);
