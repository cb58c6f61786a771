/**
 * Standard Webhooks (https://www.standardwebhooks.com) signing and verification.
 *
 * A delivery carries three headers:
 * - `webhook-id`: message id, the same on retries (receivers deduplicate on it);
 * - `webhook-timestamp`: unix seconds when it was sent;
 * - `webhook-signature`: space-separated `v1,<base64 HMAC-SHA256>` entries, each over
 *   `"<id>.<timestamp>.<body>"` under the secret's key (several entries during key rotation).
 *
 * Secrets are `whsec_<base64 key bytes>`. Verification checks the timestamp is within a
 * tolerance (default 5 minutes either way, against replays) and compares in constant time.
 *
 * @example Receiver side (any framework; `body` must be the raw request text)
 * ```ts
 * await verifyWebhook({ secret: process.env.DR2E_WEBHOOK_SECRET, headers: request.headers, body });
 * const event = JSON.parse(body);
 * ```
 */
import { unixSeconds } from './clock.js';
import { constantTimeEqual, fromBase64, hmacSha256, randomBytes, toBase64 } from './encoding.js';
import { ExpiredError, InvalidSignatureError, ValidationError } from './errors.js';

export const WEBHOOK_SECRET_PREFIX = 'whsec_';
/** Default accepted clock difference between sender and receiver. */
export const DEFAULT_WEBHOOK_TOLERANCE_SECONDS = 5 * 60;

/** The three Standard Webhooks headers (a type alias, so it passes as a plain header record). */
export type WebhookHeaders = {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
};

/**
 * A new random secret: `whsec_` + base64 of 32 random bytes.
 *
 * @example generateWebhookSecret() // 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw...'
 */
export function generateWebhookSecret(): string {
  return WEBHOOK_SECRET_PREFIX + toBase64(randomBytes(32));
}

/**
 * Key bytes of a secret. The `whsec_` prefix is optional, as in other Standard Webhooks
 * libraries.
 *
 * @throws {ValidationError} when the rest is not base64 or is empty.
 */
export function webhookSecretKey(secret: string): Uint8Array {
  const encoded = secret.startsWith(WEBHOOK_SECRET_PREFIX)
    ? secret.slice(WEBHOOK_SECRET_PREFIX.length)
    : secret;
  let key: Uint8Array;
  try {
    key = fromBase64(encoded);
  } catch {
    throw new ValidationError('webhook secret is not base64 after the whsec_ prefix');
  }
  if (key.length === 0) throw new ValidationError('webhook secret is empty');
  return key;
}

export interface SignWebhookInput {
  /** Message id (`webhook-id`). */
  id: string;
  /** Send time; a Date or unix seconds. */
  timestamp: Date | number;
  /** The exact body bytes that will be sent, as text. */
  body: string;
  secret: string;
}

function timestampSeconds(timestamp: Date | number): number {
  return typeof timestamp === 'number' ? Math.floor(timestamp) : unixSeconds(timestamp);
}

/** One signature entry, `v1,<base64>`, for a message. */
export async function signWebhook(input: SignWebhookInput): Promise<string> {
  const signedContent = `${input.id}.${timestampSeconds(input.timestamp)}.${input.body}`;
  const mac = await hmacSha256(webhookSecretKey(input.secret), signedContent);
  return `v1,${toBase64(mac)}`;
}

/**
 * All three headers for a delivery.
 *
 * @example
 * ```ts
 * const body = JSON.stringify(event);
 * const headers = await webhookHeaders({ id: messageId, timestamp: new Date(), body, secret });
 * await fetch(url, { method: 'POST', body, headers: { ...headers, 'content-type': 'application/json' } });
 * ```
 */
export async function webhookHeaders(input: SignWebhookInput): Promise<WebhookHeaders> {
  return {
    'webhook-id': input.id,
    'webhook-timestamp': String(timestampSeconds(input.timestamp)),
    'webhook-signature': await signWebhook(input),
  };
}

/** Header access over `Headers` or a plain record (keys of any case). */
function readHeader(headers: Headers | Record<string, string | undefined>, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const record = headers as Record<string, string | undefined>;
  const key = Object.keys(record).find((candidate) => candidate.toLowerCase() === name);
  return key === undefined ? undefined : record[key];
}

export interface VerifyWebhookInput {
  /** The receiver's secret, or several during rotation (any may match). */
  secret: string | readonly string[];
  headers: Headers | Record<string, string | undefined>;
  /** The raw body text as received (not re-serialised JSON). */
  body: string;
  /** Defaults to the current time. */
  now?: Date;
  toleranceSeconds?: number;
}

/**
 * Checks a delivery's headers against its body. Resolves with the message id and timestamp.
 *
 * @throws {InvalidSignatureError} when headers are missing or no `v1` signature matches.
 * @throws {ExpiredError} when the timestamp is outside the tolerance.
 */
export async function verifyWebhook(input: VerifyWebhookInput): Promise<{ id: string; timestamp: Date }> {
  const id = readHeader(input.headers, 'webhook-id');
  const timestampText = readHeader(input.headers, 'webhook-timestamp');
  const signatureHeader = readHeader(input.headers, 'webhook-signature');
  if (!id || !timestampText || !signatureHeader) {
    throw new InvalidSignatureError('missing webhook-id, webhook-timestamp or webhook-signature header');
  }
  if (!/^\d{1,12}$/.test(timestampText)) throw new InvalidSignatureError('malformed webhook-timestamp');
  const timestamp = Number(timestampText);
  const now = unixSeconds(input.now ?? new Date());
  const tolerance = input.toleranceSeconds ?? DEFAULT_WEBHOOK_TOLERANCE_SECONDS;
  if (Math.abs(now - timestamp) > tolerance) {
    throw new ExpiredError('webhook timestamp is outside the accepted tolerance');
  }

  const candidates: Uint8Array[] = [];
  for (const entry of signatureHeader.split(' ')) {
    const [version, encoded] = entry.split(',', 2);
    if (version !== 'v1' || !encoded) continue;
    try {
      candidates.push(fromBase64(encoded));
    } catch {
      // A malformed entry cannot match; other entries may still.
    }
  }
  const secrets = typeof input.secret === 'string' ? [input.secret] : input.secret;
  const signedContent = `${id}.${timestamp}.${input.body}`;
  for (const secret of secrets) {
    const expected = await hmacSha256(webhookSecretKey(secret), signedContent);
    // Compare against every candidate without stopping early, so timing says nothing about which matched.
    let matched = false;
    for (const candidate of candidates) matched = constantTimeEqual(expected, candidate) || matched;
    if (matched) return { id, timestamp: new Date(timestamp * 1000) };
  }
  throw new InvalidSignatureError('no webhook signature matches');
}
