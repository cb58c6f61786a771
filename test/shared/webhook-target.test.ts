/** The pure SSRF rules: URL checks per mode, address classes, allow-list. */
import { describe, expect, it } from 'vitest';
import {
  checkResolvedAddresses,
  checkWebhookUrl,
  classifyIpAddress,
  parseIpAddress,
  StaticWebhookTargetChecker,
  WebhookTargetRefusedError,
  type WebhookTargetPolicy,
} from '../../shared/src/webhook-target.js';

const production: WebhookTargetPolicy = { mode: 'aws', allowHosts: [] };
const local: WebhookTargetPolicy = { mode: 'local', allowHosts: [] };

describe('classifyIpAddress', () => {
  it.each([
    ['8.8.8.8', 'public'],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.5.4', 'private'],
    ['172.32.0.1', 'public'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'shared'],
    ['169.254.1.1', 'link_local'],
    ['169.254.169.254', 'metadata'],
    ['169.254.170.2', 'metadata'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['192.0.2.10', 'documentation'],
    ['198.51.100.1', 'documentation'],
    ['203.0.113.7', 'documentation'],
    ['240.0.0.1', 'reserved'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['fe80::1', 'link_local'],
    ['fc00::1', 'unique_local'],
    ['fd12:3456::1', 'unique_local'],
    ['fd00:ec2::254', 'metadata'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'documentation'],
    ['2606:4700:4700::1111', 'public'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:a00:1', 'private'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['::10.0.0.1', 'private'],
    ['64:ff9b::a00:1', 'private'],
    ['2002:a00:1::1', 'private'],
    ['2002:808:808::1', 'public'],
    ['::ffff:8.8.8.8', 'public'],
    ['not-an-ip', 'reserved'],
  ])('%s is %s', (address, expected) => {
    // Act / Assess
    expect(classifyIpAddress(address)).toBe(expected);
  });

  it('parses only strict dotted quads and valid IPv6', () => {
    // Act / Assess
    expect(parseIpAddress('127.1')).toBeUndefined();
    expect(parseIpAddress('010.0.0.1')).toBeUndefined();
    expect(parseIpAddress('1::2::3')).toBeUndefined();
    expect(parseIpAddress('[::1]')?.family).toBe(6);
    expect(parseIpAddress('1:2:3:4:5:6:7:8')?.bytes[15]).toBe(8);
  });
});

describe('checkWebhookUrl', () => {
  it.each([
    ['http://127.0.0.1/hook', 'scheme_not_allowed'],
    ['https://127.0.0.1/hook', 'forbidden_address'],
    ['https://169.254.169.254/latest/meta-data', 'forbidden_address'],
    ['https://10.0.0.1/hook', 'forbidden_address'],
    ['https://[::1]/hook', 'forbidden_address'],
    ['https://[::ffff:127.0.0.1]/hook', 'forbidden_address'],
    ['https://[::ffff:a00:1]/hook', 'forbidden_address'],
    ['https://[fd00:ec2::254]/', 'forbidden_address'],
    ['https://0x7f.1/', 'forbidden_address'],
    ['https://2130706433/', 'forbidden_address'],
    ['https://localhost/hook', 'forbidden_host'],
    ['https://user:secret@example.com/', 'credentials_not_allowed'],
    ['ftp://example.com/', 'scheme_not_allowed'],
    ['not a url', 'invalid_url'],
  ])('production refuses %s (%s)', (url, reason) => {
    // Act
    const verdict = checkWebhookUrl(url, production);
    // Assess
    expect(verdict.ok).toBe(false);
    expect(!verdict.ok && verdict.reason).toBe(reason);
  });

  it('production accepts https to a public name (its addresses are checked after DNS)', () => {
    // Act
    const verdict = checkWebhookUrl('https://hooks.example.com/dr2e', production);
    // Assess
    expect(verdict).toMatchObject({ ok: true, host: 'hooks.example.com', loopbackOnly: false });
  });

  it('local mode allows http to loopback only, and never to private or metadata addresses', () => {
    // Act / Assess
    expect(checkWebhookUrl('http://127.0.0.1:9000/hook', local).ok).toBe(true);
    expect(checkWebhookUrl('http://[::1]:9000/hook', local).ok).toBe(true);
    expect(checkWebhookUrl('http://localhost:9000/hook', local)).toMatchObject({
      ok: true,
      loopbackOnly: true,
    });
    expect(checkWebhookUrl('http://example.com/hook', local)).toMatchObject({ reason: 'scheme_not_allowed' });
    expect(checkWebhookUrl('http://10.0.0.1/hook', local)).toMatchObject({ reason: 'scheme_not_allowed' });
    expect(checkWebhookUrl('https://10.0.0.1/hook', local)).toMatchObject({
      reason: 'forbidden_address',
      addressClass: 'private',
    });
    expect(checkWebhookUrl('https://169.254.169.254/', local)).toMatchObject({ addressClass: 'metadata' });
  });

  it('allow-listed hosts skip the address checks, but not the scheme rule nor metadata', () => {
    // Prepare
    const policy: WebhookTargetPolicy = { mode: 'aws', allowHosts: ['10.1.2.3', '.corp.internal'] };
    // Act / Assess
    expect(checkWebhookUrl('https://10.1.2.3/hook', policy).ok).toBe(true);
    expect(checkWebhookUrl('http://10.1.2.3/hook', policy).ok).toBe(false);
    const named = checkWebhookUrl('https://hooks.corp.internal/x', policy);
    expect(named.ok && checkResolvedAddresses(named, ['10.9.9.9'], policy).ok).toBe(true);
    expect(named.ok && checkResolvedAddresses(named, ['169.254.169.254'], policy)).toMatchObject({
      addressClass: 'metadata',
    });
  });
});

describe('checkResolvedAddresses', () => {
  it('refuses a name when ANY of its addresses is forbidden', () => {
    // Prepare
    const target = checkWebhookUrl('https://rebind.example.com/', production);
    if (!target.ok) throw new Error('static check should pass');
    // Act
    const verdict = checkResolvedAddresses(target, ['93.184.216.34', '10.0.0.5'], production);
    // Assess
    expect(verdict).toMatchObject({ ok: false, reason: 'forbidden_address', address: '10.0.0.5' });
  });

  it('refuses http://localhost in local mode when the name does not resolve to loopback', () => {
    // Prepare
    const target = checkWebhookUrl('http://localhost:8080/', local);
    if (!target.ok) throw new Error('static check should pass');
    // Act / Assess
    expect(checkResolvedAddresses(target, ['127.0.0.1', '::1'], local).ok).toBe(true);
    expect(checkResolvedAddresses(target, ['8.8.8.8'], local)).toMatchObject({ reason: 'forbidden_address' });
    expect(checkResolvedAddresses(target, [], local)).toMatchObject({ reason: 'unresolvable_host' });
  });
});

describe('StaticWebhookTargetChecker', () => {
  it('throws a 400 error naming the reason', async () => {
    // Prepare
    const checker = new StaticWebhookTargetChecker(production);
    // Act
    const error = await checker.assertAllowed('https://169.254.169.254/').catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(WebhookTargetRefusedError);
    expect(error).toMatchObject({
      httpStatus: 400,
      code: 'webhook_target_refused',
      details: { reason: 'forbidden_address', addressClass: 'metadata' },
    });
  });
});
