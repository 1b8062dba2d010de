// The routing mesh's pure parts (src/swarm/network/overlay.ts): the ingress
// ports a node sees for a service, and the TaskTemplate as views show it
// (without the ingress attachment the manager adds).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { meshPorts, hideIngress, INGRESS_MARK } from '../src/swarm/network/overlay';

test('meshPorts: ingress ports with a published port, protocol defaulted; host ports left out', () => {
  assert.deepEqual(meshPorts({
    Ports: [
      { Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' },
      { TargetPort: 53, PublishedPort: 5353, Protocol: 'udp' },
      { Protocol: 'tcp', TargetPort: 81, PublishedPort: 8081, PublishMode: 'host' },
      { Protocol: 'tcp', TargetPort: 82, PublishMode: 'ingress' },
    ],
  }), [
    { protocol: 'tcp', published: 8080, target: 80 },
    { protocol: 'udp', published: 5353, target: 53 },
  ]);
  assert.deepEqual(meshPorts(undefined), []);
});

test('hideIngress: the marked attachment goes, the others stay; no Networks left: none shown', () => {
  const ing = { Target: 'ingressid', DriverOpts: { [INGRESS_MARK]: 'true' } };
  const tt = { ContainerSpec: { Image: 'busybox' }, Networks: [{ Target: 'ov', Aliases: [] }, ing] };
  assert.deepEqual(hideIngress(tt), { ContainerSpec: { Image: 'busybox' }, Networks: [{ Target: 'ov', Aliases: [] }] });
  assert.deepEqual(hideIngress({ ContainerSpec: {}, Networks: [ing] }), { ContainerSpec: {} });
  const plain = { ContainerSpec: {}, Networks: [{ Target: 'ov' }] };
  assert.equal(hideIngress(plain), plain);
  // the stored template is not changed
  assert.equal(tt.Networks.length, 2);
});
