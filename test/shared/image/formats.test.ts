import { describe, expect, it } from 'vitest';
import { findBmffTruncation, sniffImageFormat } from '../../../gpu-task/src/engine/index.js';
import { readFixture } from '../../engine/image/helpers.js';

function bytesOf(...parts: (string | number[])[]): Uint8Array {
  return Buffer.concat(
    parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'latin1') : Buffer.from(part))),
  );
}

function ftyp(major: string, ...compatible: string[]): Uint8Array {
  const size = 16 + 4 * compatible.length;
  return bytesOf([0, 0, 0, size], 'ftyp', major, [0, 0, 0, 0], ...compatible, [0, 0, 0, 8], 'mdat');
}

describe('sniffImageFormat', () => {
  it('recognises the supported formats from their signatures', () => {
    // Prepare
    const samples = {
      jpeg: bytesOf([0xff, 0xd8, 0xff, 0xe0, 0, 0x10]),
      png: bytesOf([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      webp: bytesOf('RIFF', [0x24, 0, 0, 0], 'WEBPVP8 '),
      tiff: bytesOf('II', [0x2a, 0], [8, 0, 0, 0]),
    };

    // Act + Assess
    for (const [format, bytes] of Object.entries(samples)) {
      expect(sniffImageFormat(bytes)).toEqual({ kind: 'image', format });
    }
    expect(sniffImageFormat(bytesOf('MM', [0, 0x2a], [0, 0, 0, 8]))).toEqual({
      kind: 'image',
      format: 'tiff',
    });
  });

  it('tells AVIF from HEIC by the ftyp brands, AVIF winning when both appear', () => {
    // Act
    const avif = sniffImageFormat(ftyp('avif', 'mif1', 'miaf'));
    const heic = sniffImageFormat(ftyp('heic', 'mif1', 'heic'));
    const genericAv1 = sniffImageFormat(ftyp('mif1', 'avif'));
    const genericHeif = sniffImageFormat(ftyp('mif1', 'miaf'));

    // Assess
    expect(avif).toMatchObject({ kind: 'image', format: 'avif' });
    expect(heic).toMatchObject({ kind: 'image', format: 'heic', brands: ['heic', 'mif1', 'heic'] });
    expect(genericAv1).toMatchObject({ kind: 'image', format: 'avif' });
    expect(genericHeif).toMatchObject({ kind: 'image', format: 'heic' });
  });

  it('names refused formats: GIF, SVG, BMP, PDF, MP4 video', () => {
    // Act + Assess
    expect(sniffImageFormat(bytesOf('GIF89a', [1, 0, 1, 0]))).toEqual({ kind: 'unsupported', name: 'GIF' });
    expect(
      sniffImageFormat(bytesOf('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>')),
    ).toEqual({
      kind: 'unsupported',
      name: 'SVG',
    });
    expect(sniffImageFormat(bytesOf('BM', [0x3a, 0, 0, 0, 0, 0, 0, 0, 0x36, 0, 0, 0, 0x28, 0]))).toEqual({
      kind: 'unsupported',
      name: 'BMP',
    });
    expect(sniffImageFormat(bytesOf('%PDF-1.7\n'))).toEqual({ kind: 'unsupported', name: 'PDF' });
    expect(sniffImageFormat(ftyp('isom', 'iso2', 'mp41'))).toMatchObject({ kind: 'unsupported' });
  });

  it('calls printable UTF-8 text (even starting with "BM") text, and empty data empty', () => {
    // Act + Assess
    expect(sniffImageFormat(bytesOf('BMW owners club: 12 members\n'))).toEqual({ kind: 'text' });
    expect(sniffImageFormat(new TextEncoder().encode('Grüße, ¡hola! 你好\r\n\t'))).toEqual({ kind: 'text' });
    expect(sniffImageFormat(new Uint8Array(0))).toEqual({ kind: 'empty' });
  });

  it('calls binary data with no known signature unknown', () => {
    // Act
    const result = sniffImageFormat(bytesOf([0x00, 0x13, 0x37, 0xfe, 0x01, 0x02, 0x03, 0x04]));

    // Assess
    expect(result).toEqual({ kind: 'unknown' });
  });
});

describe('findBmffTruncation', () => {
  it('accepts a complete HEIC and describes a cut-off one by its box', () => {
    // Prepare
    const heic = readFixture('quadrants.heic');

    // Act
    const whole = findBmffTruncation(heic);
    const cut = findBmffTruncation(heic.subarray(0, heic.length - 100));

    // Assess
    expect(whole).toBeNull();
    expect(cut).toMatch(/box 'mdat' at offset \d+ declares \d+ bytes but only \d+ remain/);
  });
});
