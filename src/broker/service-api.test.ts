/** The NATS Service API module: subjects, versions, and responses built and read back, by tables. */
import { describe, expect, it } from 'vitest';
import {
  controlSubject,
  decodeStats,
  encodeInfo,
  encodePing,
  encodeStats,
  responseTypes,
  type ServiceIdentity,
  semverPattern,
  serviceVersion,
} from './service-api.ts';

const identity: ServiceIdentity = {
  name: 'shapes',
  id: 'abc123',
  version: '2.1.0',
  metadata: { 'keel.node_id': 'node-1' },
};
const endpoint = { name: 'area', subject: 'shapes.v2.area', queueGroup: 'shapes.v2' };

describe('control subjects', () => {
  it.each([
    [['PING'], '$SRV.PING'],
    [['INFO', 'shapes'], '$SRV.INFO.shapes'],
    [['STATS', 'shapes', 'abc123'], '$SRV.STATS.shapes.abc123'],
  ] as const)('%j → %s', (args, subject) => {
    expect(controlSubject(...(args as unknown as Parameters<typeof controlSubject>))).toBe(subject);
  });
});

describe('service versions', () => {
  it.each([
    [1, 1, '1.0.0'],
    [12, 12, '12.0.0'],
    ['2.1.0', 2, '2.1.0'],
    ['2.1.0-rc.1+build.5', 2, '2.1.0-rc.1+build.5'],
    // What the contract accepts but semver does not: the major stands for it.
    ['02.1.0', 2, '2.0.0'],
    ['3.0.0-', 3, '3.0.0'],
  ] as const)('%j (major %d) shows as %s', (version, major, shown) => {
    expect(serviceVersion(version, major)).toBe(shown);
    expect(semverPattern.test(shown)).toBe(true);
  });
});

describe('responses', () => {
  it('builds PING and INFO as ADR-32 defines them', () => {
    expect(encodePing(identity)).toEqual({
      type: 'io.nats.micro.v1.ping_response',
      name: 'shapes',
      id: 'abc123',
      version: '2.1.0',
      metadata: { 'keel.node_id': 'node-1' },
    });
    expect(
      encodeInfo(identity, '', [endpoint, { name: 'x', subject: 's.x', queueGroup: undefined }]),
    ).toEqual({
      type: 'io.nats.micro.v1.info_response',
      name: 'shapes',
      id: 'abc123',
      version: '2.1.0',
      metadata: { 'keel.node_id': 'node-1' },
      description: '',
      endpoints: [
        { name: 'area', subject: 'shapes.v2.area', queue_group: 'shapes.v2' },
        { name: 'x', subject: 's.x' },
      ],
    });
  });

  it.each([
    [{ requests: 0, errors: 0, lastError: '', processingMs: 0 }, 0, 0],
    [{ requests: 4, errors: 1, lastError: 'E: no', processingMs: 2 }, 2_000_000, 500_000],
    [{ requests: 3, errors: 0, lastError: '', processingMs: 0.001 }, 1000, 333],
  ])('builds STATS with times in nanoseconds: %j', (counters, total, average) => {
    const started = new Date('2026-01-02T03:04:05.678Z');
    expect(encodeStats(identity, started, [{ ...endpoint, ...counters }])).toEqual({
      type: 'io.nats.micro.v1.stats_response',
      name: 'shapes',
      id: 'abc123',
      version: '2.1.0',
      metadata: { 'keel.node_id': 'node-1' },
      started: '2026-01-02T03:04:05.678Z',
      endpoints: [
        {
          name: 'area',
          subject: 'shapes.v2.area',
          queue_group: 'shapes.v2',
          num_requests: counters.requests,
          num_errors: counters.errors,
          last_error: counters.lastError,
          processing_time: total,
          average_processing_time: average,
        },
      ],
    });
  });
});

describe('reading STATS back', () => {
  const good = encodeStats(identity, new Date(0), [
    { ...endpoint, requests: 2, errors: 1, lastError: 'E: x', processingMs: 1 },
  ]);

  it('reads what it builds, and what another ADR-32 service sends (null metadata, no queue group)', () => {
    expect(decodeStats(JSON.parse(JSON.stringify(good)))).toEqual({
      ok: true,
      value: {
        ...identity,
        started: '1970-01-01T00:00:00.000Z',
        endpoints: [
          {
            ...endpoint,
            requests: 2,
            errors: 1,
            lastError: 'E: x',
            processingTimeNs: 1_000_000,
            averageProcessingTimeNs: 500_000,
          },
        ],
      },
    });
    const foreign = {
      type: responseTypes.STATS,
      name: 'other',
      id: 'X',
      version: '0.0.1',
      metadata: null,
      started: '2026-01-01T00:00:00Z',
      endpoints: [
        {
          name: 'e',
          subject: 'e',
          num_requests: 0,
          num_errors: 0,
          processing_time: 0,
          average_processing_time: 0,
        },
      ],
    };
    const read = decodeStats(foreign);
    expect(read.ok && read.value.metadata).toEqual({});
    expect(read.ok && read.value.endpoints[0]).toMatchObject({ queueGroup: undefined, lastError: '' });
  });

  it.each([
    ['not an object', 'pong', /not a stats response/],
    ['another type', { ...good, type: responseTypes.INFO }, /its type must be/],
    ['a name with a dot', { ...good, name: 'a.b' }, /its name/],
    ['no id', { ...good, id: '' }, /its id/],
    ['a version that is not semver', { ...good, version: '1' }, /semantic version/],
    ['no started', { ...good, started: 5 }, /its started/],
    ['metadata with a number', { ...good, metadata: { a: 1 } }, /metadata/],
    ['endpoints not an array', { ...good, endpoints: {} }, /endpoints must be an array/],
    ['an endpoint without a subject', { ...good, endpoints: [{ name: 'a' }] }, /endpoints\[0\] must have/],
    [
      'an endpoint with a string count',
      {
        ...good,
        endpoints: [
          {
            name: 'a',
            subject: 'a',
            num_requests: '1',
            num_errors: 0,
            processing_time: 0,
            average_processing_time: 0,
          },
        ],
      },
      /numeric/,
    ],
  ])('refuses %s, saying why', (_what, value, reason) => {
    const read = decodeStats(value);
    expect(read.ok).toBe(false);
    expect(!read.ok && read.reason).toMatch(reason);
  });
});
