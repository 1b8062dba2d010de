// Pure tests of src/common/filters.ts: the `filters` query as moby's
// filters.Args (both JSON forms, accepted names, label and bool rules, error
// texts), the one reader behind every list, prune and events request. No daemon.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Filters, parseFilterJson, invalidFilter } from '../src/common/filters';
import { InvalidParameter } from '../src/util/errors';

const invalid = (msg: string) => (e: unknown) => e instanceof InvalidParameter && e.message === msg;

test('the filters JSON: lists, the old {value: true} maps, nothing; junk is an invalid filter', () => {
  assert.deepEqual(parseFilterJson(null), {});
  assert.deepEqual(parseFilterJson(''), {});
  assert.deepEqual(parseFilterJson('{"label":["a=1","b"],"dangling":["true"]}'), { label: ['a=1', 'b'], dangling: ['true'] });
  assert.deepEqual(parseFilterJson('{"label":{"a=1":true,"b":false}}'), { label: ['a=1'] });
  assert.throws(() => parseFilterJson('{nope'), invalid("invalid filter '{nope'"));
  assert.throws(() => parseFilterJson('{"label":"a"}'), invalid('invalid filter \'{"label":"a"}\''));
});

test('validate: only accepted names, with Docker\'s text', () => {
  const f = new Filters({ label: ['a'], until: ['1h'] });
  assert.equal(f.validate(['label', 'until', 'label!']), f);
  assert.throws(() => f.validate(['label']), invalid("invalid filter 'until'"));
  assert.throws(() => new Filters({ bogus: ['1'] }).validate(['dangling']), invalid("invalid filter 'bogus'"));
  assert.doesNotThrow(() => new Filters({}).validate([]));
  assert.equal(invalidFilter('dangling', ['x', 'y']).message, "invalid filter 'dangling=[x y]'");
});

test('matchKVList: every label=key and label=key=value must be among the labels', () => {
  const labels = { app: 'web', tier: 'front', empty: '', eq: 'a=b' };
  const m = (vals: string[], l: Record<string, string> | null = labels) => new Filters({ label: vals }).matchKVList('label', l);
  assert.equal(new Filters({}).matchKVList('label', labels), true);
  assert.equal(m([]), true);
  assert.equal(m(['app']), true);
  assert.equal(m(['app=web']), true);
  assert.equal(m(['app=web', 'tier=front']), true);
  assert.equal(m(['app=web', 'tier=back']), false);
  assert.equal(m(['app=db']), false);
  assert.equal(m(['nope']), false);
  assert.equal(m(['empty']), true);
  assert.equal(m(['empty=']), true);
  assert.equal(m(['app=']), false);
  assert.equal(m(['eq=a=b']), true); // the value is everything after the first '='
  assert.equal(m(['constructor']), false); // only the labels' own keys
  assert.equal(m(['app'], null), false);
  assert.equal(m(['app'], {}), false);
});

test('matchLabels: label= all match, label!= excludes when all of its entries match (moby\'s prune)', () => {
  const labels = { keep: '1', app: 'web' };
  const ml = (f: Record<string, string[]>, l: Record<string, string> | undefined = labels) => new Filters(f).matchLabels(l);
  assert.equal(ml({}), true);
  assert.equal(ml({ label: ['app=web'] }), true);
  assert.equal(ml({ label: ['app=db'] }), false);
  assert.equal(ml({ 'label!': ['keep'] }), false);
  assert.equal(ml({ 'label!': ['keep=1'] }), false);
  assert.equal(ml({ 'label!': ['keep=2'] }), true);
  assert.equal(ml({ 'label!': ['keep'] }, {}), true);
  assert.equal(new Filters({ 'label!': ['keep'] }).matchLabels(undefined), true);
  assert.equal(ml({ 'label!': ['keep', 'other'] }), true);
  assert.equal(ml({ 'label!': ['keep', 'app=web'] }), false);
  assert.equal(ml({ label: ['app'], 'label!': ['keep=2'] }), true);
});

test('bool: moby\'s GetBoolOrDefault', () => {
  assert.equal(new Filters({}).bool('dangling', true), true);
  assert.equal(new Filters({}).bool('dangling', false), false);
  for (const v of ['true', '1']) assert.equal(new Filters({ dangling: [v] }).bool('dangling', false), true);
  for (const v of ['false', '0']) assert.equal(new Filters({ dangling: [v] }).bool('dangling', true), false);
  assert.equal(new Filters({ dangling: ['true', '1'] }).bool('dangling', false), true);
  assert.throws(() => new Filters({ dangling: ['yes'] }).bool('dangling', false), invalid("invalid filter 'dangling=[yes]'"));
  assert.throws(() => new Filters({ dangling: ['TRUE'] }).bool('dangling', false), invalid("invalid filter 'dangling=[TRUE]'"));
  assert.throws(() => new Filters({ dangling: ['true', 'false'] }).bool('dangling', false), invalid("invalid filter 'dangling=[true false]'"));
  assert.throws(() => new Filters({ dangling: [] }).bool('dangling', false), invalid("invalid filter 'dangling'"));
});

test('get, contains, keys', () => {
  const f = new Filters({ a: ['1', '2'], b: [] });
  assert.deepEqual(f.keys(), ['a', 'b']);
  assert.deepEqual(f.get('a'), ['1', '2']);
  assert.deepEqual(f.get('c'), []);
  assert.equal(f.contains('b'), true);
  assert.equal(f.contains('c'), false);
  assert.equal(f.contains('constructor'), false);
});
