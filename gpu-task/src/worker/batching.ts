/**
 * Choosing the next engine batch from the messages a worker holds.
 *
 * Jobs share one model call per step only when they share a sampling schedule (`batchKey`:
 * model, preset or N/tau/omega, steps). The batch follows the OLDEST held message's key, so a
 * message with a rare schedule waits at most until it is the oldest (it is never starved by a
 * stream of jobs with a popular schedule), and takes up to `batchSize` messages with that key.
 * A message on its last delivery runs alone: if one photo kept killing the worker (a native
 * decoder crash, memory), its batch came back together each time, and only a batch of one lets
 * the others succeed before their receives run out.
 */

/** Anything with a batch key and a place in arrival order (held queue messages). */
export interface Batchable {
  readonly batchKey: string;
  /** Runs in a batch of its own (a message on its last delivery). */
  readonly solo?: boolean;
}

/**
 * Removes and returns the next batch from `held` (kept in arrival order): the oldest item and
 * up to `batchSize - 1` later items with the same key. Items left behind keep their order.
 *
 * @example
 * ```ts
 * const held = [{ batchKey: 'a' }, { batchKey: 'b' }, { batchKey: 'a' }];
 * takeBatch(held, 4); // [{a}, {a}]; held is now [{b}]
 * ```
 */
export function takeBatch<T extends Batchable>(held: T[], batchSize: number): T[] {
  const first = held[0];
  if (!first) return [];
  if (first.solo) return held.splice(0, 1);
  const batch: T[] = [];
  const rest: T[] = [];
  for (const item of held) {
    if (batch.length < batchSize && item.batchKey === first.batchKey && !item.solo) batch.push(item);
    else rest.push(item);
  }
  held.splice(0, held.length, ...rest);
  return batch;
}

/** Items grouped by a key, groups in order of first appearance. */
export function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): T[][] {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return [...groups.values()];
}
