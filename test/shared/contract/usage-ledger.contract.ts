/**
 * Behaviour every UsageLedger adapter must have. Run by `local.test.ts` (memory and disk) and
 * `aws.test.ts` (S3 on s3rver).
 */
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../shared/src/errors.js';
import { newJobId } from '../../../shared/src/ids.js';
import type { UsageLedger, UsageRecord } from '../../../shared/src/ports/usage-ledger.js';

export interface UsageLedgerContractOptions {
  makeLedger: () => Promise<UsageLedger>;
  /**
   * Whether the backing store enforces conditional writes (first record of a job wins). False
   * for s3rver, which ignores If-None-Match; aws-adapters.test.ts checks the header is sent.
   */
  enforcesConditionalWrites: boolean;
}

const JANUARY = { from: new Date('2025-01-01T00:00:00Z'), to: new Date('2025-02-01T00:00:00Z') };

let sequence = 0;
/** A record of `tenantId` at `at`, with a fresh job id. */
function usage(tenantId: string, at: string, counts: Partial<UsageRecord> = {}): UsageRecord {
  return {
    tenantId,
    jobId: newJobId(new Date(Date.parse(at) + ++sequence)),
    at: new Date(at),
    images: 1,
    faces: 1,
    modelSeconds: 1,
    ...counts,
  };
}

export function describeUsageLedgerContract(family: string, options: UsageLedgerContractOptions): void {
  describe(`UsageLedger contract: ${family}`, () => {
    it("sums a tenant's jobs, images, faces and model seconds in [from, to)", async () => {
      // Prepare: a photo without faces (detection only), a group photo, a portrait; records
      // outside the period and of another tenant.
      const ledger = await options.makeLedger();
      await ledger.record(usage('tenant-a', '2025-01-01T00:00:00Z', { faces: 0, modelSeconds: 0.05 }));
      await ledger.record(usage('tenant-a', '2025-01-15T10:00:00Z', { faces: 6, modelSeconds: 12.5 }));
      await ledger.record(usage('tenant-a', '2025-01-31T23:59:59Z', { faces: 1, modelSeconds: 2.25 }));
      await ledger.record(usage('tenant-a', '2025-02-01T00:00:00Z', { faces: 9, modelSeconds: 99 }));
      await ledger.record(usage('tenant-a', '2024-12-31T23:59:59Z', { faces: 9, modelSeconds: 99 }));
      await ledger.record(usage('tenant-b', '2025-01-10T00:00:00Z', { faces: 9, modelSeconds: 99 }));
      // Act
      const summary = await ledger.sum('tenant-a', JANUARY);
      // Assess
      expect(summary).toEqual({
        tenantId: 'tenant-a',
        from: JANUARY.from,
        to: JANUARY.to,
        jobs: 3,
        images: 3,
        faces: 7,
        modelSeconds: expect.closeTo(14.8, 9) as number,
      });
    });

    it('sums zero for a tenant without records', async () => {
      const ledger = await options.makeLedger();
      expect(await ledger.sum('tenant-none', JANUARY)).toMatchObject({
        jobs: 0,
        images: 0,
        faces: 0,
        modelSeconds: 0,
      });
    });

    it('counts one face per image for records written before photo mode (no faces field)', async () => {
      // Prepare
      const ledger = await options.makeLedger();
      const { faces: _faces, ...legacy } = usage('tenant-a', '2025-01-05T00:00:00Z', { images: 1 });
      await ledger.record(legacy);
      await ledger.record(usage('tenant-a', '2025-01-06T00:00:00Z', { faces: 0 }));
      // Act
      const summary = await ledger.sum('tenant-a', JANUARY);
      // Assess
      expect(summary).toMatchObject({ jobs: 2, images: 2, faces: 1 });
    });

    it.runIf(options.enforcesConditionalWrites)(
      'keeps the first record of a job: recording it again changes nothing',
      async () => {
        // Prepare
        const ledger = await options.makeLedger();
        const first = usage('tenant-a', '2025-01-07T00:00:00Z', { faces: 2, modelSeconds: 3 });
        await ledger.record(first);
        // Act
        await ledger.record({ ...first, faces: 20, modelSeconds: 30 });
        // Assess
        expect(await ledger.sum('tenant-a', JANUARY)).toMatchObject({ jobs: 1, faces: 2, modelSeconds: 3 });
      },
    );

    it('lists each tenant with records once, sorted, whatever the time of its records', async () => {
      // Prepare: ids the adapters must encode ('.'), records years apart, two of one tenant.
      const ledger = await options.makeLedger();
      await ledger.record(usage('tenant-b', '2025-01-10T00:00:00Z'));
      await ledger.record(usage('acme.photos', '2019-06-01T00:00:00Z'));
      await ledger.record(usage('tenant-b', '2031-12-31T23:59:59Z'));
      await ledger.record(usage('Tenant_A', '2025-01-02T00:00:00Z'));
      // Act
      const tenantIds = await ledger.tenantIds();
      // Assess
      expect(tenantIds).toEqual(['Tenant_A', 'acme.photos', 'tenant-b']);
    });

    it('lists no tenants before the first record, nor any whose record was refused', async () => {
      // Prepare
      const ledger = await options.makeLedger();
      const empty = await ledger.tenantIds();
      await expect(
        ledger.record({ ...usage('tenant-refused', '2025-01-08T00:00:00Z'), images: -1 }),
      ).rejects.toBeInstanceOf(ValidationError);
      // Act
      const afterRefusal = await ledger.tenantIds();
      // Assess
      expect([empty, afterRefusal]).toEqual([[], []]);
    });

    it.each([
      ['a malformed job id', { jobId: 'job_1' }],
      ['an invalid date', { at: new Date('not a date') }],
      ['negative faces', { faces: -1 }],
      ['fractional faces', { faces: 1.5 }],
      ['negative images', { images: -1 }],
      ['negative model seconds', { modelSeconds: -0.5 }],
      ['non-finite model seconds', { modelSeconds: Number.NaN }],
    ])('refuses %s and records nothing', async (_what, bad) => {
      // Prepare
      const ledger = await options.makeLedger();
      // Act
      const recording = ledger.record({ ...usage('tenant-a', '2025-01-08T00:00:00Z'), ...bad });
      // Assess
      await expect(recording).rejects.toBeInstanceOf(ValidationError);
      expect(await ledger.sum('tenant-a', JANUARY)).toMatchObject({ jobs: 0 });
    });
  });
}
