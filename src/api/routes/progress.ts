// JSON-lines progress of registry work (pull, push), shared by the image and
// distribution routes: errors found before any progress are plain HTTP errors
// (404, 401, ...) as Docker answers them; later ones go into the stream.
import type { Ctx } from '../context';
import { messageOf } from '../../util/errors';
import { decodeRegistryAuth, type AuthConfig } from '../../distribution/auth';
import type { JSONMessage, ProgressSink } from '../../distribution/progress';

/** The X-Registry-Auth header, decoded. */
export function authOf(ctx: Ctx): AuthConfig | undefined {
  const h = ctx.req.headers['x-registry-auth'];
  return decodeRegistryAuth(Array.isArray(h) ? h[0] : h);
}

/** Runs `work` with a sink that sends the 200 headers on its first message. */
export async function withProgress(ctx: Ctx, work: (sink: ProgressSink) => Promise<unknown>): Promise<void> {
  let res: ReturnType<Ctx['stream']> | undefined;
  const sink: ProgressSink = {
    write(m: JSONMessage) {
      if (!res) res = ctx.stream(200, 'application/json');
      res.write(JSON.stringify(m) + '\n');
    },
  };
  try {
    await work(sink);
  } catch (e) {
    if (!res) throw e;
    sink.write({ errorDetail: { message: messageOf(e) }, error: messageOf(e) });
  }
  res?.end();
}
