/**
 * Webhook target rules (the pure half of the SSRF guard): which URLs and which IP addresses a
 * webhook may be delivered to. No DNS and no network here (Web-standard code only); the node
 * adapter `shared/adapters/node/guarded-webhook-sender.ts` resolves names, checks every
 * resolved address with {@link checkResolvedAddresses} and connects to a vetted one.
 *
 * Rules:
 * - `aws` mode (production): `https:` only; every address must be public.
 * - `local` mode: `https:` to public or loopback addresses; `http:` only to loopback (a
 *   loopback literal, or `localhost` / `*.localhost` resolving to loopback).
 * - Never: private (10/8, 172.16/12, 192.168/16, fec0::/10), carrier-grade NAT (100.64/10),
 *   link-local (169.254/16, fe80::/10), cloud metadata (169.254.169.254, 169.254.170.2,
 *   fd00:ec2::254), unique-local (fc00::/7), unspecified, multicast, broadcast, documentation
 *   and other reserved ranges. IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`),
 *   NAT64 (`64:ff9b::/96`) and 6to4 (`2002::/16`) IPv6 addresses are judged by the IPv4
 *   address they carry.
 * - Hosts on the allow-list (`DR2E_WEBHOOK_ALLOW_HOSTS`, exact names, or `.suffix` for a domain
 *   and its subdomains) skip the address checks, except metadata addresses, which are never
 *   allowed. The scheme rule still applies.
 *
 * @example At job creation (static part) and at delivery (after DNS)
 * ```ts
 * const policy = { mode: 'aws', allowHosts: [] } as const;
 * checkWebhookUrl('http://127.0.0.1/hook', policy); // { ok: false, reason: 'scheme_not_allowed', ... }
 * const target = checkWebhookUrl('https://hooks.example.com/dr2e', policy);
 * if (target.ok) checkResolvedAddresses(target, ['10.0.0.7'], policy); // { ok: false, reason: 'forbidden_address', addressClass: 'private' }
 * ```
 */
import { DomainError } from './errors.js';

/** `aws` is production (https only); `local` is `npm start` on one machine. */
export type WebhookTargetMode = 'local' | 'aws';

export interface WebhookTargetPolicy {
  mode: WebhookTargetMode;
  /** Host names exempt from the address checks: `hooks.internal`, or `.corp.example` for a domain. */
  allowHosts: readonly string[];
}

/** What kind of address an IP is; only `public` (and `loopback` in local mode) may receive webhooks. */
export type AddressClass =
  | 'public'
  | 'loopback'
  | 'private'
  | 'shared'
  | 'link_local'
  | 'metadata'
  | 'unique_local'
  | 'unspecified'
  | 'multicast'
  | 'broadcast'
  | 'documentation'
  | 'reserved';

/** Stable reasons a target is refused (API error details, delivery error text). */
export type WebhookRefusalReason =
  | 'invalid_url'
  | 'scheme_not_allowed'
  | 'credentials_not_allowed'
  | 'forbidden_host'
  | 'forbidden_address'
  | 'unresolvable_host';

/** A parsed IP address: 4 bytes (IPv4) or 16 bytes (IPv6), network order. */
export interface IpAddress {
  family: 4 | 6;
  bytes: Uint8Array;
}

/** A refused target, with the reason and (for address refusals) what the address is. */
export interface WebhookTargetRefusal {
  ok: false;
  reason: WebhookRefusalReason;
  message: string;
  address?: string;
  addressClass?: AddressClass;
}

/** A URL that passed the static checks; its addresses still need {@link checkResolvedAddresses}. */
export interface WebhookTarget {
  ok: true;
  url: URL;
  /** Host name without brackets or trailing dot, lower case (`[::1]` -> `::1`). */
  host: string;
  /** The address when the host is an IP literal (no DNS needed). */
  literal?: IpAddress;
  /** True when the host is on the allow-list (address checks skipped, metadata excepted). */
  allowListed: boolean;
  /** True when every address must be loopback (`http:` in local mode). */
  loopbackOnly: boolean;
}

/** The API's error for a refused webhook URL (400, code `webhook_target_refused`). */
export class WebhookTargetRefusedError extends DomainError {
  readonly code = 'webhook_target_refused';
  readonly httpStatus = 400;

  constructor(readonly refusal: WebhookTargetRefusal) {
    super(`webhook.url refused (${refusal.reason}): ${refusal.message}`, {
      details: {
        reason: refusal.reason,
        ...(refusal.address === undefined ? {} : { address: refusal.address }),
        ...(refusal.addressClass === undefined ? {} : { addressClass: refusal.addressClass }),
      },
    });
  }
}

