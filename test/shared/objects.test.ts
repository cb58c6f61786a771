import { describe, expect, it } from 'vitest';
import { dropUndefined } from '../../shared/src/index.js';

describe('dropUndefined', () => {
  it('removes the keys whose value is undefined and keeps every other value', () => {
    const input = { a: 1, b: undefined, c: null, d: 0, e: '', f: false, g: [undefined] };
    expect(Object.keys(dropUndefined(input))).toEqual(['a', 'c', 'd', 'e', 'f', 'g']);
    expect(dropUndefined(input)).toStrictEqual({ a: 1, c: null, d: 0, e: '', f: false, g: [undefined] });
  });

  it('returns a copy and leaves its argument alone', () => {
    const input = { a: 1, b: undefined };
    const copy = dropUndefined(input);
    expect(copy).not.toBe(input);
    expect(Object.keys(input)).toEqual(['a', 'b']);
  });

  it('lets defaults show through where a caller passed undefined', () => {
    const defaults = { steps: 100, preset: 'auto' };
    expect({ ...defaults, ...dropUndefined({ steps: undefined, preset: 'mild' }) }).toEqual({
      steps: 100,
      preset: 'mild',
    });
  });
});
