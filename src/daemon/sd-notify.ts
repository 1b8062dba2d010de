// sd_notify(3) for berthd.service (Type=notify): READY=1 once the API
// listens, STOPPING=1 on shutdown. Without NOTIFY_SOCKET (not started by
// systemd) it does nothing.
import { DgramSocket } from 'node-unix-socket';
import { log } from '../util/log';

export function notifySystemd(state: string): void {
  const target = process.env.NOTIFY_SOCKET;
  if (!target) return;
  // An abstract socket (@name) is addressed with a leading NUL.
  const dest = target.startsWith('@') ? '\0' + target.slice(1) : target;
  try {
    const sock = new DgramSocket();
    const buf = Buffer.from(state);
    sock.sendTo(buf, 0, buf.length, dest, (err?: unknown) => {
      if (err) log.warn('sd_notify failed', { state, err: String(err) });
      sock.close();
    });
  } catch (e) {
    log.warn('sd_notify failed', { state, err: String(e) });
  }
}