/**
 * Parses an IPv4 dotted quad or an IPv6 address (optionally in brackets; no zone ids), or
 * returns undefined for anything else (host names, shorthand IPv4 like `127.1`).
 *
 * @example parseIpAddress('::ffff:10.0.0.1') // { family: 6, bytes: [0,...,0,255,255,10,0,0,1] }
 */
export function parseIpAddress(text: string): IpAddress | undefined {
  const trimmed = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const v4 = parseIpv4(trimmed);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = parseIpv6(trimmed);
  return v6 ? { family: 6, bytes: v6 } : undefined;
}

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i] ?? '';
    // Decimal only, no leading zeros: "010" means octal to some parsers, so it is refused here.
    if (!/^(0|[1-9]\d{0,2})$/.test(part)) return undefined;
    const value = Number(part);
    if (value > 255) return undefined;
    bytes[i] = value;
  }
  return bytes;
}

function parseIpv6(text: string): Uint8Array | undefined {
  if (!/^[0-9A-Fa-f:.]+$/.test(text) || text.length > 45) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parseGroups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const groups: number[] = [];
    const pieces = part.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i] ?? '';
      if (i === pieces.length - 1 && piece.includes('.')) {
        const v4 = parseIpv4(piece);
        if (!v4) return undefined;
        groups.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
        continue;
      }
      if (!/^[0-9A-Fa-f]{1,4}$/.test(piece)) return undefined;
      groups.push(parseInt(piece, 16));
    }
    return groups;
  };
  const head = parseGroups(halves[0] ?? '');
  const tail = halves.length === 2 ? parseGroups(halves[1] ?? '') : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  groups.forEach((group, index) => {
    bytes[index * 2] = group >> 8;
    bytes[index * 2 + 1] = group & 0xff;
  });
  return bytes;
}

/** Text form of a parsed address (dotted quad, or eight hex groups joined by `:`). */
export function formatIpAddress(address: IpAddress): string {
  if (address.family === 4) return Array.from(address.bytes).join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2)
    groups.push((((address.bytes[i] ?? 0) << 8) | (address.bytes[i + 1] ?? 0)).toString(16));
  return groups.join(':');
}

/** True when the first `bits` bits of `bytes` equal those of `prefix`. */
function inPrefix(bytes: Uint8Array, prefix: readonly number[], bits: number): boolean {
  for (let bit = 0; bit < bits; bit += 8) {
    const remaining = Math.min(8, bits - bit);
    const mask = (0xff << (8 - remaining)) & 0xff;
    if (((bytes[bit / 8] ?? 0) & mask) !== ((prefix[bit / 8] ?? 0) & mask)) return false;
  }
  return true;
}

/** IPv4 special-purpose ranges (RFC 6890 and friends), most specific first. */
const IPV4_RANGES: readonly [readonly number[], number, AddressClass][] = [
  [[169, 254, 169, 254], 32, 'metadata'], // EC2/ECS instance metadata and most clouds
  [[169, 254, 170, 2], 32, 'metadata'], // ECS task metadata / credentials endpoint
  [[255, 255, 255, 255], 32, 'broadcast'],
  [[0], 8, 'unspecified'], // "this network"; 0.0.0.0 reaches the local host on many systems
  [[10], 8, 'private'],
  [[100, 64], 10, 'shared'], // carrier-grade NAT
  [[127], 8, 'loopback'],
  [[169, 254], 16, 'link_local'],
  [[172, 16], 12, 'private'],
  [[192, 0, 0], 24, 'reserved'], // IETF protocol assignments
  [[192, 0, 2], 24, 'documentation'],
  [[192, 88, 99], 24, 'reserved'], // former 6to4 relay anycast
  [[192, 168], 16, 'private'],
  [[198, 18], 15, 'reserved'], // benchmarking
  [[198, 51, 100], 24, 'documentation'],
  [[203, 0, 113], 24, 'documentation'],
  [[224], 4, 'multicast'],
  [[240], 4, 'reserved'],
];

/** IPv6 ranges checked after the ones that embed an IPv4 address. */
const IPV6_RANGES: readonly [readonly number[], number, AddressClass][] = [
  [[0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54], 128, 'metadata'], // fd00:ec2::254
  [[0x01, 0x00, 0, 0, 0, 0, 0, 0], 64, 'reserved'], // discard-only
  [[0x20, 0x01, 0x0d, 0xb8], 32, 'documentation'],
  [[0x3f, 0xff], 20, 'documentation'],
  [[0x20, 0x01, 0x00, 0x00], 32, 'reserved'], // Teredo: the client address is obfuscated inside
  [[0x20, 0x01, 0x00, 0x02, 0x00, 0x00], 48, 'reserved'], // benchmarking
  [[0x20, 0x01, 0x00, 0x10], 28, 'reserved'], // ORCHID
  [[0x20, 0x01, 0x00, 0x20], 28, 'reserved'], // ORCHIDv2
  [[0x00, 0x64, 0xff, 0x9b, 0x00, 0x01], 48, 'reserved'], // local-use NAT64
  [[0xfc], 7, 'unique_local'],
  [[0xfe, 0x80], 10, 'link_local'],
  [[0xfe, 0xc0], 10, 'private'], // deprecated site-local
  [[0xff], 8, 'multicast'],
];

