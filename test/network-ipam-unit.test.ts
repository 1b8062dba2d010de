// IPAM's lowest-free allocation, from its kept set of taken addresses: the
// same answers as the table alone gives, through releases by address, by
// owner and by network, a preferred address, the gateway, and a new Ipam
// on the same database.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { Ipam } from '../src/network/ipam';

test('ipam: lowest free address through releases, preferred addresses, the gateway and a reopen', () => {
  const db = new Database(':memory:');
  const ipam = new Ipam(db);
  const pool = { subnet: '10.9.0.0/24', gateway: '10.9.0.1' };
  const got = (owner: string, preferred?: string) => ipam.allocate('n1', pool, owner, preferred);
  assert.deepEqual(['a', 'b', 'c', 'd'].map((o) => got(o)), ['10.9.0.2', '10.9.0.3', '10.9.0.4', '10.9.0.5']);
  ipam.release('n1', '10.9.0.3');
  assert.equal(got('e'), '10.9.0.3', 'a released address is the lowest free again');
  ipam.releaseOwner('a');
  assert.equal(got('f'), '10.9.0.2', 'released by owner');
  assert.throws(() => got('g', '10.9.0.1'), /Address already in use/, 'the gateway');
  assert.throws(() => got('g', '10.9.0.4'), /Address already in use/);
  assert.equal(got('g', '10.9.0.200'), '10.9.0.200');
  assert.equal(got('h'), '10.9.0.6');
  // another network's addresses are its own
  assert.equal(ipam.allocate('n2', pool, 'x'), '10.9.0.2');
  // a new Ipam on the same table agrees
  const again = new Ipam(db);
  assert.equal(again.allocate('n1', pool, 'i'), '10.9.0.7');
  assert.equal(ipam.allocate('n1', pool, 'j'), '10.9.0.8', 'an Ipam behind the table (a write not its own) reads it again');
  ipam.releaseNetwork('n1');
  assert.equal(got('k'), '10.9.0.2', 'a released network starts again from its lowest');
  const rows = db.prepare("SELECT ip FROM ipam_addr WHERE network_id = 'n1'").all();
  assert.equal(rows.length, 1);
  db.close();
});

test('ipam: a preferred address taken behind its back is "Address already in use", not a database error', () => {
  const db = new Database(':memory:');
  const a = new Ipam(db);
  const b = new Ipam(db);
  const pool = { subnet: '10.9.0.0/24', gateway: '10.9.0.1' };
  a.allocate('n', pool, 'x'); // a reads the table now
  b.allocate('n', pool, 'y', '10.9.0.9');
  assert.throws(() => a.allocate('n', pool, 'z', '10.9.0.9'), /Address already in use/);
  assert.equal(a.allocate('n', pool, 'z'), '10.9.0.3');
  db.close();
});
