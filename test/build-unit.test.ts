// Pure unit tests of the builder's parser, word expansion and .dockerignore matcher.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseDockerfile } from '../src/builder/parser';
import { Lexer } from '../src/builder/lex';
import { IgnoreMatcher, globMatch } from '../src/common/dockerignore';
import { scopedResolve } from '../src/builder/context';

test('parser: comments, continuations, JSON and shell forms', () => {
  const df = parseDockerfile([
    '# syntax=docker/dockerfile:1',
    '# a comment',
    'FROM busybox AS base',
    'RUN echo a \\',
    '  # comment inside continuation',
    '',
    '    && echo b',
    'CMD ["echo", "hi"]',
    'ENTRYPOINT echo x # not a comment',
    'copy --from=base --chown=1:2 a b /dst/',
  ].join('\n'));
  assert.equal(df.directives.syntax, 'docker/dockerfile:1');
  assert.deepEqual(df.nodes.map((n) => n.cmd), ['from', 'run', 'cmd', 'entrypoint', 'copy']);
  assert.deepEqual(df.nodes[0].args, ['busybox', 'AS', 'base']);
  assert.equal(df.nodes[1].args[0], 'echo a     && echo b');
  assert.equal(df.nodes[1].startLine, 4);
  assert.equal(df.nodes[2].json, true);
  assert.deepEqual(df.nodes[2].args, ['echo', 'hi']);
  assert.equal(df.nodes[3].json, false);
  assert.equal(df.nodes[3].args[0], 'echo x # not a comment');
  assert.deepEqual(df.nodes[4].flags, ['--from=base', '--chown=1:2']);
  assert.deepEqual(df.nodes[4].args, ['a', 'b', '/dst/']);
});

test('parser: escape directive changes continuation character', () => {
  const df = parseDockerfile('# escape=`\nFROM busybox\nRUN echo a `\n  b\nCOPY a\\b c\n');
  assert.equal(df.escape, '`');
  assert.equal(df.nodes[1].args[0], 'echo a   b');
  assert.deepEqual(df.nodes[2].args, ['a\\b', 'c']);
});

test('parser: unknown instruction names the line', () => {
  assert.throws(() => parseDockerfile('FROM busybox\n\nFOO bar\n'), {
    message: 'dockerfile parse error on line 3: unknown instruction: FOO',
  });
});

