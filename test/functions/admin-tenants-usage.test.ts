/**
 * `npm run tenants -- usage`: the operator's billing report, end to end from records written
 * through the ledgers (disk in a temp data dir; S3 on s3rver) to the printed table, JSON and CSV.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { S3UsageLedger } from '../../shared/adapters/aws/index.js';
import { DiskUsageLedger } from '../../shared/adapters/local/index.js';
import { newJobId, ValidationError, type UsageLedger, type UsageRecord } from '../../shared/src/index.js';
import { tenantsCli, type TenantsCliDependencies } from '../../functions/src/admin/tenants.js';
import { UsageStoreError } from '../../functions/src/admin/usage-store.js';
import { startAwsStandIns, type AwsStandIns } from '../shared/helpers/aws-standins.js';

/** "Now" for every run: January 2025 is the current month. */
const NOW = new Date('2025-01-20T09:30:00Z');
const clock = { now: () => NOW };

let root: string;
/** A data dir holding the records of {@link writeRecords}. */
let dataDir: string;
let aws: AwsStandIns;

let sequence = 0;
function usage(tenantId: string, at: string, counts: Partial<UsageRecord> = {}): UsageRecord {
  const when = new Date(at);
  return {
    tenantId,
    jobId: newJobId(new Date(when.getTime() + ++sequence)),
    at: when,
    images: 1,
    faces: 1,
    modelSeconds: 1,
    ...counts,
  };
}

/**
 * acme: three jobs in January (one on each boundary of the month is in, the one on February's
 * first instant is out), one in December; beta.co: a faceless photo and a group photo in January;
 * gamma: December only, so nothing this month.
 */
async function writeRecords(ledger: UsageLedger): Promise<void> {
  const records = [
    usage('acme', '2025-01-01T00:00:00.000Z', { modelSeconds: 1.0004 }),
    usage('acme', '2025-01-15T12:00:00.000Z', { images: 2, faces: 5, modelSeconds: 10.0004 }),
    usage('acme', '2025-01-31T23:59:59.999Z', { faces: 2, modelSeconds: 2.5 }),
    usage('acme', '2025-02-01T00:00:00.000Z', { faces: 9, modelSeconds: 90 }),
    usage('acme', '2024-12-31T23:59:59.999Z', { faces: 9, modelSeconds: 90 }),
    usage('beta.co', '2025-01-10T08:00:00.000Z', { faces: 0, modelSeconds: 0.05 }),
    usage('beta.co', '2025-01-11T08:00:00.000Z', { faces: 6, modelSeconds: 0.1 + 0.2 }),
    usage('gamma', '2024-12-05T00:00:00.000Z', { faces: 3, modelSeconds: 7 }),
  ];
  for (const record of records) await ledger.record(record);
}

async function run(dependencies: TenantsCliDependencies, ...args: string[]): Promise<string> {
  let output = '';
  await tenantsCli((text) => (output += text), { clock, env: {}, ...dependencies }).parseAsync([
    'node',
    'tenants',
    'usage',
    ...args,
  ]);
  return output;
}

/** A run against the temp data dir, given on the command line. */
const local = (...args: string[]) => run({}, '--data-dir', dataDir, ...args);

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'dr2e-tenants-usage-'));
  dataDir = path.join(root, 'data');
  await writeRecords(new DiskUsageLedger({ dir: path.join(dataDir, 'usage') }));
});

