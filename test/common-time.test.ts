// Pure tests of src/common/time.ts: Go's time.ParseDuration and moby's
// timetypes (GetTimestamp, ParseTimestamps), the one parser behind --since,
// --until, `until=` filters and every duration flag. No daemon.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseGoDuration, goDurationMs, formatGoDuration, getTimestamp, parseUnixTimestamp, timestampNs, timestampMs,
} from '../src/common/time';
import { InvalidParameter } from '../src/util/errors';

test('Go durations: every unit, compounds, fractions, signs, as time.ParseDuration', () => {
  const cases: Array<[string, bigint]> = [
    ['0', 0n], ['-0', 0n], ['+0', 0n],
    ['5s', 5_000_000_000n], ['30s', 30_000_000_000n], ['1478s', 1_478_000_000_000n],
    ['-5s', -5_000_000_000n], ['+5s', 5_000_000_000n], ['-0s', 0n],
    ['5.0s', 5_000_000_000n], ['5.6s', 5_600_000_000n], ['5.s', 5_000_000_000n], ['.5s', 500_000_000n],
    ['1.0s', 1_000_000_000n], ['1.00s', 1_000_000_000n], ['1.004s', 1_004_000_000n], ['100.00100s', 100_001_000_000n],
    ['10ns', 10n], ['11us', 11_000n], ['12µs', 12_000n], ['12μs', 12_000n], ['13ms', 13_000_000n],
    ['14s', 14_000_000_000n], ['15m', 900_000_000_000n], ['16h', 57_600_000_000_000n],
    ['3h30m', 12_600_000_000_000n], ['10.5s4m', 250_500_000_000n], ['-2m3.4s', -123_400_000_000n],
    ['1h2m3s4ms5us6ns', 3_723_004_005_006n], ['39h9m14.425s', 140_954_425_000_000n],
    ['0h0m8s', 8_000_000_000n], ['1h1m', 3_660_000_000_000n],
    ['52763797000ns', 52_763_797_000n], ['0.3333333333333333333h', 1_200_000_000_000n],
    ['9223372036854775807ns', 9_223_372_036_854_775_807n], ['-9223372036854775808ns', -9_223_372_036_854_775_808n],
  ];
  for (const [s, ns] of cases) assert.equal(parseGoDuration(s), ns, s);
  assert.equal(goDurationMs('1m30s'), 90_000);
  assert.equal(goDurationMs('1.5ms'), 1.5);
});

test('Go durations: Go\'s error texts for what ParseDuration refuses', () => {
  const cases: Array<[string, string]> = [
    ['', 'time: invalid duration ""'],
    ['3', 'time: missing unit in duration "3"'],
    ['-', 'time: invalid duration "-"'],
    ['s', 'time: invalid duration "s"'],
    ['.', 'time: invalid duration "."'],
    ['-.', 'time: invalid duration "-."'],
    ['.s', 'time: invalid duration ".s"'],
    ['+.s', 'time: invalid duration "+.s"'],
    ['1d', 'time: unknown unit "d" in duration "1d"'],
    ['1.1.1s', 'time: missing unit in duration "1.1.1s"'],
    ['10 s', 'time: unknown unit " s" in duration "10 s"'],
    ['bogus', 'time: invalid duration "bogus"'],
    ['9223372036854775808ns', 'time: invalid duration "9223372036854775808ns"'],
    ['3000000h', 'time: invalid duration "3000000h"'],
  ];
  for (const [s, msg] of cases) {
    assert.throws(() => parseGoDuration(s), (e: unknown) => e instanceof InvalidParameter && e.message === msg, s);
  }
});

test('Go durations format back as Duration.String()', () => {
  assert.equal(formatGoDuration(0), '0s');
  assert.equal(formatGoDuration(1), '1ns');
  assert.equal(formatGoDuration(1_100), '1.1µs');
  assert.equal(formatGoDuration(2_200_000), '2.2ms');
  assert.equal(formatGoDuration(3_300_000_000), '3.3s');
  assert.equal(formatGoDuration(90_000_000_000), '1m30s');
  assert.equal(formatGoDuration(3_723_000_000_000), '1h2m3s');
  assert.equal(formatGoDuration(-5_000_000_000), '-5s');
});

test('GetTimestamp: durations are "that long before now" in unix seconds', () => {
  const now = Date.UTC(2024, 0, 2, 3, 4, 5, 678);
  const sec = Math.floor(now / 1000);
  assert.equal(getTimestamp('1h', now), String(sec - 3600));
  assert.equal(getTimestamp('1h30m', now), String(sec - 5400));
  assert.equal(getTimestamp('-1m', now), String(Math.floor(now / 1000 + 60)));
  assert.equal(getTimestamp('500ms', now), String(Math.floor((now - 500) / 1000)));
  // "0" is a timestamp, not a duration
  assert.equal(getTimestamp('0', now), '0');
});

