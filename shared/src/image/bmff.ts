/**
 * A structural check of ISO-BMFF files (HEIC, AVIF): the top-level boxes must tile the file.
 *
 * Why: a cut-off upload keeps a valid header (so the dimensions read fine) but loses the end of
 * the `mdat` box holding the coded pixels. The WebAssembly HEIC decoder then fails with a bare
 * "HEIF processing error" and prints to stdout; checking the box sizes first gives the caller a
 * precise message and keeps the decoder's output off the CLI's stdout.
 */

/** Big-endian unsigned 32-bit read; bytes past the end read as 0. */
export function readUint32BE(bytes: Uint8Array, offset: number): number {
  return (
    ((bytes[offset] ?? 0) * 0x1000000 +
      (((bytes[offset + 1] ?? 0) << 16) | ((bytes[offset + 2] ?? 0) << 8) | (bytes[offset + 3] ?? 0))) >>>
    0
  );
}

function boxType(bytes: Uint8Array, offset: number): string {
  let type = '';
  for (let i = offset + 4; i < offset + 8; i++) type += String.fromCharCode(bytes[i] ?? 0x3f);
  return type;
}

/**
 * Walk the top-level boxes and describe the first structural problem, or return null when every
 * box fits inside the data.
 *
 * @example
 * ```ts
 * findBmffTruncation(heic.subarray(0, heic.length - 100));
 * // "box 'mdat' at offset 478 declares 289 bytes but only 189 remain"
 * ```
 */
export function findBmffTruncation(bytes: Uint8Array): string | null {
  let offset = 0;
  while (offset < bytes.length) {
    if (bytes.length - offset < 8) return `${bytes.length - offset} stray bytes after the last box`;
    let size = readUint32BE(bytes, offset);
    const type = boxType(bytes, offset);
    let headerSize = 8;
    if (size === 1) {
      // 64-bit "largesize" follows the type; sizes above 2^53 cannot be real files.
      if (bytes.length - offset < 16) return `box '${type}' at offset ${offset} is cut inside its header`;
      const high = readUint32BE(bytes, offset + 8);
      const low = readUint32BE(bytes, offset + 12);
      size = high * 0x1_0000_0000 + low;
      headerSize = 16;
    } else if (size === 0) {
      // Size 0 means "extends to the end of the file", which is valid only for the last box.
      return null;
    }
    if (size < headerSize)
      return `box '${type}' at offset ${offset} declares an impossible size of ${size} bytes`;
    const remaining = bytes.length - offset;
    if (size > remaining) {
      return `box '${type}' at offset ${offset} declares ${size} bytes but only ${remaining} remain`;
    }
    offset += size;
  }
  return null;
}