/** The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4), if any. */
export function embeddedIpv4(address: IpAddress): Uint8Array | undefined {
  if (address.family !== 6) return undefined;
  const b = address.bytes;
  const zeros = (from: number, to: number) => b.subarray(from, to).every((byte) => byte === 0);
  // ::ffff:a.b.c.d (IPv4-mapped)
  if (zeros(0, 10) && b[10] === 0xff && b[11] === 0xff) return b.slice(12, 16);
  // ::a.b.c.d (IPv4-compatible, deprecated); :: and ::1 are themselves, not IPv4.
  if (zeros(0, 12) && !zeros(12, 15)) return b.slice(12, 16);
  // 64:ff9b::a.b.c.d (well-known NAT64 prefix)
  if (inPrefix(b, [0x00, 0x64, 0xff, 0x9b], 32) && zeros(4, 12)) return b.slice(12, 16);
  // 2002:aabb:ccdd::/48 (6to4 carries a.b.c.d in bits 16..47)
  if (inPrefix(b, [0x20, 0x02], 16)) return b.slice(2, 6);
  return undefined;
}

/**
 * What kind of address this is. Unparseable text is `reserved` (refused).
 *
 * @example
 * ```ts
 * classifyIpAddress('169.254.169.254'); // 'metadata'
 * classifyIpAddress('::ffff:a00:1');    // 'private' (IPv4-mapped 10.0.0.1)
 * classifyIpAddress('2606:4700::1111'); // 'public'
 * ```
 */
export function classifyIpAddress(address: string | IpAddress): AddressClass {
  const parsed = typeof address === 'string' ? parseIpAddress(address) : address;
  if (!parsed) return 'reserved';
  if (parsed.family === 4) return classifyIpv4(parsed.bytes);
  const b = parsed.bytes;
  if (b.every((byte) => byte === 0)) return 'unspecified';
  if (b.subarray(0, 15).every((byte) => byte === 0) && b[15] === 1) return 'loopback';
  const v4 = embeddedIpv4(parsed);
  if (v4) return classifyIpv4(v4);
  for (const [prefix, bits, kind] of IPV6_RANGES) if (inPrefix(b, prefix, bits)) return kind;
  // Only 2000::/3 is allocated as global unicast; everything else left is reserved.
  return inPrefix(b, [0x20], 3) ? 'public' : 'reserved';
}

function classifyIpv4(bytes: Uint8Array): AddressClass {
  for (const [prefix, bits, kind] of IPV4_RANGES) if (inPrefix(bytes, prefix, bits)) return kind;
  return 'public';
}

/** Host of a URL as compared and resolved: no brackets, no trailing dot, lower case. */
export function normalizeHost(hostname: string): string {
  const unbracketed = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  return unbracketed.replace(/\.$/, '').toLowerCase();
}

/** True when `host` matches an allow-list entry (exact, or `.suffix` for the domain and below). */
export function isAllowListed(host: string, allowHosts: readonly string[]): boolean {
  const normalized = normalizeHost(host);
  return allowHosts.some((entry) => {
    const rule = normalizeHost(entry.trim());
    if (rule.length === 0) return false;
    if (rule.startsWith('.')) return normalized === rule.slice(1) || normalized.endsWith(rule);
    return normalized === rule;
  });
}

function isLocalhostName(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost');
}

function refuse(
  reason: WebhookRefusalReason,
  message: string,
  extra: Pick<WebhookTargetRefusal, 'address' | 'addressClass'> = {},
): WebhookTargetRefusal {
  return { ok: false, reason, message, ...extra };
}

/** Whether the policy lets a webhook reach an address of this class. */
export function isAddressClassAllowed(addressClass: AddressClass, mode: WebhookTargetMode): boolean {
  return addressClass === 'public' || (addressClass === 'loopback' && mode === 'local');
}

/**
 * The static checks (no DNS): URL syntax, scheme, credentials, host names that are never
 * allowed, and IP literals. Names still have to be resolved and their addresses checked with
 * {@link checkResolvedAddresses}.
 */
