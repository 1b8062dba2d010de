// berthd: parse flags, take the data-root lock, start services, serve the API.
// First, before the other modules load: V8's young generation kept small.
import './young-gen';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import https from 'node:https';
import type http from 'node:http';
import { createHash } from 'node:crypto';
import { DAEMON_USAGE, FlagError, type DaemonConfig } from './config';
import { loadDaemonConfig, reloadInto } from './config-file';
import { cleanupHost } from './cleanup';
import { notifySystemd } from './sd-notify';
import { ensureCgroupMounts } from '../host/cgroups/mounts';
import { Daemon } from './daemon';
import { buildRouter } from '../api/routes';
import { routeBackends } from './backends';
import { createApiServer } from '../api/server';
import { log, setLogLevel } from '../util/log';
import { BERTH_VERSION, GIT_COMMIT } from '../version';

/**
 * One daemon per data root: an abstract unix socket named after the data root
 * is bound for the daemon's lifetime. The kernel frees it when the process
 * dies, so a crash never leaves a stale lock behind.
 */
function lockDataRoot(dataRoot: string, busy = `another berthd is already using data root ${dataRoot}`): Promise<net.Server> {
  const name = '\0berthd-lock-' + createHash('sha256').update(path.resolve(dataRoot)).digest('hex').slice(0, 32);
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(new Error(busy));
      else reject(err);
    });
    srv.listen(name, () => {
      srv.unref();
      resolve(srv);
    });
  });
}

