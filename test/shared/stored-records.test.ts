import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ValidationError } from '../../shared/src/errors.js';
import { readStoredRecord, withUnknownFields } from '../../shared/src/stored-records.js';

const FaceSchema = z.strictObject({ box: z.array(z.number()), score: z.number() });
const RecordSchema = z.strictObject({
  id: z.string(),
  version: z.int(),
  output: z.strictObject({ faces: z.array(FaceSchema), format: z.string() }).optional(),
});

const newer = {
  id: 'a',
  version: 3,
  priority: 'high',
  output: {
    format: 'png',
    encoder: 'libvips',
    faces: [
      { box: [1, 2, 3, 4], score: 0.9, pose: 'frontal', blur: 0.1 },
      { box: [5, 6, 7, 8], score: 0.8 },
    ],
  },
};

describe('readStoredRecord', () => {
  it('sets aside the fields the schema does not know, at every depth, and validates the rest', () => {
    // Act
    const read = readStoredRecord(RecordSchema, newer, 'stored record');
    // Assess
    expect(read.value).toEqual({
      id: 'a',
      version: 3,
      output: {
        format: 'png',
        faces: [
          { box: [1, 2, 3, 4], score: 0.9 },
          { box: [5, 6, 7, 8], score: 0.8 },
        ],
      },
    });
    expect(read.unknown).toEqual(
      expect.arrayContaining([
        { path: [], key: 'priority', value: 'high' },
        { path: ['output'], key: 'encoder', value: 'libvips' },
        { path: ['output', 'faces', 0], key: 'pose', value: 'frontal' },
        { path: ['output', 'faces', 0], key: 'blur', value: 0.1 },
      ]),
    );
    expect(read.unknown).toHaveLength(4);
    // The raw record is not modified.
    expect(newer.output.faces[0]).toHaveProperty('pose', 'frontal');
  });

  it('refuses a record whose known fields are wrong, unknown fields or not', () => {
    expect(() => readStoredRecord(RecordSchema, { ...newer, version: 'three' }, 'stored record')).toThrow(
      ValidationError,
    );
    expect(() => readStoredRecord(RecordSchema, { priority: 'high' }, 'stored record')).toThrow(
      /invalid stored record at id/,
    );
  });
});

describe('withUnknownFields', () => {
  it('puts back every field of an object the update left as it was, and the record’s own', () => {
    // Prepare
    const read = readStoredRecord(RecordSchema, newer, 'stored record');
    // Act: an update of the record itself only
    const next = withUnknownFields({ ...read.value, version: 4 }, read);
    // Assess
    expect(next).toEqual({ ...newer, version: 4 });
  });

  it('drops the fields of an object the update changed, and of one it removed', () => {
    // Prepare
    const read = readStoredRecord(RecordSchema, newer, 'stored record');
    const output = read.value.output!;
    // Act: the first face rescored (its pose and blur described the old one, and the output
    // holding it changed with it); then no output
    const rescored = withUnknownFields(
      {
        ...read.value,
        output: { ...output, faces: [{ ...output.faces[0]!, score: 0.5 }, output.faces[1]!] },
      },
      read,
    );
    const withoutOutput = withUnknownFields({ id: 'a', version: 4 }, read);
    // Assess
    expect(rescored.output!.faces[0]).toEqual({ box: [1, 2, 3, 4], score: 0.5 });
    expect(rescored).toHaveProperty('priority', 'high');
    expect(rescored.output).not.toHaveProperty('encoder');
    expect(rescored.output!.faces[1]).toEqual({ box: [5, 6, 7, 8], score: 0.8 });
    expect(withoutOutput).toEqual({ id: 'a', version: 4, priority: 'high' });
  });

  it('keeps the record’s own fields through any update, and puts back none for a deletion', () => {
    // Prepare
    const read = readStoredRecord(RecordSchema, newer, 'stored record');
    // Act
    const renamed = withUnknownFields({ ...read.value, id: 'b', version: 4 }, read);
    const deleted = withUnknownFields({ id: 'a', version: 4 }, read, { none: true });
    // Assess
    expect(renamed).toHaveProperty('priority', 'high');
    expect(deleted).toEqual({ id: 'a', version: 4 });
    // (even where the update left an object as it was)
    const unchanged = withUnknownFields({ ...read.value, version: 4 }, read, { none: true });
    expect(unchanged).toEqual({ ...read.value, version: 4 });
  });

  it('keeps a field named like an object’s prototype as a field', () => {
    // Prepare: JSON.parse makes "__proto__" an own field
    const raw: unknown = JSON.parse('{"id":"a","version":1,"__proto__":{"polluted":true}}');
    // Act
    const read = readStoredRecord(RecordSchema, raw, 'stored record');
    const next = withUnknownFields({ ...read.value, version: 2 }, read);
    // Assess
    expect(read.value).toEqual({ id: 'a', version: 1 });
    expect(JSON.parse(JSON.stringify(next))).toEqual(
      JSON.parse('{"id":"a","version":2,"__proto__":{"polluted":true}}'),
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('does not overwrite a field the update set, and returns the update itself when nothing was set aside', () => {
    const read = readStoredRecord(RecordSchema, { id: 'a', version: 1, priority: 'high' }, 'stored record');
    // (What a newer version's update would be: this version's type does not know `priority`.)
    const next = { id: 'a', version: 2, priority: 'low' } as z.output<typeof RecordSchema>;
    expect(withUnknownFields(next, read)).toEqual(next);
    const plain = readStoredRecord(RecordSchema, { id: 'a', version: 1 }, 'stored record');
    const update = { id: 'a', version: 2 };
    expect(withUnknownFields(update, plain)).toBe(update);
  });
});
