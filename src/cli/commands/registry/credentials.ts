// Credentials in $DOCKER_CONFIG/config.json (default ~/.docker), in the
// format the docker CLI writes (`auths.<server>.auth` = base64(user:password)),
// so `berth login` and `docker login` share them. Written temp + rename.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const HUB_SERVER = 'https://index.docker.io/v1/';

export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_CONFIG || path.join(os.homedir(), '.docker');
}

function configFile(env?: NodeJS.ProcessEnv): string {
  return path.join(configDir(env), 'config.json');
}

function readConfig(env?: NodeJS.ProcessEnv): Record<string, any> {
  try {
    const j = JSON.parse(fs.readFileSync(configFile(env), 'utf8'));
    return j && typeof j === 'object' ? j : {};
  } catch {
    return {};
  }
}

function writeConfig(cfg: Record<string, any>, env?: NodeJS.ProcessEnv): void {
  const file = configFile(env);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(cfg, null, '\t') + '\n', { mode: 0o600 });
  fs.renameSync(tmp, file);
}

/** The config.json key for a registry: Docker Hub's is its v1 URL, others the bare host[:port]. */
export function serverKey(server: string | undefined): string {
  if (!server) return HUB_SERVER;
  const host = server.replace(/^https?:\/\//, '').split('/')[0];
  if (host === 'docker.io' || host === 'index.docker.io' || host === 'registry-1.docker.io') return HUB_SERVER;
  return host;
}

export function saveCredentials(server: string, username: string, password: string, env?: NodeJS.ProcessEnv): void {
  const cfg = readConfig(env);
  cfg.auths = cfg.auths ?? {};
  cfg.auths[serverKey(server)] = { auth: Buffer.from(`${username}:${password}`).toString('base64') };
  writeConfig(cfg, env);
}

/** Removes stored credentials; false when there were none. */
export function removeCredentials(server: string, env?: NodeJS.ProcessEnv): boolean {
  const cfg = readConfig(env);
  const key = serverKey(server);
  if (!cfg.auths?.[key]) return false;
  delete cfg.auths[key];
  writeConfig(cfg, env);
  return true;
}

export function loadCredentials(server: string, env?: NodeJS.ProcessEnv): { username: string; password: string } | undefined {
  const entry = readConfig(env).auths?.[serverKey(server)];
  if (!entry?.auth) return undefined;
  const s = Buffer.from(entry.auth, 'base64').toString('utf8');
  const i = s.indexOf(':');
  if (i < 0) return undefined;
  return { username: s.slice(0, i), password: s.slice(i + 1) };
}

/** The registry an image reference names (docker.io when the first part is not a host). */
export function registryOfImage(image: string): string {
  const i = image.indexOf('/');
  if (i < 0) return 'docker.io';
  const first = image.slice(0, i);
  return first.includes('.') || first.includes(':') || first === 'localhost' ? first : 'docker.io';
}

/** X-Registry-Auth value (base64url JSON) for pulling/pushing `image`, from stored credentials. */
export function registryAuthFor(image: string, env?: NodeJS.ProcessEnv): string | undefined {
  const reg = registryOfImage(image);
  const c = loadCredentials(reg, env);
  if (!c) return undefined;
  return Buffer.from(JSON.stringify({ username: c.username, password: c.password, serveraddress: serverKey(reg) })).toString('base64url');
}
