// Pieces of the manager's quieter etcd use, without etcd: the splitter of
// the gateway's streamed watch answers (whole JSON objects from chunks cut
// anywhere, braces inside strings), and TLS contexts made once per identity.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonObjects } from '../src/swarm/etcd-client';
import { secureContextFor } from '../src/swarm/tls-context';
import { createCA } from '../src/host/x509';

test('watch stream: whole objects from chunks cut anywhere, braces and quotes inside strings', () => {
  const msgs = [
    { result: { header: { revision: '7' }, created: true } },
    { result: { header: { revision: '8' }, events: [{ kv: { key: 'a2V5', value: 'e30=' } }] } },
    { result: { header: { revision: '9' }, note: 'a } brace, a { brace and a \\"quote\\" in a string' } },
  ];
  const text = msgs.map((m) => JSON.stringify(m)).join('\n') + '\n';
  for (const size of [1, 2, 3, 7, 64, text.length]) {
    const got: unknown[] = [];
    const split = jsonObjects((m) => got.push(m));
    for (let i = 0; i < text.length; i += size) split(Buffer.from(text.slice(i, i + size)));
    assert.deepEqual(got, msgs, `chunks of ${size}`);
  }
  // a half object waits for the rest
  const got: unknown[] = [];
  const split = jsonObjects((m) => got.push(m));
  split(Buffer.from('{"result":{"header":{"revision":"10"'));
  assert.equal(got.length, 0);
  split(Buffer.from('}}}\n'));
  assert.deepEqual(got, [{ result: { header: { revision: '10' } } }]);
});

test('a TLS context per identity: the same object for the same PEMs, another for another identity', async () => {
  const a = await createCA('a');
  const b = await createCA('b');
  const ca = secureContextFor({ ca: a.certPem, cert: a.certPem, key: a.keyPem });
  assert.equal(secureContextFor({ ca: a.certPem, cert: a.certPem, key: a.keyPem }), ca);
  assert.notEqual(secureContextFor({ ca: a.certPem, cert: b.certPem, key: b.keyPem }), ca);
  assert.notEqual(secureContextFor({}), ca);
  assert.throws(() => secureContextFor({ cert: 'not a certificate', key: 'not a key' }));
});
