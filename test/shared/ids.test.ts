import { describe, expect, it } from 'vitest';
import { invertSortableId, isJobId, newJobId, timeOfId } from '../../shared/src/ids.js';

describe('job ids', () => {
  it('have the documented shape and carry their creation time', () => {
    const at = new Date(Date.UTC(2025, 4, 6, 7, 8, 9, 123));
    const id = newJobId(at);
    expect(isJobId(id)).toBe(true);
    expect(id).toMatch(/^job_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(timeOfId(id)).toEqual(at);
  });

  it('sort by creation time, and inverted ids sort newest first', () => {
    const ids = [0, 1, 1000, 86_400_000, 31_536_000_000].map((offset) =>
      newJobId(new Date(Date.UTC(2025, 0, 1) + offset)),
    );
    expect([...ids].sort()).toEqual(ids);
    expect(ids.map(invertSortableId).sort().map(invertSortableId)).toEqual([...ids].reverse());
  });

  it('are unique within a millisecond', () => {
    const at = new Date();
    const ids = new Set(Array.from({ length: 1000 }, () => newJobId(at)));
    expect(ids.size).toBe(1000);
  });

  it('rejects look-alikes', () => {
    expect(isJobId('job_01ARZ3NDEKTSV4RRFFQ69G5FAV')).toBe(true);
    expect(isJobId('job_01ARZ3NDEKTSV4RRFFQ69G5FAI')).toBe(false);
    expect(isJobId('job_../../x')).toBe(false);
    expect(isJobId('01ARZ3NDEKTSV4RRFFQ69G5FAV')).toBe(false);
  });
});
