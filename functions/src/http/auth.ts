/**
 * API-key authentication: `Authorization: Bearer <key>`, looked up in the tenant directory
 * (keys are stored hashed). Missing or unknown keys get 401 with a `WWW-Authenticate` header;
 * the tenant is put on the context for the routes.
 */
import type { MiddlewareHandler } from 'hono';
import { UnauthorizedError, type Tenant, type TenantDirectory } from '../../../shared/src/index.js';

/** Hono context variables set by {@link bearerAuth}. */
export interface AuthVariables {
  tenant: Tenant;
}

/** Longest key we hash; anything longer cannot be one of ours. */
const MAX_KEY_LENGTH = 256;

/** The bearer token of an `Authorization` header, or undefined. */
export function bearerToken(header: string | undefined | null): string | undefined {
  const match = /^Bearer[ \t]+([\x21-\x7e]+)[ \t]*$/i.exec(header ?? '');
  return match?.[1];
}

/**
 * @example
 * ```ts
 * app.use('/v1/*', bearerAuth(services.tenants));
 * app.get('/v1/whoami', (c) => c.json({ tenant: c.var.tenant.id }));
 * ```
 */
export function bearerAuth(tenants: TenantDirectory): MiddlewareHandler<{ Variables: AuthVariables }> {
  return async (c, next) => {
    const token = bearerToken(c.req.header('authorization'));
    if (!token) throw new UnauthorizedError('missing API key: send Authorization: Bearer <key>');
    const tenant = token.length <= MAX_KEY_LENGTH ? await tenants.authenticate(token) : undefined;
    if (!tenant) throw new UnauthorizedError('unknown API key');
    c.set('tenant', tenant);
    await next();
  };
}