function listen(server: http.Server, host: string): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const onErr = (e: Error) => reject(e);
    server.once('error', onErr);
    if (host.startsWith('unix://') || host.startsWith('/')) {
      const sock = host.replace(/^unix:\/\//, '');
      fs.mkdirSync(path.dirname(sock), { recursive: true });
      try {
        fs.unlinkSync(sock);
      } catch { /* not there */ }
      server.listen(sock, () => {
        fs.chmodSync(sock, 0o660);
        server.off('error', onErr);
        resolve(() => { try { fs.unlinkSync(sock); } catch { /* gone */ } });
      });
      return;
    }
    const m = /^(?:tcp:\/\/)?([^:]*|\[[^\]]*\]):(\d+)$/.exec(host);
    if (!m) return reject(new Error(`invalid host: ${host}`));
    server.listen(Number(m[2]), m[1].replace(/^\[|\]$/g, '') || '0.0.0.0', () => {
      server.off('error', onErr);
      resolve(() => {});
    });
  });
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  let cfg: ReturnType<typeof loadDaemonConfig>;
  try {
    cfg = loadDaemonConfig(argv);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exit(e instanceof FlagError ? 125 : 1);
  }
  if (cfg === 'help') {
    process.stdout.write(DAEMON_USAGE);
    return;
  }
  if (cfg === 'version') {
    process.stdout.write(`Berth version ${BERTH_VERSION}, build ${GIT_COMMIT}\n`);
    return;
  }
  const config = cfg.config;
  if (config.validate) {
    // dockerd --validate: the file and flags parsed, nothing started.
    process.stdout.write('configuration OK\n');
    return;
  }
  setLogLevel(config.logLevel);
  if (process.getuid && process.getuid() !== 0) {
    log.error('berthd needs to be started with root privileges');
    process.exit(1);
  }
  if (config.cleanup) {
    let removed: string[];
    try {
      await lockDataRoot(config.dataRoot, `berthd is running on data root ${config.dataRoot}: stop it before --cleanup`);
      await ensureCgroupMounts();
      removed = await cleanupHost(config);
    } catch (e) {
      process.stderr.write(`${(e as Error).message}\n`);
      process.exit(1);
    }
    for (const r of removed) process.stdout.write(`removed ${r}\n`);
    process.stdout.write(`cleanup of ${config.dataRoot} done (${removed.length} host objects)\n`);
    return;
  }
  fs.mkdirSync(config.dataRoot, { recursive: true, mode: 0o711 });
  await lockDataRoot(config.dataRoot);
  await ensureCgroupMounts();

  const daemon = new Daemon(config);
  await daemon.init();
  fs.mkdirSync(path.dirname(config.pidfile), { recursive: true });
  fs.writeFileSync(config.pidfile, `${process.pid}\n`);

  const router = buildRouter(routeBackends(daemon));
  const closers: Array<() => void> = [];
  const servers: http.Server[] = [];
  for (const host of config.hosts) {
    // dockerd's startup warnings for tcp:// without verified client certificates
    if (/^tcp:\/\//.test(host) && !(config.tlsVerify && config.tlsCert && config.tlsKey)) {
      log.warn('Binding to IP address without --tlsverify is insecure and gives root access on this machine to everyone who has access to your network.', { host });
      log.warn('Binding to an IP address, even on localhost, can also give access to scripts run in a browser. Be safe out there!', { host });
    }
    let server = createApiServer(router, `Berth/${BERTH_VERSION} (linux)`, (m, p) => daemon.swarm.gate(m, p));
    if (/^tcp:\/\//.test(host) && config.tlsCert && config.tlsKey) {
      server = wrapTls(server, config);
    }
    closers.push(await listen(server, host));
    servers.push(server);
  }
  log.info('API listen', { hosts: config.hosts });
  log.info('daemon started', { version: BERTH_VERSION, dataRoot: config.dataRoot, execRoot: config.execRoot });
  daemon.events.publish('daemon', 'start', daemon.daemonId, { name: 'berthd' });
  // /info's runc commit is a `runc --version` run, asked once: ask it now, off the first /info's path
  // (the CLI asks /info right after `swarm join`)
  void daemon.containers.runtimeCommit().catch(() => '');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info(config.liveRestore ? 'stopping daemon; containers keep running' : 'stopping daemon and its containers', { signal });
    notifySystemd('STOPPING=1');
    for (const s of servers) {
      s.close();
      s.closeAllConnections?.();
    }
    closers.forEach((c) => c());
    try {
      // live-restore off (daemon.json): containers stop with the daemon, as dockerd does.
      if (!config.liveRestore) await daemon.stopAllContainers();
      await daemon.shutdown();
    } catch (e) {
      log.error('shutdown failed', { err: String(e) });
    }
    try { fs.unlinkSync(config.pidfile); } catch { /* gone */ }
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  // As dockerd: SIGHUP re-reads the config file; only the reloadable keys change.
  process.on('SIGHUP', () => {
    try {
      const changed = reloadInto(config, argv);
      setLogLevel(config.logLevel);
      log.info('Reloaded configuration', { file: config.configFile, changed });
      daemon.events.publish('daemon', 'reload', daemon.daemonId, { name: 'berthd' });
    } catch (e) {
      log.error('Error reconfiguring the daemon', { err: (e as Error).message });
    }
  });
  notifySystemd('READY=1');
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGPIPE', () => {});
}

/** A TLS listener that hands decrypted requests to the plain API server. */
function wrapTls(plain: http.Server, cfg: DaemonConfig): http.Server {
  const tls = https.createServer({
    cert: fs.readFileSync(cfg.tlsCert!),
    key: fs.readFileSync(cfg.tlsKey!),
    ca: cfg.tlsCaCert ? fs.readFileSync(cfg.tlsCaCert) : undefined,
    requestCert: cfg.tlsVerify,
    rejectUnauthorized: cfg.tlsVerify,
  });
  for (const ev of ['request', 'upgrade']) {
    for (const l of plain.listeners(ev)) tls.on(ev, l as (...a: unknown[]) => void);
  }
  return tls as unknown as http.Server;
}

process.on('unhandledRejection', (err) => {
  log.error('unhandled rejection', { err: String(err), stack: (err as Error)?.stack });
});

main().catch((e) => {
  log.error('failed to start daemon', { err: (e as Error).message });
  process.exit(1);
});
