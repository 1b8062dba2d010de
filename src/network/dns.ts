// Embedded DNS for user-defined networks. The containers' resolv.conf names
// 127.0.0.11; the daemon answers there from sockets it made inside each
// container's namespace (udp+tcp 53, as Docker's resolver), or, without the
// native addon, on each network's gateway address with the container's
// queries DNATed to it. Container names, aliases and short ids of
// containers on the same network are answered from the service; everything
// else is forwarded to upstream resolvers with a short timeout, so it never
// hangs.
import dgram from 'node:dgram';
import net from 'node:net';
import fs from 'node:fs';
import * as packet from 'dns-packet';
import { log } from '../util/log';

/** Answers `name` for the client at `from` (its networks decide what it can see). */
export type Resolver = (name: string, from: string) => string[];

const FORWARD_TIMEOUT = 2000;

export function hostNameservers(): string[] {
  try {
    return fs
      .readFileSync('/etc/resolv.conf', 'utf8')
      .split('\n')
      .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
      .filter((s): s is string => !!s && net.isIPv4(s) && !s.startsWith('127.'));
  } catch {
    return [];
  }
}

/** Where a server listens: port 53 of an address of berthd's namespace, or two sockets made elsewhere (bound, the tcp one listening). */
export type DnsBind = string | { udp: number; tcp: number };

export class DnsServer {
  private udp?: dgram.Socket;
  private tcp?: net.Server;

  constructor(
    readonly bind: DnsBind,
    private readonly resolve: Resolver,
    /** Resolvers to forward to for the client at `from` (its --dns, or the host's). */
    private readonly upstream: (from: string) => string[],
  ) {}

  async start(): Promise<void> {
    try {
      await this.listen();
    } catch (e) {
      // sockets made for us elsewhere are ours to close, adopted or not yet
      const tcpAdopted = !!this.tcp;
      this.close();
      if (typeof this.bind !== 'string' && !tcpAdopted) {
        try {
          fs.closeSync(this.bind.tcp);
        } catch {
          /* adopted by the failed listen */
        }
      }
      throw e;
    }
  }

  private async listen(): Promise<void> {
    const where = typeof this.bind === 'string' ? this.bind : `fd ${this.bind.udp}`;
    const udp = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    udp.on('message', (msg, rinfo) => {
      this.answer(msg, rinfo.address).then(
        (out) => out && udp.send(out, rinfo.port, rinfo.address),
        () => {},
      );
    });
    udp.on('error', (e) => log.warn('dns udp error', { address: where, error: e.message }));
    this.udp = udp;
    await new Promise<void>((res, rej) => {
      udp.once('error', rej);
      udp.bind(typeof this.bind === 'string' ? { port: 53, address: this.bind } : { fd: this.bind.udp }, () => {
        udp.off('error', rej);
        res();
      });
    });
    const tcp = net.createServer((sock) => {
      let buf = Buffer.alloc(0);
      sock.setTimeout(10_000, () => sock.destroy());
      sock.on('error', () => {});
      sock.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const len = buf.readUInt16BE(0);
          const msg = buf.subarray(2, 2 + len);
          buf = buf.subarray(2 + len);
          this.answer(msg, sock.remoteAddress?.replace(/^::ffff:/, '') ?? '').then((out) => {
            if (!out || sock.destroyed) return;
            const hdr = Buffer.alloc(2);
            hdr.writeUInt16BE(out.length);
            sock.write(Buffer.concat([hdr, out]));
          }, () => {});
        }
      });
    });
    this.tcp = tcp;
    await new Promise<void>((res, rej) => {
      tcp.once('error', rej);
      tcp.listen(typeof this.bind === 'string' ? { port: 53, host: this.bind } : { fd: this.bind.tcp }, () => {
        tcp.off('error', rej);
        res();
      });
    });
    tcp.on('error', () => {});
  }

  close(): void {
    try {
      this.udp?.close();
    } catch {
      /* never bound */
    }
    this.tcp?.close();
    this.udp = undefined;
    this.tcp = undefined;
  }

  private async answer(msg: Buffer, from: string): Promise<Buffer | undefined> {
    let q: packet.Packet;
    try {
      q = packet.decode(msg);
    } catch {
      return undefined;
    }
    const question = q.questions?.[0];
    if (!question) return undefined;
    const name = question.name.replace(/\.$/, '').toLowerCase();
    const ips = this.resolve(name, from);
    if (ips.length > 0) {
      // A for the v4 addresses, AAAA for the v6 ones (EnableIPv6 networks); other types: no answers.
      const fam = question.type === 'A' ? 4 : question.type === 'AAAA' ? 6 : 0;
      const answers: packet.Answer[] = ips
        .filter((ip) => net.isIP(ip) === fam)
        .map((ip) => ({ type: question.type, name: question.name, ttl: 600, class: 'IN', data: ip }) as packet.Answer);
      return packet.encode({
        id: q.id,
        type: 'response',
        flags: packet.RECURSION_DESIRED | packet.RECURSION_AVAILABLE,
        questions: q.questions,
        answers,
      });
    }
    return this.forward(msg, q, from);
  }

  /** Asks each upstream in turn; SERVFAIL when none answers in time. */
  private async forward(msg: Buffer, q: packet.Packet, from: string): Promise<Buffer> {
    for (const server of this.upstream(from)) {
      const reply = await new Promise<Buffer | undefined>((resolve) => {
        const s = dgram.createSocket('udp4');
        const t = setTimeout(() => finish(undefined), FORWARD_TIMEOUT);
        const finish = (b: Buffer | undefined) => {
          clearTimeout(t);
          try {
            s.close();
          } catch {
            /* closed */
          }
          resolve(b);
        };
        s.on('error', () => finish(undefined));
        s.on('message', (b) => finish(b));
        s.send(msg, 53, server);
      });
      if (reply) return reply;
    }
    return packet.encode({
      id: q.id,
      type: 'response',
      flags: packet.RECURSION_DESIRED | packet.RECURSION_AVAILABLE | 2 /* SERVFAIL */,
      questions: q.questions,
    });
  }
}
