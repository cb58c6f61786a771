import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  FilesystemBlobStore,
  LOCAL_UPLOAD_FIELDS,
  verifyLocalDownloadUrl,
  verifyLocalUploadForm,
} from '../../../shared/adapters/local/fs-blob-store.js';
import { ManualClock } from '../../../shared/src/clock.js';
import {
  ExpiredError,
  InvalidSignatureError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../../../shared/src/errors.js';

const secret = 'local-signing-secret-for-tests';
let dir: string;
let clock: ManualClock;
let store: FilesystemBlobStore;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'dr2e-fs-blobs-'));
  clock = new ManualClock(Date.UTC(2025, 0, 1));
  store = new FilesystemBlobStore({
    rootDir: path.join(dir, 'blobs'),
    signingSecret: secret,
    uploadUrl: 'http://127.0.0.1:8787/local-upload',
    downloadUrl: 'http://127.0.0.1:8787/local-download',
    clock,
  });
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function form() {
  return store.createUploadForm({
    key: 'tenants/acme/jobs/j1/input',
    maxBytes: 1000,
    contentTypes: ['image/jpeg', 'image/png'],
    expiresInSeconds: 900,
  });
}

describe('local upload forms', () => {
  it('point at the local upload route and verify for a file within the limits', async () => {
    const upload = await form();
    expect(upload.url).toBe('http://127.0.0.1:8787/local-upload');
    expect(upload.expiresAt).toBe(new Date(Date.UTC(2025, 0, 1) + 900_000).toISOString());
    const fields = { ...upload.fields, 'Content-Type': 'image/png' };
    const verified = await verifyLocalUploadForm({ fields, file: { size: 1000 }, now: clock.now(), secret });
    expect(verified).toEqual({ key: 'tenants/acme/jobs/j1/input', contentType: 'image/png', maxBytes: 1000 });
  });

  it('refuse a form without a Content-Type field, as an S3 POST policy does, naming what it accepts', async () => {
    const upload = await form();
    const refused = store.verifyUploadForm(upload.fields, { size: 10 });
    await expect(refused).rejects.toBeInstanceOf(UnsupportedMediaTypeError);
    await expect(refused).rejects.toMatchObject({
      message: expect.stringMatching(/no Content-Type field/),
      details: { allowed: ['image/jpeg', 'image/png'], accepts: 'image/*' },
    });
  });

  it.each([
    ['key', 'tenants/other/jobs/j1/input'],
    [LOCAL_UPLOAD_FIELDS.maxBytes, '1000000'],
    [LOCAL_UPLOAD_FIELDS.contentTypes, 'image/jpeg,image/png,application/pdf'],
    [LOCAL_UPLOAD_FIELDS.expires, '9999999999'],
    [LOCAL_UPLOAD_FIELDS.signature, 'AAAA'],
  ])('refuse a form whose %s was changed', async (field, value) => {
    const upload = await form();
    const fields = { ...upload.fields, [field]: value };
    await expect(
      verifyLocalUploadForm({
        fields,
        file: { size: 10 },
        now: clock.now(),
        secret,
      }),
    ).rejects.toBeInstanceOf(InvalidSignatureError);
  });

  it('refuse a form signed with another secret or missing fields', async () => {
    const upload = await form();
    const file = { size: 10 };
    await expect(
      verifyLocalUploadForm({
        fields: upload.fields,
        file,
        now: clock.now(),
        secret: 'another-secret-entirely',
      }),
    ).rejects.toBeInstanceOf(InvalidSignatureError);
    const { [LOCAL_UPLOAD_FIELDS.signature]: _dropped, ...unsigned } = upload.fields;
    await expect(
      verifyLocalUploadForm({ fields: unsigned, file, now: clock.now(), secret }),
    ).rejects.toBeInstanceOf(InvalidSignatureError);
  });

  it('refuse an expired form, a file over the limit, an empty file and another type', async () => {
    const upload = await form();
    const typed = (type: string) => ({ ...upload.fields, 'Content-Type': type });
    const fields = typed('image/png');
    const ok = { size: 10 };
    clock.advance(900_000);
    await expect(store.verifyUploadForm(fields, ok)).rejects.toBeInstanceOf(ExpiredError);
    // An expired form says where a new one comes from.
    await expect(store.verifyUploadForm(fields, ok)).rejects.toThrow(
      'POST /v1/jobs/{id}/upload gives a new one',
    );
    clock.advance(-1000);
    await expect(store.verifyUploadForm(fields, { size: 1001 })).rejects.toBeInstanceOf(PayloadTooLargeError);
    await expect(store.verifyUploadForm(fields, { size: 0 })).rejects.toBeInstanceOf(PayloadTooLargeError);
    // Any image/ type passes, as S3's starts-with rule lets it (the bytes are sniffed after).
    await expect(store.verifyUploadForm(typed('image/svg+xml'), ok)).resolves.toMatchObject({
      contentType: 'image/svg+xml',
    });
    await expect(store.verifyUploadForm(typed('application/pdf'), ok)).rejects.toBeInstanceOf(
      UnsupportedMediaTypeError,
    );
    await expect(store.verifyUploadForm(typed('text/html'), ok)).rejects.toBeInstanceOf(
      UnsupportedMediaTypeError,
    );
  });

  it('refuse bad arguments', async () => {
    const base = { key: 'k', maxBytes: 10, contentTypes: ['image/png'], expiresInSeconds: 60 };
    await expect(store.createUploadForm({ ...base, maxBytes: 0 })).rejects.toBeInstanceOf(ValidationError);
    await expect(store.createUploadForm({ ...base, contentTypes: [] })).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(store.createUploadForm({ ...base, key: '../k' })).rejects.toBeInstanceOf(ValidationError);
  });
});

