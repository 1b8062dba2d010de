// The iptables backend of service VIP balancing (src/network/balancer.ts):
// the rules text it restores in a client's namespace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { vipRules } from '../src/network/balancer';

test('one DNAT per backend, probabilities 1/n, 1/(n-1), … and the last unconditional', () => {
  const txt = vipRules([{ vip: '10.0.1.2', backends: ['10.0.1.5', '10.0.1.3', '10.0.1.4'] }], true);
  assert.deepEqual(txt.split('\n'), [
    '*nat',
    ':BERTH-VIP - [0:0]',
    '-I OUTPUT 1 -j BERTH-VIP',
    '-A BERTH-VIP -d 10.0.1.2/32 -m statistic --mode random --probability 0.33333333 -j DNAT --to-destination 10.0.1.3',
    '-A BERTH-VIP -d 10.0.1.2/32 -m statistic --mode random --probability 0.50000000 -j DNAT --to-destination 10.0.1.4',
    '-A BERTH-VIP -d 10.0.1.2/32 -j DNAT --to-destination 10.0.1.5',
    'COMMIT',
    '',
  ]);
});

test('no backends: the chain is emptied; the jump only the first time', () => {
  assert.equal(vipRules([{ vip: '10.0.1.2', backends: [] }], false), '*nat\n:BERTH-VIP - [0:0]\nCOMMIT\n');
});
