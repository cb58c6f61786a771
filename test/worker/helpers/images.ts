/** Small test inputs for the worker and the end-to-end tests: good images and bad uploads. */
import sharp from 'sharp';

/** A smooth colour pattern with some noise, `size` x `size`, as PNG (a stand-in for a face photo). */
export async function patternPng(seed = 1, size = 96): Promise<Uint8Array> {
  const data = new Uint8Array(size * size * 3);
  let state = seed >>> 0 || 1;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      state = (state * 1103515245 + 12345) >>> 0;
      const noise = (state >>> 24) / 8;
      const offset = (y * size + x) * 3;
      data[offset] = Math.min(255, (x * 255) / size + noise);
      data[offset + 1] = Math.min(255, (y * 255) / size + noise);
      data[offset + 2] = Math.min(255, ((x + y) * 127) / size + ((seed * 40) % 100));
    }
  }
  return new Uint8Array(
    await sharp(data, { raw: { width: size, height: size, channels: 3 } })
      .png()
      .toBuffer(),
  );
}

/** The first `keep` bytes of a PNG: a valid signature and header, then nothing. */
export async function truncatedPng(keep = 80): Promise<Uint8Array> {
  return (await patternPng(9)).slice(0, keep);
}

export const TEXT_FILE = new TextEncoder().encode('this is not an image, just some text\n');

export const EMPTY_FILE = new Uint8Array(0);

/** PNG magic bytes. */
export function isPng(bytes: Uint8Array): boolean {
  return bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
}

/** JPEG magic bytes. */
export function isJpeg(bytes: Uint8Array): boolean {
  return bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}
