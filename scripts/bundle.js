#!/usr/bin/env node
// The berth CLI as one file: dist/berth.js, bundled by esbuild from tsc's
// output (dist/src/cli/main.js), so `berth ps` compiles one script instead of
// resolving and reading ~30 modules. bin/berth runs it (with V8's code cache
// beside it) and falls back to dist/src/ when it is missing or older than
// tsc's output. Run after tsc: `npm run build` does both.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const entry = path.join(root, 'dist', 'src', 'cli', 'main.js');
const out = path.join(root, 'dist', 'berth.js');

// Old code caches belong to old bundles (V8 checks only the source's length).
for (const f of fs.existsSync(path.dirname(out)) ? fs.readdirSync(path.dirname(out)) : []) {
  if (/^berth\.js\..*\.cache$/.test(f)) fs.rmSync(path.join(path.dirname(out), f), { force: true });
}
let esbuild;
try {
  esbuild = require('esbuild');
} catch {
  // Without dev dependencies (npm ci --omit=dev) bin/berth runs dist/src/ as is.
  fs.rmSync(out, { force: true });
  console.error('bundle: esbuild is not installed; bin/berth will run dist/src/cli/main.js');
  process.exit(0);
}
esbuild.buildSync({
  entryPoints: [entry],
  outfile: out,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // npm packages (tar-stream, yaml, bcryptjs, ...) stay in node_modules,
  // required only by the commands that use them.
  packages: 'external',
  // Smaller is faster to read and to check against the code cache; names stay.
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
});
// ASCII only (esbuild leaves e.g. a regex's µ as is): V8 then keeps the
// source as a one-byte string and bin/berth reads it as latin1, which is
// several times cheaper than decoding UTF-8.
const text = fs.readFileSync(out, 'utf8');
fs.writeFileSync(out, text.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