describe('local download URLs', () => {
  it('grant their key until they expire', async () => {
    const link = await store.createDownloadUrl('tenants/acme/jobs/j1/restored.png', 60);
    expect(link.url.startsWith('http://127.0.0.1:8787/local-download?')).toBe(true);
    expect(await verifyLocalDownloadUrl({ url: link.url, now: clock.now(), secret })).toEqual({
      key: 'tenants/acme/jobs/j1/restored.png',
    });
    clock.advance(60_000);
    await expect(store.verifyDownloadUrl(link.url)).rejects.toBeInstanceOf(ExpiredError);
    await expect(store.verifyDownloadUrl(link.url)).rejects.toThrow('GET /v1/jobs/{id} gives fresh links');
  });

  it('refuse a URL whose key or expiry was changed', async () => {
    const link = new URL((await store.createDownloadUrl('tenants/acme/jobs/j1/restored.png', 60)).url);
    const otherKey = new URL(link);
    otherKey.searchParams.set('key', 'tenants/other/jobs/j1/restored.png');
    const longer = new URL(link);
    longer.searchParams.set('expires', '9999999999');
    await expect(store.verifyDownloadUrl(otherKey)).rejects.toBeInstanceOf(InvalidSignatureError);
    await expect(store.verifyDownloadUrl(longer)).rejects.toBeInstanceOf(InvalidSignatureError);
    await expect(store.verifyDownloadUrl('/local-download?key=a')).rejects.toBeInstanceOf(
      InvalidSignatureError,
    );
  });
});

describe('FilesystemBlobStore files', () => {
  it('keeps everything under its root', async () => {
    await store.put('tenants/acme/jobs/j1/input', new Uint8Array([1, 2, 3]), { contentType: 'image/png' });
    expect(await readdir(dir)).toEqual(['blobs']);
    expect(await readdir(path.join(dir, 'blobs', 'tenants', 'acme', 'jobs', 'j1'))).toEqual([
      'input~blob',
      'input~meta',
    ]);
  });

  it('refuses a short signing secret', () => {
    expect(
      () =>
        new FilesystemBlobStore({
          rootDir: dir,
          signingSecret: 'short',
          uploadUrl: 'http://x/u',
          downloadUrl: 'http://x/d',
        }),
    ).toThrow(ValidationError);
  });
});
