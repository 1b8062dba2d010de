// Whether a container's cgroup saw the OOM killer: conmon drops an `oom`
// file in the bundle when it notices; the memory cgroup's counters say so
// too (v1 memory.oom_control "oom_kill N", v2 memory.events "oom_kill N").
// Read before the runtime removes the cgroup and the bundle.
import fs from 'node:fs';
import path from 'node:path';
import { cgroupDir, readCgroupFile } from './paths';
import { cgroupVersion } from '../sysinfo';

export function oomKilled(cgroupsPath: string, bundleDir: string): boolean {
  if (fs.existsSync(path.join(bundleDir, 'oom'))) return true;
  const v2 = cgroupVersion() === '2';
  const dir = cgroupDir(cgroupsPath, v2 ? '' : 'memory');
  const text = readCgroupFile(dir, v2 ? 'memory.events' : 'memory.oom_control') ?? '';
  const m = /^oom_kill\s+(\d+)/m.exec(text);
  return !!m && Number(m[1]) > 0;
}
