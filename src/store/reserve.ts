// A space reserve in the data root: a file of a few MB, written while there
// is room and deleted when a write that must not fail (an exit record, a
// removal) hits a full disk. Without it a full data root cannot be recovered
// through the API: deleting a record is itself a write (SQLite's WAL), so
// `rm` would fail with "database or disk is full" exactly when it is needed.
import fs from 'node:fs';

const MB = 1024 * 1024;

export class SpaceReserve {
  constructor(readonly file: string) {}

  /** 1/64 of the filesystem, between 1 and 8 MB: room for many record writes, little on a small disk. */
  private wanted(): number {
    try {
      const s = fs.statfsSync(this.file.replace(/\/[^/]*$/, '') || '/');
      return Math.min(8 * MB, Math.max(1 * MB, Math.floor((s.blocks * s.bsize) / 64)));
    } catch {
      return 1 * MB;
    }
  }

  /** Bytes free on the filesystem. */
  private free(): number {
    try {
      const s = fs.statfsSync(this.file.replace(/\/[^/]*$/, '') || '/');
      return s.bavail * s.bsize;
    } catch {
      return 0;
    }
  }

  held(): boolean {
    return fs.existsSync(this.file);
  }

  /** (Re)writes the reserve when it is missing and twice its size is free; never fills the disk itself. */
  refill(): void {
    if (this.held()) return;
    const size = this.wanted();
    if (this.free() < 2 * size) return;
    const tmp = `${this.file}.tmp`;
    try {
      // Real blocks (zeros written, not a sparse file), so deleting it frees them.
      const fd = fs.openSync(tmp, 'w', 0o600);
      try {
        const chunk = Buffer.alloc(MB);
        for (let done = 0; done < size; done += chunk.length) fs.writeSync(fd, chunk, 0, Math.min(chunk.length, size - done));
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, this.file);
    } catch {
      fs.rmSync(tmp, { force: true });
    }
  }

  /** Frees the reserve; false when there was none to free. */
  release(): boolean {
    try {
      fs.unlinkSync(this.file);
      return true;
    } catch {
      return false;
    }
  }
}

/** SQLITE_FULL or ENOSPC: the write failed for want of space. */
export function isDiskFull(e: unknown): boolean {
  const code = (e as { code?: string })?.code ?? '';
  return code === 'SQLITE_FULL' || code === 'ENOSPC' || /database or disk is full|no space left on device/i.test(String((e as Error)?.message ?? ''));
}
