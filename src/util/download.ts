// An HTTP(S) GET that follows redirects: `docker import <url>` downloads the
// rootfs tar it imports (moby's ImportImage fetches the URL itself).
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { InvalidParameter, SystemError } from './errors';

/** The response body of `url`; a non-200 answer or a network error is a SystemError. */
export function download(url: string, redirects = 5): Promise<Readable> {
  return new Promise((resolve, reject) => {
    let u: URL;
    try { u = new URL(url); } catch { return reject(new InvalidParameter(`invalid import source: ${url}`)); }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return reject(new InvalidParameter(`unsupported import source: ${url}`));
    const req = (u.protocol === 'https:' ? https : http).get(u, (res) => {
      const code = res.statusCode ?? 0;
      if (code >= 300 && code < 400 && res.headers.location && redirects > 0) {
        res.resume();
        download(new URL(res.headers.location, u).href, redirects - 1).then(resolve, reject);
        return;
      }
      if (code !== 200) {
        res.resume();
        return reject(new SystemError(`error downloading ${url}: HTTP ${code}`));
      }
      resolve(res);
    });
    req.setTimeout(60_000, () => req.destroy(new Error('timeout')));
    req.on('error', (e) => reject(new SystemError(`error downloading ${url}: ${e.message}`)));
  });
}
