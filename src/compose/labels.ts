// The com.docker.compose.* labels Compose v2 puts on what it makes; both
// tools find a project's containers, networks and volumes by them.
export const L = {
  project: 'com.docker.compose.project',
  service: 'com.docker.compose.service',
  number: 'com.docker.compose.container-number',
  oneoff: 'com.docker.compose.oneoff',
  hash: 'com.docker.compose.config-hash',
  workingDir: 'com.docker.compose.project.working_dir',
  configFiles: 'com.docker.compose.project.config_files',
  envFile: 'com.docker.compose.project.environment_file',
  image: 'com.docker.compose.image',
  dependsOn: 'com.docker.compose.depends_on',
  version: 'com.docker.compose.version',
  network: 'com.docker.compose.network',
  volume: 'com.docker.compose.volume',
  replace: 'com.docker.compose.replace',
} as const;

/** The Compose version we claim in labels and `version` (the v2 series we follow). */
export const COMPOSE_VERSION = '2.29.0';

export const projectFilter = (project: string) => ({ label: [`${L.project}=${project}`] });

/** `web-1` from `app-web-1`: what log prefixes and `ps` show as the short name. */
export function shortName(labels: Record<string, string> | null | undefined, fallback: string): string {
  const s = labels?.[L.service];
  const n = labels?.[L.number];
  return s && n ? `${s}-${n}` : fallback.replace(/^\//, '');
}
