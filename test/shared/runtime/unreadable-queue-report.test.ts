/** createServices (local): queue bodies that do not parse are reported on stderr, not skipped silently. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LocalQueue } from '../../../shared/adapters/local/local-queue.js';
import { loadRuntimeConfig } from '../../../shared/runtime/config.js';
import { createServices } from '../../../shared/runtime/services.js';
import type { JobQueueMessage } from '../../../shared/src/schemas.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'dr2e-unreadable-'));
});

afterEach(async () => {
  vi.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});

describe('createServices (local): unreadable queue messages', () => {
  it('writes one JSON warning line to stderr for each unreadable body the job queue receives', async () => {
    // Prepare
    const services = await createServices(loadRuntimeConfig({ DR2E_DATA_DIR: dir }));
    const queue = services.queue as LocalQueue<JobQueueMessage>;
    expect(queue).toBeInstanceOf(LocalQueue);
    // Bypasses send()'s validation, as a foreign producer would.
    const messageId = await queue.append({ jobId: 'not-a-job' }, 0);
    const stderr = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    // Act
    const received = await queue.receive({ maxMessages: 10, waitSeconds: 0, visibilityTimeoutSeconds: 30 });
    // Assess
    expect(received).toEqual([]);
    expect(stderr).toHaveBeenCalledTimes(1);
    const line = JSON.parse(String(stderr.mock.calls[0]?.[0])) as Record<string, unknown>;
    expect(line).toEqual({
      level: 'warn',
      time: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
      msg: 'unreadable queue message',
      queueName: 'jobs',
      queue: 'source',
      messageId,
      receiveCount: 1,
      reason: expect.stringMatching(/^schema: /),
      preview: '{"jobId":"not-a-job"}',
    });
  });
});
