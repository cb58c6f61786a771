/**
 * Behaviour every BlobStore adapter must have. Run by `local.test.ts` and `aws.test.ts`.
 */
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../shared/src/errors.js';
import type { BlobStore } from '../../../shared/src/ports/blob-store.js';
import { postUploadForm, sampleBytes } from '../helpers/upload.js';

export interface BlobStoreContractOptions {
  makeStore: () => Promise<BlobStore>;
  /**
   * Whether uploads outside the form's size and content-type limits are refused by the
   * server. False for s3rver, which ignores POST policy conditions.
   */
  enforcesUploadPolicy: boolean;
}

export function describeBlobStoreContract(family: string, options: BlobStoreContractOptions): void {
  describe(`BlobStore contract: ${family}`, () => {
    it('stores bytes with their content type and reads them back', async () => {
      // Prepare
      const store = await options.makeStore();
      const bytes = sampleBytes(1000);
      // Act
      await store.put('tenants/t1/jobs/a/input', bytes, { contentType: 'image/png' });
      const blob = await store.get('tenants/t1/jobs/a/input');
      const info = await store.head('tenants/t1/jobs/a/input');
      // Assess
      expect(blob?.body).toEqual(bytes);
      expect(blob?.contentType).toBe('image/png');
      expect(info).toMatchObject({ key: 'tenants/t1/jobs/a/input', size: 1000, contentType: 'image/png' });
    });

    it('answers undefined for a missing key', async () => {
      const store = await options.makeStore();
      expect(await store.get('nothing/here')).toBeUndefined();
      expect(await store.head('nothing/here')).toBeUndefined();
    });

    it('replaces an object on a second put', async () => {
      const store = await options.makeStore();
      await store.put('k/replace', sampleBytes(10, 1));
      await store.put('k/replace', sampleBytes(20, 2));
      expect((await store.get('k/replace'))?.body).toEqual(sampleBytes(20, 2));
    });

    it('keeps a key and a key below it apart', async () => {
      const store = await options.makeStore();
      await store.put('k/a', sampleBytes(5, 1));
      await store.put('k/a/b', sampleBytes(6, 2));
      expect((await store.get('k/a'))?.body).toEqual(sampleBytes(5, 1));
      expect((await store.get('k/a/b'))?.body).toEqual(sampleBytes(6, 2));
    });

    it('deletes idempotently, one or many', async () => {
      // Prepare
      const store = await options.makeStore();
      await store.put('d/1', sampleBytes(3));
      await store.put('d/2', sampleBytes(3));
      await store.put('d/3', sampleBytes(3));
      // Act
      await store.delete('d/1');
      await store.delete('d/1');
      await store.deleteMany(['d/2', 'd/3', 'd/missing']);
      // Assess
      expect(await store.head('d/1')).toBeUndefined();
      expect(await store.head('d/2')).toBeUndefined();
      expect(await store.head('d/3')).toBeUndefined();
    });

    it('reads the first bytes of an object and reports its full size', async () => {
      // Prepare
      const store = await options.makeStore();
      await store.put('r/big', sampleBytes(5000, 7), { contentType: 'image/jpeg' });
      // Act
      const start = await store.get('r/big', { maxBytes: 100 });
      const whole = await store.get('r/big', { maxBytes: 10_000 });
      // Assess
      expect(start?.body).toEqual(sampleBytes(5000, 7).subarray(0, 100));
      expect(start).toMatchObject({ size: 5000, contentType: 'image/jpeg' });
      expect(whole?.body).toEqual(sampleBytes(5000, 7));
      expect(await store.get('r/missing', { maxBytes: 10 })).toBeUndefined();
    });

    it('copies an object with its content type; the copy does not follow later writes', async () => {
      // Prepare
      const store = await options.makeStore();
      await store.put('c/from', sampleBytes(300, 3), { contentType: 'image/png' });
      // Act
      const copied = await store.copy('c/from', 'c/to');
      await store.put('c/from', sampleBytes(10, 9));
      const missing = await store.copy('c/none', 'c/to2');
      // Assess
      expect(copied).toBe(true);
      expect(await store.get('c/to')).toMatchObject({ body: sampleBytes(300, 3), contentType: 'image/png' });
      expect(missing).toBe(false);
      expect(await store.head('c/to2')).toBeUndefined();
    });

    it('refuses keys that could escape the store', async () => {
      const store = await options.makeStore();
      for (const key of ['../etc/passwd', '/abs', 'a//b', 'a/../b', 'sp ace', '']) {
        await expect(store.put(key, sampleBytes(1)), key).rejects.toBeInstanceOf(ValidationError);
      }
    });

    it('accepts an upload through the form and stores it under the form key', async () => {
      // Prepare
      const store = await options.makeStore();
      const form = await store.createUploadForm({
        key: 'tenants/t1/jobs/up/input',
        maxBytes: 4096,
        contentTypes: ['image/jpeg', 'image/png'],
        expiresInSeconds: 600,
      });
      const bytes = sampleBytes(2048);
      // Act
      const status = await postUploadForm(form, bytes, 'image/jpeg');
      // Assess
      expect(status).toBeGreaterThanOrEqual(200);
      expect(status).toBeLessThan(300);
      expect(form.maxBytes).toBe(4096);
      expect(Date.parse(form.expiresAt)).toBeGreaterThan(Date.now());
      const stored = await store.get('tenants/t1/jobs/up/input');
      expect(stored?.body).toEqual(bytes);
      expect(stored?.contentType).toBe('image/jpeg');
    });

    it('fixes the content type in the form when only one is allowed', async () => {
      const store = await options.makeStore();
      const form = await store.createUploadForm({
        key: 'one/type',
        maxBytes: 10,
        contentTypes: ['image/png'],
        expiresInSeconds: 60,
      });
      expect(form.fields['Content-Type']).toBe('image/png');
      expect(form.fields.key).toBe('one/type');
    });

    it.skipIf(!options.enforcesUploadPolicy)(
      'refuses uploads over the size limit or of another type',
      async () => {
        // Prepare
        const store = await options.makeStore();
        const form = await store.createUploadForm({
          key: 'limits/input',
          maxBytes: 100,
          contentTypes: ['image/jpeg', 'image/png'],
          expiresInSeconds: 600,
        });
        // Act
        const tooBig = await postUploadForm(form, sampleBytes(101), 'image/png');
        const wrongType = await postUploadForm(form, sampleBytes(50), 'application/pdf');
        // Assess
        expect(tooBig).toBeGreaterThanOrEqual(400);
        expect(wrongType).toBeGreaterThanOrEqual(400);
        expect(await store.head('limits/input')).toBeUndefined();
      },
    );

    it('serves an object through a download URL', async () => {
      // Prepare
      const store = await options.makeStore();
      const bytes = sampleBytes(777);
      await store.put('results/restored.png', bytes, { contentType: 'image/png' });
      // Act
      const link = await store.createDownloadUrl('results/restored.png', 300);
      const response = await fetch(link.url);
      // Assess
      expect(response.status).toBe(200);
      expect(new Uint8Array(await response.arrayBuffer())).toEqual(bytes);
      expect(Date.parse(link.expiresAt)).toBeGreaterThan(Date.now());
    });
  });
}
