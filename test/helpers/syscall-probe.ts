// A static program (built with the host's gcc) that prints what system
// calls return inside a container, one `name=ok|ERRNO` line each: the
// seccomp tests run it under runc's filter and under Berth's and compare.
import fs from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';
import { run } from './daemon';

const PROLOGUE = `
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/personality.h>
static void show(const char *n, long rc) { printf("%s=%s\\n", n, rc < 0 ? strerrorname_np(errno) : "ok"); }
`;

/** Builds `<dir>/probe` whose main() is `body` (C, `show(name, rc)` at hand); returns its path. */
export async function buildProbe(dir: string, body: string): Promise<string> {
  const src = path.join(dir, 'probe.c');
  const out = path.join(dir, 'probe');
  fs.writeFileSync(src, `${PROLOGUE}int main(void) {\n${body}\n  return 0;\n}\n`);
  const cc = await run('gcc', ['-static', '-O1', '-o', out, src]);
  assert.equal(cc.code, 0, cc.stderr);
  return out;
}
