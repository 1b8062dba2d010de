// Secrets and configs of a task as files: written under the engine's run
// directory (the exec root, a tmpfs — never the data root) as
//   <runDir>/tasks/<task id>/secrets/<secret id>, …/configs/<config id>
// with the reference's mode, uid and gid, and bind-mounted read-only at
// /run/secrets/<target> (secrets) and /<target> (configs; default /<name>).
import fs from 'node:fs';
import path from 'node:path';
import type { TaskRecord } from '../objects';
import type { FileData } from '../dispatcher';
import { containerSpec } from './spec';

interface FileRef { File?: { Name?: string; UID?: string; GID?: string; Mode?: number } }
interface SecretRef extends FileRef { SecretID?: string; SecretName?: string }
interface ConfigRef extends FileRef { ConfigID?: string; ConfigName?: string; Runtime?: unknown }

export class TaskFiles {
  constructor(private readonly runDir: string) {}

  dir(taskId: string): string {
    return path.join(this.runDir, 'tasks', taskId);
  }

  /**
   * Writes the task's secret and config files; returns the read-only binds.
   * A referenced secret or config the dispatcher did not send is an error (the task is rejected).
   */
  write(t: TaskRecord, secrets: Map<string, FileData>, configs: Map<string, FileData>): Array<{ source: string; target: string }> {
    const cs = containerSpec(t) as { Secrets?: SecretRef[]; Configs?: ConfigRef[] };
    const binds: Array<{ source: string; target: string }> = [];
    const base = this.dir(t.id);
    const put = (kind: 'secrets' | 'configs', id: string, data: FileData | undefined, ref: FileRef, target: string) => {
      if (!data) throw new Error(`${kind === 'secrets' ? 'secret' : 'config'} ${id} not found`);
      const dir = path.join(base, kind);
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      const file = path.join(dir, id);
      const mode = typeof ref.File?.Mode === 'number' ? ref.File.Mode & 0o7777 : 0o444;
      fs.writeFileSync(file, Buffer.from(data.data, 'base64'), { mode: 0o600 });
      fs.chownSync(file, Number(ref.File?.UID || 0) || 0, Number(ref.File?.GID || 0) || 0);
      fs.chmodSync(file, mode);
      binds.push({ source: file, target });
    };
    for (const s of cs.Secrets ?? []) {
      const id = String(s.SecretID ?? '');
      const name = s.File?.Name || s.SecretName || id;
      put('secrets', id, secrets.get(id), s, path.posix.isAbsolute(name) ? name : path.posix.join('/run/secrets', name));
    }
    for (const c of cs.Configs ?? []) {
      if (!c.File) continue; // a Runtime config (credential spec) is no file
      const id = String(c.ConfigID ?? '');
      const name = c.File.Name || c.ConfigName || id;
      put('configs', id, configs.get(id), c, path.posix.isAbsolute(name) ? name : `/${name}`);
    }
    return binds;
  }

  remove(taskId: string): void {
    fs.rmSync(this.dir(taskId), { recursive: true, force: true });
  }

  removeAll(): void {
    fs.rmSync(path.join(this.runDir, 'tasks'), { recursive: true, force: true });
  }

  /** Task ids that have files (for the clean-up of tasks that are gone). */
  list(): string[] {
    try {
      return fs.readdirSync(path.join(this.runDir, 'tasks'));
    } catch {
      return [];
    }
  }
}