afterAll(async () => {
  await aws?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('npm run tenants -- usage (local data dir)', () => {
  it('prints this month per tenant with usage, and a total, as a table by default', async () => {
    // Act
    const output = await local();
    // Assess: gamma used nothing this month; modelSeconds to the millisecond.
    expect(output).toBe(
      [
        `Usage from 2025-01-01T00:00:00.000Z to 2025-02-01T00:00:00.000Z (exclusive), ${path.join(dataDir, 'usage')}`,
        'tenant   jobs  images  faces  modelSeconds',
        'acme        3       4      8        13.501',
        'beta.co     2       2      6         0.350',
        '(total)     5       6     14        13.851',
        '',
      ].join('\n'),
    );
  });

  it('prints the JSON shape: period, one object per tenant, total', async () => {
    // Act
    const output = await local('--json');
    // Assess
    expect(JSON.parse(output)).toEqual({
      from: '2025-01-01T00:00:00.000Z',
      to: '2025-02-01T00:00:00.000Z',
      tenants: [
        { tenantId: 'acme', jobs: 3, images: 4, faces: 8, modelSeconds: 13.501 },
        { tenantId: 'beta.co', jobs: 2, images: 2, faces: 6, modelSeconds: 0.35 },
      ],
      total: { jobs: 5, images: 6, faces: 14, modelSeconds: 13.851 },
    });
  });

  it('prints CSV with a header row, the period on every row and a total row', async () => {
    // Act
    const output = await local('--csv', '--from', '2024-12-01', '--to', '2025-01-01');
    // Assess: December: acme's and gamma's last-month records.
    expect(output).toBe(
      [
        'tenantId,from,to,jobs,images,faces,modelSeconds',
        'acme,2024-12-01T00:00:00.000Z,2025-01-01T00:00:00.000Z,1,1,9,90',
        'gamma,2024-12-01T00:00:00.000Z,2025-01-01T00:00:00.000Z,1,1,3,7',
        '(total),2024-12-01T00:00:00.000Z,2025-01-01T00:00:00.000Z,2,2,12,97',
        '',
      ].join('\n'),
    );
  });

  it.each([
    ['a month: from inclusive, to exclusive', ['--from', '2025-01-01', '--to', '2025-02-01'], 3],
    ['the last millisecond of a month', ['--from', '2025-01-31T23:59:59.999Z', '--to', '2025-02-01'], 1],
    ['the first instant of the next month', ['--from', '2025-02-01', '--to', '2025-02-01T00:00:00.001Z'], 1],
    ['from alone: to the end of the current month', ['--from', '2025-01-15T12:00:00Z'], 2],
    [
      'an offset date-time',
      ['--from', '2025-01-01T01:00:00+01:00', '--to', '2025-01-01T01:00:00.001+01:00'],
      1,
    ],
    ['a day with nothing', ['--from', '2025-01-20', '--to', '2025-01-21'], 0],
  ])("counts acme's jobs in %s", async (_what, period, jobs) => {
    // Act
    const output = await local('acme', '--json', ...period);
    // Assess
    expect((JSON.parse(output) as { tenants: { jobs: number }[] }).tenants[0]?.jobs).toBe(jobs);
  });

  it('reports named tenants in the order given, once each, with zeros for a tenant without usage', async () => {
    // Act: "revoked" never had a record; gamma has none this month.
    const output = await local('revoked', 'beta.co', 'gamma', 'beta.co', '--json');
    // Assess
    const report = JSON.parse(output) as { tenants: unknown[]; total: unknown };
    expect(report.tenants).toEqual([
      { tenantId: 'revoked', jobs: 0, images: 0, faces: 0, modelSeconds: 0 },
      { tenantId: 'beta.co', jobs: 2, images: 2, faces: 6, modelSeconds: 0.35 },
      { tenantId: 'gamma', jobs: 0, images: 0, faces: 0, modelSeconds: 0 },
    ]);
    expect(report.total).toEqual({ jobs: 2, images: 2, faces: 6, modelSeconds: 0.35 });
  });

  it('says so when no tenant used anything in the period', async () => {
    // Act
    const output = await local('--from', '2023-01-01', '--to', '2023-02-01');
    // Assess
    expect(output.split('\n').slice(2)).toEqual([
      '(no usage in this period)',
      '(total)     0       0      0         0.000',
      '',
    ]);
  });

  it('reads DR2E_DATA_DIR when no store is given on the command line', async () => {
    // Act
    const output = await run({ env: { DR2E_DATA_DIR: dataDir } }, 'gamma', '--csv', '--from', '2024-12-01');
    // Assess
    expect(output.split('\n')[1]).toBe('gamma,2024-12-01T00:00:00.000Z,2025-02-01T00:00:00.000Z,1,1,3,7');
  });

  it.each([
    ['from not before to', ['--from', '2025-02-01', '--to', '2025-01-01'], /from must be before to/],
    ['a period over 400 days', ['--from', '2024-01-01', '--to', '2025-02-05'], /at most 400 days/],
    ['a date that is not ISO', ['--from', '01/02/2025'], /invalid period at from/],
  ])('refuses %s', async (_what, period, message) => {
    // Act
    const running = local(...period);
    // Assess
    await expect(running).rejects.toBeInstanceOf(ValidationError);
    await expect(running).rejects.toThrow(message);
  });
});

describe('npm run tenants -- usage: choosing the store', () => {
  it.each([
    [
      'no store given anywhere',
      {},
      [],
      /no usage store given: pass --bucket <name> \(AWS\) or --data-dir <dir>/,
    ],
    ['aws mode without a bucket', { DR2E_MODE: 'aws' }, [], /DR2E_MODE=aws but DR2E_BUCKET is not set/],
    ['an unknown mode', { DR2E_MODE: 'cloud' }, [], /DR2E_MODE must be local or aws/],
    ['a bucket and a data dir', {}, ['--bucket', 'b', '--data-dir', '.'], /not both/],
    [
      'a prefix with a data dir',
      {},
      ['--data-dir', '.', '--prefix', 'usage/'],
      /--prefix applies to --bucket only/,
    ],
    ['a data dir that does not exist', {}, ['--data-dir', '/nonexistent/dr2e-data'], /no data dir at/],
    // The services' local default (.data) is never read unasked: local mode needs it named.
    [
      'local mode without DR2E_DATA_DIR',
      { DR2E_MODE: 'local', DR2E_BUCKET: 'b' },
      [],
      /no usage store given/,
    ],
  ])('refuses %s, reading nothing', async (_what, env, args, message) => {
    // Act
    const running = run({ env }, ...args);
    // Assess
    await expect(running).rejects.toBeInstanceOf(UsageStoreError);
    await expect(running).rejects.toThrow(message);
  });

  it('refuses --json with --csv', async () => {
    await expect(local('--json', '--csv')).rejects.toThrow(/cannot be used with/);
  });

  describe('S3 (s3rver)', () => {
    let bucket: string;
    /** The S3 client factory the CLI is given, with the regions it was asked for. */
    const regions: (string | undefined)[] = [];
    const s3Client = (region: string | undefined) => {
      regions.push(region);
      return aws.s3;
    };

    beforeAll(async () => {
      aws = await startAwsStandIns();
      bucket = await aws.createBucket();
      await writeRecords(new S3UsageLedger({ client: aws.s3, bucket, prefix: 'usage/' }));
      await new S3UsageLedger({ client: aws.s3, bucket, prefix: 'archive/' }).record(
        usage('archived', '2025-01-05T00:00:00Z'),
      );
    });

    it('reads --bucket with the region from AWS_REGION, the same report as on disk', async () => {
      // Act
      const fromS3 = await run({ s3Client, env: { AWS_REGION: 'eu-west-1' } }, '--json', '--bucket', bucket);
      // Assess
      expect(JSON.parse(fromS3)).toEqual(JSON.parse(await local('--json')));
      expect(regions.at(-1)).toBe('eu-west-1');
    });

    it('reads DR2E_BUCKET in aws mode without the other service variables, and honours --prefix', async () => {
      // Act: a prefix without its slash still names the folder.
      const output = await run(
        { s3Client, env: { DR2E_MODE: 'aws', DR2E_BUCKET: bucket } },
        '--csv',
        '--prefix',
        'archive',
      );
      // Assess
      expect(output.split('\n')[1]).toBe(
        'archived,2025-01-01T00:00:00.000Z,2025-02-01T00:00:00.000Z,1,1,1,1',
      );
    });

    it("bills from the records, never from the API's day totals, whose sums nothing checks", async () => {
      // Prepare: the API's ledger sums (and keeps day totals); then every total's sums are zeroed.
      const api = new S3UsageLedger({ client: aws.s3, bucket, prefix: 'usage/' });
      for (const tenant of ['acme', 'beta.co', 'gamma']) {
        await api.sum(tenant, {
          from: new Date('2025-01-01T00:00:00Z'),
          to: new Date('2025-02-01T00:00:00Z'),
        });
      }
      const listed = await aws.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'usage-days/' }));
      const totals = (listed.Contents ?? []).map((object) => object.Key ?? '');
      for (const key of totals) {
        const body = await (
          await aws.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
        ).Body?.transformToString();
        const zeroed = { ...(JSON.parse(body ?? '{}') as object), images: 0, faces: 0, modelSeconds: 0 };
        await aws.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: JSON.stringify(zeroed) }));
      }
      // Act
      const january = ['--from', '2025-01-01', '--to', '2025-02-01'];
      const fromS3 = await run({ s3Client }, '--json', '--bucket', bucket, ...january);
      // Assess
      expect(totals.length).toBeGreaterThan(0);
      expect(JSON.parse(fromS3)).toEqual(JSON.parse(await local('--json', ...january)));
      expect(JSON.parse(fromS3).total.images).toBeGreaterThan(0);
    });

    it('names the bucket and prefix it read in the table', async () => {
      // Act
      const output = await run({ s3Client }, '--bucket', bucket, 'gamma');
      // Assess
      expect(output.split('\n')[0]).toMatch(new RegExp(`, s3://${bucket}/usage/$`));
    });
  });
});
