/**
 * Whether the service would take a photo, judged in the browser before any job exists: by the
 * same magic-byte sniffer the API runs on the upload (`inspectUploadBytes`), with the API's
 * codes. A GIF (or a text file named `.jpg`) was uploaded and refused only then, after a job was
 * created for it. The sniffer is imported from its own module: the shared index would bundle
 * the domain's zod schemas (some 450 kB) into the page.
 */
import {
  formatLabel,
  sniffImageFormat,
  SUPPORTED_IMAGE_FORMATS,
} from '../../../../shared/src/image/formats.js';

/** "JPEG, PNG, WebP, AVIF, TIFF or HEIC": the formats the service decodes, for the page's words. */
export const ACCEPTED_FORMATS_TEXT = (() => {
  const labels = SUPPORTED_IMAGE_FORMATS.map(formatLabel);
  return `${labels.slice(0, -1).join(', ')} or ${labels[labels.length - 1] ?? ''}`;
})();

/**
 * Bytes read from the start of the file: the sniffer looks at the first 4 kB at most (its text
 * probe; an ISO-BMFF `ftyp` box is a few dozen bytes), the API reads 256 kB.
 */
const HEAD_BYTES = 64 * 1024;

/** Why the page refuses a photo: the code the API would answer and a sentence for the user. */
export interface PhotoRefusal {
  code: string;
  message: string;
}

/**
 * Judges the first bytes of a photo as the API would; undefined when the format is accepted.
 *
 * @example
 * ```ts
 * refusalOfBytes(new TextEncoder().encode('GIF89a...'), 'cat.gif');
 * // { code: 'unsupported_image_format', message: 'cat.gif is a GIF, which ... JPEG, PNG, ...' }
 * ```
 */
export function refusalOfBytes(head: Uint8Array, name: string): PhotoRefusal | undefined {
  const sniffed = sniffImageFormat(head);
  const choose = `choose a ${ACCEPTED_FORMATS_TEXT} photo`;
  switch (sniffed.kind) {
    case 'image':
      return undefined;
    case 'unsupported':
      return {
        code: 'unsupported_image_format',
        message: `${name} is a ${sniffed.name}, which this service does not restore; ${choose}.`,
      };
    case 'text':
      return { code: 'not_an_image', message: `${name} is text, not an image; ${choose}.` };
    case 'unknown':
      return { code: 'not_an_image', message: `${name} is not an image in a known format; ${choose}.` };
    case 'empty':
      return { code: 'empty_upload', message: `${name} is empty; ${choose}.` };
  }
}

/**
 * Why the service would refuse this photo, or undefined. A declared type that is no image is
 * refused by the upload form itself (browsers leave HEIC untyped: no type is fine). A file that
 * cannot be read here is not refused: the upload will say what is wrong with it.
 */
export async function photoRefusal(file: File): Promise<PhotoRefusal | undefined> {
  const name = file.name || 'the file';
  if (file.type !== '' && !file.type.startsWith('image/')) {
    return {
      code: 'unsupported_media_type',
      message: `${name} is not an image (${file.type}); choose a ${ACCEPTED_FORMATS_TEXT} photo.`,
    };
  }
  const head = await file
    .slice(0, HEAD_BYTES)
    .arrayBuffer()
    .then(
      (buffer) => new Uint8Array(buffer),
      () => undefined,
    );
  return head ? refusalOfBytes(head, name) : undefined;
}