test('parser: ENV and LABEL forms', () => {
  const df = parseDockerfile('ENV A=1 B="two words" C=x\\ y\nENV LEGACY some value here\nLABEL "k"="v" x=1\n');
  assert.deepEqual(df.nodes[0].args, ['A', '1', 'B', '"two words"', 'C', 'x\\ y']);
  assert.deepEqual(df.nodes[1].args, ['LEGACY', 'some value here']);
  assert.deepEqual(df.nodes[2].args, ['"k"', '"v"', 'x', '1']);
  assert.throws(() => parseDockerfile('ENV A=1 B\n'), /can't find = in "B"/);
});

test('parser: heredocs, <<- and several', () => {
  const df = parseDockerfile([
    'FROM busybox',
    'RUN <<EOF',
    'echo one',
    'echo $HOME',
    'EOF',
    'COPY <<-"A" <<B /dst/',
    '\thello $X',
    '\tA',
    'b $X',
    'B',
    'RUN echo after',
  ].join('\n'));
  assert.equal(df.nodes.length, 4);
  assert.deepEqual(df.nodes[1].heredocs, [{ name: 'EOF', content: 'echo one\necho $HOME\n', expand: true, stripTabs: false }]);
  assert.equal(df.nodes[2].heredocs[0].content, 'hello $X\n');
  assert.equal(df.nodes[2].heredocs[0].expand, false);
  assert.equal(df.nodes[2].heredocs[1].content, 'b $X\n');
  assert.equal(df.nodes[3].args[0], 'echo after');
});

test('parser: ONBUILD and HEALTHCHECK', () => {
  const df = parseDockerfile('ONBUILD RUN echo hi\nHEALTHCHECK --interval=5s CMD ["true"]\nHEALTHCHECK NONE\n');
  assert.equal(df.nodes[0].sub?.cmd, 'run');
  assert.deepEqual(df.nodes[1].flags, ['--interval=5s']);
  assert.deepEqual(df.nodes[1].args, ['CMD', 'true']);
  assert.deepEqual(df.nodes[2].args, ['NONE']);
  assert.throws(() => parseDockerfile('ONBUILD FROM x\n'), /isn't allowed as an ONBUILD trigger/);
});

test('lexer: variable forms and quoting', () => {
  const env = new Map([['A', 'x'], ['E', ''], ['P', '/p']]);
  const lx = new Lexer('\\');
  assert.equal(lx.processWord('$A${A}', env), 'xx');
  assert.equal(lx.processWord('${U:-def}', env), 'def');
  assert.equal(lx.processWord('${E:-def}', env), 'def');
  assert.equal(lx.processWord('${E-def}', env), '');
  assert.equal(lx.processWord('${A:+set}', env), 'set');
  assert.equal(lx.processWord('${U:+set}', env), '');
  assert.equal(lx.processWord("'$A'", env), '$A');
  assert.equal(lx.processWord('"$A b"', env), 'x b');
  assert.equal(lx.processWord('\\$A', env), '$A');
  assert.equal(lx.processWord('"a\\"b"', env), 'a"b');
  assert.equal(lx.processWord('${P}/bin:$U', env), '/p/bin:');
  assert.equal(lx.processWord('cost$', env), 'cost$');
  assert.throws(() => lx.processWord('${U:?must be set}', env), /U: must be set/);
  assert.deepEqual(lx.processWords('a "b c" $A', env), ['a', 'b c', 'x']);
  assert.equal(lx.processHeredoc('don\'t "$A" \\$A ${U:-d}\n', env), 'don\'t "x" $A d\n');
});

test('dockerignore: patterns, exceptions, **, leading slash', () => {
  const m = IgnoreMatcher.parse('# comment\n*.log\n!keep.log\n/build\n**/tmp\nsecret/**\n!secret/ok.txt\ndocs/*.md\n');
  assert.equal(m.matches('a.log'), true);
  assert.equal(m.matches('keep.log'), false);
  assert.equal(m.matches('sub/a.log'), false); // * does not cross /
  assert.equal(m.matches('build/x/y'), true); // parent dir matches
  assert.equal(m.matches('a/b/tmp'), true);
  assert.equal(m.matches('tmp/file'), true);
  assert.equal(m.matches('secret/key'), true);
  assert.equal(m.matches('secret/ok.txt'), false);
  assert.equal(m.matches('docs/a.md'), true);
  assert.equal(m.matches('docs/sub/a.md'), false);
  assert.equal(m.matches('src/main.ts'), false);
  assert.equal(globMatch('*.txt', 'a.txt'), true);
  assert.equal(globMatch('*.txt', 'd/a.txt'), false);
  assert.equal(globMatch('f?le[0-9]', 'file7'), true);
});

test('context: scoped resolution never leaves the root', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ctx-'));
  try {
    fs.mkdirSync(path.join(root, 'd'));
    fs.symlinkSync('/etc', path.join(root, 'abs'));
    fs.symlinkSync('../../../../etc', path.join(root, 'd', 'rel'));
    assert.equal(scopedResolve(root, '../x'), path.join(root, 'x'));
    assert.equal(scopedResolve(root, '/etc/passwd'), path.join(root, 'etc/passwd'));
    assert.equal(scopedResolve(root, 'abs/passwd'), path.join(root, 'etc/passwd'));
    assert.equal(scopedResolve(root, 'd/rel/passwd'), path.join(root, 'etc/passwd'));
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('stages: global ARGs, names, and only the stages a target needs', async () => {
  const { splitStages, resolveBases, neededStages } = await import('../src/builder/stages');
  const df = parseDockerfile([
    'ARG BASE=alpine',
    'FROM ${BASE} AS deps',
    'FROM scratch AS unused',
    'FROM deps AS build',
    'COPY --from=0 /a /a',
    'FROM scratch',
    'COPY --from=build /a /a',
  ].join('\n'));
  const { metaArgs, stages } = splitStages(df.nodes);
  assert.equal(metaArgs.length, 1);
  const resolved = resolveBases(stages, new Map([['BASE', 'busybox']]), '\\');
  assert.equal(resolved[0].base, 'busybox');
  assert.equal(resolved[2].name, 'build');
  assert.deepEqual(neededStages(resolved, 3, new Map(), '\\'), [0, 2, 3]);
  assert.deepEqual(neededStages(resolved, 1, new Map(), '\\'), [1]);
  assert.throws(() => splitStages(parseDockerfile('RUN x\n').nodes), /line 1: no build stage in current context/);
  assert.throws(() => splitStages(parseDockerfile('FROM a AS x\nFROM b AS x\n').nodes), /duplicate name x/);
});

test('context: a hostile tar cannot write outside the context', async () => {
  const { BuildContext } = await import('../src/builder/context');
  const tar = (await import('tar-stream')).default;
  const { Readable } = await import('node:stream');
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ctxtar-'));
  const outside = path.join(base, 'outside');
  fs.mkdirSync(outside);
  const make = async (entries: Array<[any, string?]>) => {
    const pack = tar.pack();
    for (const [h, body] of entries) pack.entry(h, body as any);
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack as any) chunks.push(c);
    return Readable.from([Buffer.concat(chunks)]);
  };
  try {
    // both forms: kept in memory (the default for a small context) and written to disk first
    for (const limit of [8 << 20, 0]) {
      const at = (n: string) => path.join(base, `${n}-${limit}`);
      // `..` is clamped to the root.
      const c1 = await BuildContext.fromTar(await make([[{ name: '../../escape.txt' }, 'x']]), at('c1'), limit);
      assert.equal(c1.inMemory, limit > 0);
      c1.materialize();
      assert.equal(fs.readFileSync(path.join(c1.root, 'escape.txt'), 'utf8'), 'x');
      assert.equal(fs.existsSync(path.join(base, 'escape.txt')), false);
      // Writing through a symlink that points out is refused.
      await assert.rejects(
        BuildContext.fromTar(await make([[{ name: 'link', type: 'symlink', linkname: outside }], [{ name: 'link/evil.txt' }, 'evil']]), at('c2'), limit),
        /failed to read build context/,
      );
      assert.deepEqual(fs.readdirSync(outside), []);
      // A symlink's target is only ever resolved inside the root.
      const c3 = await BuildContext.fromTar(await make([[{ name: 'up', type: 'symlink', linkname: '../../outside' }]]), at('c3'), limit);
      assert.equal(c3.resolve('up'), path.join(c3.root, 'outside'));
      // Garbage is not a tar.
      await assert.rejects(BuildContext.fromTar(Readable.from([Buffer.alloc(1024, 'z')]), at('c4'), limit), /failed to read build context/);
    }
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});

test('context: kept in memory, it answers every lookup as the same context on disk does', async () => {
  const { BuildContext } = await import('../src/builder/context');
  const tar = (await import('tar-stream')).default;
  const { Readable } = await import('node:stream');
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ctxmem-'));
  const make = async (entries: Array<[any, string?]>) => {
    const pack = tar.pack();
    for (const [h, body] of entries) pack.entry(h, body as any);
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack as any) chunks.push(c);
    return Buffer.concat(chunks);
  };
  const entries: Array<[any, string?]> = [
    [{ name: 'Dockerfile', mode: 0o644 }, 'FROM busybox\n'],
    [{ name: '.dockerignore', mode: 0o600 }, 'ignored*\n!ignored-kept\nsub/drop\n'],
    [{ name: 'dir/', type: 'directory', mode: 0o750 }],
    [{ name: 'dir/a.txt', mode: 0o640 }, 'a'],
    [{ name: 'dir/nested/deep/b.sh', mode: 0o755 }, 'b'], // parents made implicitly
    [{ name: 'dir/', type: 'directory', mode: 0o700 }], // declared again: its mode changes
    [{ name: 'ln', type: 'symlink', linkname: 'dir/a.txt' }],
    [{ name: 'abs-ln', type: 'symlink', linkname: '/dir' }],
    [{ name: 'dangling', type: 'symlink', linkname: 'nowhere' }],
    [{ name: 'ignored-1' }, 'i'],
    [{ name: 'ignored-kept' }, 'k'],
    [{ name: 'sub/drop/x' }, 'x'],
    [{ name: 'sub/keep' }, 'y'],
    [{ name: 'df-link', type: 'symlink', linkname: 'Dockerfile' }],
  ];
  const spills: Array<Array<[any, string?]>> = [
    [...entries, [{ name: 'hard', type: 'link', linkname: 'dir/a.txt' }]], // a hard link
    [...entries, [{ name: 'dir/a.txt', mode: 0o600 }, 'replaced']], // a path written twice
  ];
  try {
    const lookups = (c: InstanceType<typeof BuildContext>) => {
      const ignore = c.applyDockerignore(['Dockerfile', '.dockerignore']);
      const out: Record<string, unknown> = { ignore: !!ignore };
      for (const p of ['dir', 'dir/a.txt', 'ln', 'abs-ln/a.txt', '.', 'sub', 'dir/nested', '../dir/../dir/a.txt']) {
        out[`sum ${p}`] = c.checksum(p);
        out[`dir ${p}`] = c.isDir(p);
        out[`resolve ${p}`] = path.relative(c.root, c.resolve(p));
      }
      for (const g of ['dir/*.txt', '*', 'ignored*', 'dir/nested/*/*.sh', 'nope', 'dangling', 'sub/drop']) out[`sources ${g}`] = c.sources(g);
      out.dockerfile = c.readFile('df-link').toString();
      c.removePath('.dockerignore');
      out.after = c.sources('.dockerignore');
      return out;
    };
    let n = 0;
    for (const list of [entries, ...spills]) {
      const body = await make(list);
      const mem = await BuildContext.fromTar(Readable.from([body]), path.join(base, `m${n}`), 8 << 20);
      const disk = await BuildContext.fromTar(Readable.from([body]), path.join(base, `d${n++}`), 0);
      assert.equal(disk.inMemory, false);
      assert.equal(mem.inMemory, list === entries, 'a hard link or a replaced path sends the context to disk');
      if (list === entries) assert.equal(fs.existsSync(mem.root), false, 'nothing on disk yet');
      assert.deepEqual(lookups(mem), lookups(disk));
      // written out, it is the same tree
      mem.materialize();
      assert.equal(mem.inMemory, false);
      assert.deepEqual(lookups(mem), lookups(disk));
      const tree = (root: string): string[] => {
        const out: string[] = [];
        const walk = (rel: string) => {
          for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
            const r = rel ? `${rel}/${name}` : name;
            const st = fs.lstatSync(path.join(root, r));
            out.push(`${r} ${st.mode.toString(8)} ${st.isFile() ? fs.readFileSync(path.join(root, r), 'utf8') : st.isSymbolicLink() ? fs.readlinkSync(path.join(root, r)) : ''}`);
            if (st.isDirectory()) walk(r);
          }
        };
        walk('');
        return out;
      };
      assert.deepEqual(tree(mem.root), tree(disk.root));
      mem.remove();
      disk.remove();
      assert.equal(fs.existsSync(mem.root), false);
    }
    // over the limit: on disk from the entry that crosses it
    const big = await BuildContext.fromTar(Readable.from([await make([[{ name: 'a' }, 'x'.repeat(3000)], [{ name: 'b' }, 'y'.repeat(3000)]])]), path.join(base, 'big'), 4096);
    assert.equal(big.inMemory, false);
    assert.equal(fs.readFileSync(path.join(big.root, 'a'), 'utf8').length, 3000);
    big.remove();
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});
