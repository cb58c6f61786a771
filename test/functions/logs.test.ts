/** Structured logs: JSON lines, and every line about a job carries its id. */
import { afterEach, describe, expect, it } from 'vitest';
import { createJsonLogger } from '../../shared/src/index.js';
import { json, localHarness, pngBytes, uploadFormData, type LocalHarness } from './helpers.js';

let h: LocalHarness | undefined;

afterEach(async () => {
  await h?.close();
});

describe('API logs', () => {
  it('writes JSON lines, each line about a job with its jobId', async () => {
    // Prepare
    const lines: string[] = [];
    const logger = createJsonLogger({ level: 'debug', write: (line) => lines.push(line) });
    h = await localHarness({ app: { logger, accessLog: true } });
    // Act
    const created = await json(await h.call('POST', '/v1/jobs'));
    await h.app.request(created.upload.url, {
      method: 'POST',
      body: uploadFormData(created.upload, await pngBytes(), 'image/png'),
    });
    await h.call('GET', `/v1/jobs/${created.id}`);
    await h.call('POST', `/v1/jobs/${created.id}/cancel`);
    // Assess
    const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(
      records.every(
        (r) => typeof r.level === 'string' && typeof r.time === 'string' && typeof r.msg === 'string',
      ),
    ).toBe(true);
    const aboutJob = records.filter(
      (r) => JSON.stringify(r).includes(created.id) || /job|queue/.test(String(r.msg)),
    );
    expect(aboutJob.map((r) => r.msg)).toEqual(
      expect.arrayContaining(['job created', 'job queued', 'queue message sent', 'job canceled', 'request']),
    );
    for (const record of aboutJob.filter(
      (r) => r.msg !== 'request' || String(r.path).startsWith('/v1/jobs'),
    )) {
      expect(record.jobId, JSON.stringify(record)).toBe(created.id);
    }
  });

  it('drops lines below the level and survives unserialisable fields', () => {
    // Prepare
    const lines: string[] = [];
    const logger = createJsonLogger({ level: 'warn', write: (line) => lines.push(line) });
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    // Act
    logger.info('hidden');
    logger.child({ jobId: 'job_x' }).error('shown', { circular });
    // Assess
    expect(lines.map((line) => JSON.parse(line))).toEqual([
      expect.objectContaining({ level: 'error', msg: 'shown', jobId: 'job_x', unserializable: true }),
    ]);
  });
});
