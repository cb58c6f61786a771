/**
 * The playground refuses, before any job exists, the files the API would refuse after their
 * upload (a GIF, text named `.jpg`), with the API's codes, and lets every format it takes go.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import {
  ACCEPTED_FORMATS_TEXT,
  photoRefusal,
  refusalOfBytes,
} from '../../../../functions/src/playground/client/photo.js';
import { inspectUploadBytes } from '../../../../functions/src/services/uploads.js';

const HEIC = path.resolve(import.meta.dirname, '../../../fixtures/images/quadrants.heic');

/** A 64 x 64 grey picture in each format sharp writes (GIF: one the service refuses). */
async function encoded(
  format: 'jpeg' | 'png' | 'webp' | 'avif' | 'tiff' | 'gif',
): Promise<Uint8Array<ArrayBuffer>> {
  const image = sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } });
  return new Uint8Array(await image.toFormat(format).toBuffer());
}

describe('refusalOfBytes', () => {
  it('lets every format the service takes go, and refuses what the API refuses with its code', async () => {
    // Prepare
    const samples: Record<string, Uint8Array> = {
      jpeg: await encoded('jpeg'),
      png: await encoded('png'),
      webp: await encoded('webp'),
      avif: await encoded('avif'),
      tiff: await encoded('tiff'),
      heic: new Uint8Array(await readFile(HEIC)),
      gif: await encoded('gif'),
      text: new TextEncoder().encode('this is a text file, not a photo\n'),
      unknown: new Uint8Array([0x00, 0x01, 0x02, 0x03, 0xfe, 0xfd, 0x00, 0x07]),
      empty: new Uint8Array(0),
    };

    // Act
    const codes = Object.fromEntries(
      Object.entries(samples).map(([name, bytes]) => [name, refusalOfBytes(bytes, name)?.code]),
    );

    // Assess: the same verdict as the API's on the upload
    for (const [name, bytes] of Object.entries(samples)) {
      const api = inspectUploadBytes(bytes);
      expect(codes[name], name).toBe(api.ok ? undefined : api.error.code);
    }
    expect(codes).toEqual({
      jpeg: undefined,
      png: undefined,
      webp: undefined,
      avif: undefined,
      tiff: undefined,
      heic: undefined,
      gif: 'unsupported_image_format',
      text: 'not_an_image',
      unknown: 'not_an_image',
      empty: 'empty_upload',
    });
  });

  it('names the refused format and the ones the service takes', async () => {
    // Act
    const refusal = refusalOfBytes(await encoded('gif'), 'cat.gif');
    // Assess
    expect(ACCEPTED_FORMATS_TEXT).toBe('JPEG, PNG, WebP, AVIF, TIFF or HEIC');
    expect(refusal?.message).toBe(
      'cat.gif is a GIF, which this service does not restore; choose a JPEG, PNG, WebP, AVIF, TIFF or HEIC photo.',
    );
  });
});

describe('photoRefusal', () => {
  it('refuses a declared type that is no image, reads an untyped file, and lets an untyped HEIC go', async () => {
    // Prepare
    const heic = await readFile(HEIC);
    const gif = await encoded('gif');
    // Act
    const notes = await photoRefusal(new File(['notes\n'], 'notes.txt', { type: 'text/plain' }));
    const untypedHeic = await photoRefusal(new File([heic], 'IMG_0001.HEIC', { type: '' }));
    const gifAsJpeg = await photoRefusal(new File([gif], 'photo.jpg', { type: 'image/jpeg' }));
    // Assess
    expect(notes?.code).toBe('unsupported_media_type');
    expect(untypedHeic).toBeUndefined();
    expect(gifAsJpeg?.code).toBe('unsupported_image_format');
  });
});
