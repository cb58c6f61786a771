/**
 * Liveness file for the container HEALTHCHECK: the worker updates its mtime on every poll loop,
 * and the check fails when it is older than 120 s (a stuck event loop or a hung model call).
 */
import { open, utimes } from 'node:fs/promises';

/** Where the worker container's HEALTHCHECK looks. */
export const DEFAULT_HEARTBEAT_FILE = '/tmp/dr2e-worker-heartbeat';

/**
 * Creates the file if needed and sets its mtime to now. Errors are swallowed: a read-only /tmp
 * must not stop the worker (the health check then fails, which is the right signal).
 */
export async function touchHeartbeatFile(file: string): Promise<void> {
  try {
    const now = new Date();
    await utimes(file, now, now).catch(async () => {
      const handle = await open(file, 'a');
      await handle.close();
    });
  } catch {
    // See above: reported through the health check, not by crashing.
  }
}