test('GetTimestamp: RFC 3339 forms with a zone, as moby', () => {
  const cases: Array<[string, string]> = [
    ['2006-01-02T15:04:05.123456789Z', '1136214245.123456789'],
    ['2006-01-02T15:04:05.1Z', '1136214245.100000000'],
    ['2006-01-02T15:04:05Z', '1136214245.000000000'],
    ['2006-01-02T15:04:05+07:00', '1136189045.000000000'],
    ['2006-01-02T15:04:05-07:00', '1136239445.000000000'],
    ['2006-01-02T15:04Z', '1136214240.000000000'],
    ['2006-01-02T15Z', '1136214000.000000000'],
    ['2006-01-02T15:04+01:00', '1136210640.000000000'],
    ['2006-01-02Z', '1136160000.000000000'],
    ['2006-01-02+01:00', '1136156400.000000000'],
    ['2006-01-02T15:04:05.1234567891Z', '1136214245.123456789'],
  ];
  for (const [v, want] of cases) assert.equal(getTimestamp(v), want, v);
});

test('GetTimestamp: forms without a zone are local time', () => {
  const local = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0) => Math.floor(new Date(y, mo - 1, d, h, mi, s).getTime() / 1000);
  assert.equal(getTimestamp('2006-01-02T15:04:05'), `${local(2006, 1, 2, 15, 4, 5)}.000000000`);
  assert.equal(getTimestamp('2006-01-02T15:04:05.000000001'), `${local(2006, 1, 2, 15, 4, 5)}.000000001`);
  assert.equal(getTimestamp('2006-01-02T15:04'), `${local(2006, 1, 2, 15, 4)}.000000000`);
  assert.equal(getTimestamp('2006-01-02T15'), `${local(2006, 1, 2, 15)}.000000000`);
  assert.equal(getTimestamp('2006-01-02'), `${local(2006, 1, 2)}.000000000`);
  assert.equal(getTimestamp('2000-01-01T00:00:00'), `${local(2000, 1, 1)}.000000000`);
});

test('GetTimestamp: unix timestamps pass through; bad values get the docker CLI\'s texts', () => {
  assert.equal(getTimestamp('1136073600'), '1136073600');
  assert.equal(getTimestamp('1136073600.000000001'), '1136073600.000000001');
  assert.equal(getTimestamp('1.5'), '1.5');
  assert.equal(getTimestamp('10'), '10'); // a number without a unit is seconds, not a duration
  const fails = (v: string, msg: string) =>
    assert.throws(() => getTimestamp(v), (e: unknown) => e instanceof InvalidParameter && e.message === msg, v);
  fails('bogus', 'failed to parse value as time or duration: "bogus"');
  fails('1136073600.', 'failed to parse value as time or duration: "1136073600."');
  fails('1d', 'failed to parse value as time or duration: "1d"');
  fails('2006-13-02', 'parsing time "2006-13-02": month out of range');
  fails('2006-02-30T10:00:00Z', 'parsing time "2006-02-30T10:00:00Z": day out of range');
  fails('2006-01-02T24:00:00', 'parsing time "2006-01-02T24:00:00": hour out of range');
  fails('2006-01-02T10:60', 'parsing time "2006-01-02T10:60": minute out of range');
  fails('2006-01-02X', 'parsing time "2006-01-02X": cannot parse as a timestamp');
  fails('2006-01-02T15:04.5', 'parsing time "2006-01-02T15:04.5": cannot parse as a timestamp');
});

test('ParseTimestamps: seconds and nanoseconds, digits past the ninth dropped', () => {
  assert.deepEqual(parseUnixTimestamp('1136073600'), { sec: 1136073600n, nsec: 0n });
  assert.deepEqual(parseUnixTimestamp('1136073600.5'), { sec: 1136073600n, nsec: 500_000_000n });
  assert.deepEqual(parseUnixTimestamp('1136073600.000000001'), { sec: 1136073600n, nsec: 1n });
  assert.deepEqual(parseUnixTimestamp('1.1234567891'), { sec: 1n, nsec: 123_456_789n });
  assert.throws(() => parseUnixTimestamp('x'), /failed to parse value as time or duration: "x"/);
});

test('the daemon\'s since/until/until=: any form, in nanoseconds; durations keep their fraction', () => {
  const now = Date.UTC(2024, 0, 2, 3, 4, 5, 678);
  assert.equal(timestampNs('1136073600.000000001', now), 1_136_073_600_000_000_001n);
  assert.equal(timestampNs('1136073600', now), 1_136_073_600_000_000_000n);
  assert.equal(timestampNs('0', now), 0n);
  assert.equal(timestampNs('2006-01-02T15:04:05.5Z', now), 1_136_214_245_500_000_000n);
  assert.equal(timestampNs('1500ms', now), BigInt(now - 1500) * 1_000_000n);
  assert.equal(timestampNs('-1m', now), BigInt(now + 60_000) * 1_000_000n);
  // network prune's old parser knew only s/m/h: compounds and small units now work there too
  assert.equal(timestampMs('1h2m3s', now), now - 3_723_000);
  assert.equal(timestampMs('0h0m8s', now), now - 8_000);
  assert.equal(timestampMs('250us', now), now - 0.25);
  assert.throws(() => timestampNs('bogus', now), (e: unknown) => e instanceof InvalidParameter && e.message === 'failed to parse value as time or duration: "bogus"');
});
