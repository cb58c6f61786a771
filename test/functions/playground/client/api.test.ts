/**
 * The playground declares an image type for every format the service decodes, also when the
 * browser leaves the file untyped, so the storage's `image/` rule does not refuse the upload.
 */
import { describe, expect, it } from 'vitest';
import { contentTypeOf } from '../../../../functions/src/playground/client/api.js';
import { SUPPORTED_IMAGE_FORMATS, uploadContentTypeAllowed } from '../../../../shared/src/index.js';

/** The file extensions users' files of each supported format carry. */
const EXTENSIONS = {
  jpeg: ['jpg', 'jpeg', 'JPG', 'jfif', 'jpe'],
  png: ['png'],
  webp: ['webp'],
  avif: ['avif'],
  tiff: ['tif', 'tiff'],
  heic: ['heic', 'HEIC', 'heif', 'hif'],
} as const;

describe('contentTypeOf', () => {
  it('declares an image type for untyped files of every supported format', () => {
    // Prepare
    const names = SUPPORTED_IMAGE_FORMATS.flatMap((format) =>
      EXTENSIONS[format].map((ext) => `photo.${ext}`),
    );
    // Act
    const declared = names.map((name) => contentTypeOf({ name, type: '' }));
    // Assess
    for (const [i, type] of declared.entries()) {
      expect(uploadContentTypeAllowed(['image/jpeg', 'image/png'], type), `${names[i]} -> ${type}`).toBe(
        true,
      );
    }
  });

  it("keeps the browser's own type, and declares no image type for an unknown extension", () => {
    expect(contentTypeOf({ name: 'a.jpg', type: 'image/png' })).toBe('image/png');
    expect(contentTypeOf({ name: 'notes.txt', type: '' })).toBe('application/octet-stream');
  });
});
