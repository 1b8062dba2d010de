// What is at a path inside a layer root during one extraction, for the
// path checks of tar-apply.ts: either asked of the disk (lstat, readlink),
// or — when the root was empty at the start — known from what this
// extraction itself made.
//
// An extraction root is a fresh directory private to its extraction (a
// temp dir under the layer store, root only), so when it starts empty
// everything in it is what the extraction made: every mkdir, file,
// symlink, hard link, device node and whiteout goes through made(), every
// removal through removed(). Then the tree answers what lstat would, and a
// rootfs tar's ~40,000 lstats of parent components (and a realpath per
// directory at the end) are map lookups; the creates themselves stay
// exclusive (mkdir, O_CREAT|O_EXCL|O_NOFOLLOW, symlink, link, mknod fail on
// anything already there), so a tree that were ever wrong would fail the
// extraction, never write through what it did not know.
import fs from 'node:fs';
import path from 'node:path';

export type Kind = 'dir' | 'link' | 'other';

export interface Node {
  kind: Kind;
  /** A symlink's target. */
  target?: string;
}

export interface PathView {
  /** True when answers come from memory (no create is pending on disk that it does not know). */
  readonly known: boolean;
  /** What is at `p` (not following a symlink there), or null. */
  get(p: string): Node | null;
  /** `p` was made (or is queued to be made) by this extraction. */
  made(p: string, node: Node): void;
  /** `p` (with everything under it) was removed. */
  removed(p: string): void;
}

/** Asks the disk. For a root that held something before the extraction. */
export class DiskView implements PathView {
  readonly known = false;

  get(p: string): Node | null {
    const st = fs.lstatSync(p, { throwIfNoEntry: false });
    if (!st) return null;
    if (st.isDirectory()) return { kind: 'dir' };
    if (st.isSymbolicLink()) return { kind: 'link', target: fs.readlinkSync(p) };
    return { kind: 'other' };
  }

  made(): void {}
  removed(): void {}
}

interface TreeNode extends Node {
  /** A directory's entries, by full path. */
  kids?: Set<string>;
}

/** Knows the root's content from what the extraction made (the root was empty). */
export class TreeView implements PathView {
  readonly known = true;
  private readonly nodes = new Map<string, TreeNode>();

  constructor(root: string) {
    this.nodes.set(root, { kind: 'dir', kids: new Set() });
  }

  get(p: string): Node | null {
    return this.nodes.get(p) ?? null;
  }

  made(p: string, node: Node): void {
    const n: TreeNode = node.kind === 'dir' ? { kind: 'dir', kids: new Set() } : { ...node };
    this.removed(p);
    this.nodes.set(p, n);
    this.nodes.get(path.dirname(p))?.kids?.add(p);
  }

  removed(p: string): void {
    const n = this.nodes.get(p);
    if (!n) return;
    this.nodes.get(path.dirname(p))?.kids?.delete(p);
    // Iterative: a deep tree must not overflow the stack.
    const stack: string[] = [p];
    while (stack.length) {
      const q = stack.pop()!;
      const m = this.nodes.get(q);
      this.nodes.delete(q);
      if (m?.kids) for (const k of m.kids) stack.push(k);
    }
  }
}

/** True when `dir` has no entries (a new layer's diff/). */
export function isEmptyDir(dir: string): boolean {
  return fs.readdirSync(dir).length === 0;
}