export function checkWebhookUrl(
  url: string | URL,
  policy: WebhookTargetPolicy,
): WebhookTarget | WebhookTargetRefusal {
  let parsed: URL;
  try {
    parsed = typeof url === 'string' ? new URL(url) : new URL(url.href);
  } catch {
    return refuse('invalid_url', 'not an absolute URL');
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    return refuse('scheme_not_allowed', `scheme ${parsed.protocol} is not allowed; use https`);
  }
  if (parsed.username !== '' || parsed.password !== '') {
    return refuse('credentials_not_allowed', 'user name or password in the URL is not allowed');
  }
  const host = normalizeHost(parsed.hostname);
  if (host.length === 0) return refuse('invalid_url', 'URL has no host');
  const allowListed = isAllowListed(host, policy.allowHosts);
  const literal = parseIpAddress(host);
  const literalClass = literal ? classifyIpAddress(literal) : undefined;

  if (policy.mode === 'aws' && parsed.protocol !== 'https:') {
    return refuse('scheme_not_allowed', 'webhooks must use https');
  }
  const loopbackOnly = parsed.protocol === 'http:';
  if (loopbackOnly && !(literalClass === 'loopback' || (literal === undefined && isLocalhostName(host)))) {
    return refuse(
      'scheme_not_allowed',
      'http is only allowed to loopback (127.0.0.1, [::1], localhost); use https',
    );
  }
  if (literal && literalClass) {
    const verdict = checkAddress(literal, host, allowListed, loopbackOnly, policy);
    if (verdict) return verdict;
  } else if (isLocalhostName(host) && policy.mode === 'aws' && !allowListed) {
    return refuse('forbidden_host', `${host} is a loopback name`, { addressClass: 'loopback' });
  }
  return { ok: true, url: parsed, host, ...(literal ? { literal } : {}), allowListed, loopbackOnly };
}

function checkAddress(
  address: IpAddress,
  host: string,
  allowListed: boolean,
  loopbackOnly: boolean,
  policy: WebhookTargetPolicy,
): WebhookTargetRefusal | undefined {
  const addressClass = classifyIpAddress(address);
  const text = formatIpAddress(address);
  if (addressClass === 'metadata') {
    return refuse('forbidden_address', `${host} is a cloud metadata address (${text})`, {
      address: text,
      addressClass,
    });
  }
  if (loopbackOnly && addressClass !== 'loopback') {
    return refuse(
      'forbidden_address',
      `http is only allowed to loopback; ${host} is ${addressClass} (${text})`,
      {
        address: text,
        addressClass,
      },
    );
  }
  if (allowListed || isAddressClassAllowed(addressClass, policy.mode)) return undefined;
  return refuse(
    'forbidden_address',
    `${host} resolves to a ${addressClass.replace('_', '-')} address (${text})`,
    {
      address: text,
      addressClass,
    },
  );
}

/**
 * Checks every address a host resolved to: one forbidden address refuses the target (DNS can
 * hand out several, and an attacker controls which one a client picks). Returns the addresses
 * that may be connected to, in the given order.
 */
export function checkResolvedAddresses(
  target: WebhookTarget,
  addresses: readonly string[],
  policy: WebhookTargetPolicy,
): { ok: true; addresses: IpAddress[] } | WebhookTargetRefusal {
  if (addresses.length === 0) return refuse('unresolvable_host', `${target.host} has no addresses`);
  const vetted: IpAddress[] = [];
  for (const text of addresses) {
    const address = parseIpAddress(text);
    if (!address) return refuse('forbidden_address', `${target.host} resolved to an unparseable address`);
    const verdict = checkAddress(address, target.host, target.allowListed, target.loopbackOnly, policy);
    if (verdict) return verdict;
    vetted.push(address);
  }
  return { ok: true, addresses: vetted };
}

/**
 * Port: checks a webhook URL before a job is accepted (the API answers 400 naming the reason).
 * The node adapter (`NodeWebhookTargetChecker`) also resolves the host; delivery checks again.
 */
export interface WebhookTargetChecker {
  /** @throws {WebhookTargetRefusedError} (400 `webhook_target_refused`) naming the reason. */
  assertAllowed(url: string): Promise<void>;
}

/**
 * A {@link WebhookTargetChecker} without DNS (static checks only): for runtimes without a
 * resolver, and tests. Delivery through the guarded sender still checks resolved addresses.
 */
export class StaticWebhookTargetChecker implements WebhookTargetChecker {
  constructor(private readonly policy: WebhookTargetPolicy) {}

  async assertAllowed(url: string): Promise<void> {
    const verdict = checkWebhookUrl(url, this.policy);
    if (!verdict.ok) throw new WebhookTargetRefusedError(verdict);
  }
}
