/**
 * ECS task scale-in protection: while the worker holds work, it asks the ECS agent not to stop
 * its task when the service scales in, so a scale-in never kills a batch halfway through.
 *
 * API: `PUT $ECS_AGENT_URI/task-protection/v1/state` with
 * `{"ProtectionEnabled": true, "ExpiresInMinutes": N}` (the agent answers `{protection: ...}` or
 * `{failure: ...}`). Protection expires on its own after N minutes, so a worker that hangs does
 * not keep its task forever; the worker renews it while a long batch runs.
 */
import { errorFields, type Logger } from '../../../shared/src/index.js';

/** Turns scale-in protection on and off. */
export interface TaskProtection {
  /** Protect the task (renews the expiry when already protected and the renewal is due). */
  enable(): Promise<void>;
  /** Allow scale-in again. */
  disable(): Promise<void>;
}

/** Outside ECS (local runs, tests): does nothing. */
export const noTaskProtection: TaskProtection = {
  enable: async () => undefined,
  disable: async () => undefined,
};

export interface EcsTaskProtectionOptions {
  /** Value of the `ECS_AGENT_URI` variable the ECS agent sets in the container. */
  agentUri: string;
  /** Protection lifetime per request (default 60 minutes). */
  expiresInMinutes?: number;
  log: Logger;
  fetch?: typeof fetch;
  /** Milliseconds clock, injectable for tests. */
  now?: () => number;
}

/**
 * {@link TaskProtection} through the ECS agent. Failures are logged, never thrown: losing
 * protection risks a redelivered batch, which the pipeline tolerates; stopping work would not.
 *
 * @example
 * ```ts
 * const protection = process.env.ECS_AGENT_URI
 *   ? new EcsTaskProtection({ agentUri: process.env.ECS_AGENT_URI, log })
 *   : noTaskProtection;
 * ```
 */
export class EcsTaskProtection implements TaskProtection {
  private readonly url: string;
  private readonly expiresInMinutes: number;
  private readonly fetchImpl: typeof fetch;
  private readonly now: () => number;
  /** When the current protection was requested; undefined while unprotected. */
  private protectedSince: number | undefined;

  constructor(private readonly options: EcsTaskProtectionOptions) {
    this.url = `${options.agentUri.replace(/\/+$/, '')}/task-protection/v1/state`;
    this.expiresInMinutes = options.expiresInMinutes ?? 60;
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
    this.now = options.now ?? Date.now;
  }

  async enable(): Promise<void> {
    const renewAfterMs = (this.expiresInMinutes * 60_000) / 2;
    if (this.protectedSince !== undefined && this.now() - this.protectedSince < renewAfterMs) return;
    if (await this.put({ ProtectionEnabled: true, ExpiresInMinutes: this.expiresInMinutes })) {
      this.protectedSince = this.now();
    }
  }

  async disable(): Promise<void> {
    if (this.protectedSince === undefined) return;
    if (await this.put({ ProtectionEnabled: false })) this.protectedSince = undefined;
  }

  private async put(body: Record<string, unknown>): Promise<boolean> {
    try {
      const response = await this.fetchImpl(this.url, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(5000),
      });
      const text = await response.text();
      const failed = !response.ok || /"failure"/.test(text);
      if (failed) {
        this.options.log.warn('task protection failed', {
          status: response.status,
          body: text.slice(0, 300),
        });
        return false;
      }
      this.options.log.info('task protection', { enabled: body.ProtectionEnabled });
      return true;
    } catch (error) {
      this.options.log.warn('task protection failed', errorFields(error));
      return false;
    }
  }
}
