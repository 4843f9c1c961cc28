import { describe, expect, it } from 'vitest';
import {
  canonicalIp,
  canonicalPrefix,
  cidrContainmentTest,
  cidrContains,
  ipFamilyOf,
  normalizeClusterCidr,
  parseNodeIp,
  parsePodCidr,
  parsePrefix,
  prefixContains,
  prefixValue,
} from '../../src/domain/cidr.ts';

describe('parsePodCidr', () => {
  it.each([
    ['10.200.0.0/24', '10.200.0.0/24', 4, 24],
    ['10.244.0.0/16', '10.244.0.0/16', 4, 16],
    ['192.168.1.128/25', '192.168.1.128/25', 4, 25],
    ['10.1.2.3/32', '10.1.2.3/32', 4, 32],
    ['0.0.0.0/0', '0.0.0.0/0', 4, 0],
    ['fd00:10:244:1::/64', 'fd00:10:244:1::/64', 6, 64],
    ['FD00:10:244:1::/64', 'fd00:10:244:1::/64', 6, 64],
    ['fd00:0010:0244:0001:0000:0000:0000:0000/64', 'fd00:10:244:1::/64', 6, 64],
    ['a00:100::/24', 'a00:100::/24', 6, 24],
    ['2001:db8:0:0:1::/80', '2001:db8:0:0:1::/80', 6, 80],
    ['2001:db8:0:0:1:0:0:1/128', '2001:db8::1:0:0:1/128', 6, 128],
    ['::/0', '::/0', 6, 0],
  ] as const)('accepts %s as %s', (input, cidr, family, prefixLength) => {
    expect(parsePodCidr(input)).toEqual({ ok: true, cidr, family, prefixLength });
  });

  it.each([
    ['10.200.0.1/24', 'HostBitsSet'],
    ['10.244.1.0/16', 'HostBitsSet'],
    ['fd00:10:244:1::1/64', 'HostBitsSet'],
    ['ace:cab:deca::/8', 'HostBitsSet'],
    ['', 'InvalidPodCIDR'],
    ['10.200.0.0', 'InvalidPodCIDR'],
    ['10.200.0.0/33', 'InvalidPodCIDR'],
    ['fd00::/129', 'InvalidPodCIDR'],
    ['10.200.0.0/', 'InvalidPodCIDR'],
    ['10.200.0.0/024', 'InvalidPodCIDR'],
    ['10.200.0.0/-1', 'InvalidPodCIDR'],
    ['10.200.0.0/24/8', 'InvalidPodCIDR'],
    ['10.200.0/24', 'InvalidPodCIDR'],
    ['010.200.0.0/24', 'InvalidPodCIDR'],
    ['0x0a.200.0.0/24', 'InvalidPodCIDR'],
    ['10.256.0.0/16', 'InvalidPodCIDR'],
    ['10.200.0.0 /24', 'InvalidPodCIDR'],
    [' 10.200.0.0/24', 'InvalidPodCIDR'],
    ['fe80::%eth0/64', 'InvalidPodCIDR'],
    ['fd00::1::/64', 'InvalidPodCIDR'],
    ['fd00:12345::/64', 'InvalidPodCIDR'],
    ['::10.0.0.0/104', 'InvalidPodCIDR'],
    ['garbage', 'InvalidPodCIDR'],
  ] as const)('refuses %j with %s', (input, reason) => {
    expect(parsePodCidr(input)).toEqual({ ok: false, reason });
  });
});

describe('normalizeClusterCidr', () => {
  it.each([
    ['10.120.0.0/16', '10.120.0.0/16', 4, 16, false],
    ['10.120.7.9/16', '10.120.0.0/16', 4, 16, true],
    ['ace:cab:deca::/8', 'a00::/8', 6, 8, true],
    ['FD00:10:244::/56', 'fd00:10:244::/56', 6, 56, false],
    [' 10.244.0.0/16 ', '10.244.0.0/16', 4, 16, false],
  ] as const)('%j -> %s', (input, cidr, family, prefixLength, hadHostBits) => {
    expect(normalizeClusterCidr(input)).toEqual({ ok: true, cidr, family, prefixLength, hadHostBits });
  });

  it.each(['', '10.0.0.0', 'AzureCloud', '10.0.0.0/40', '1.2.3/8'])('refuses %j', (input) => {
    expect(normalizeClusterCidr(input)).toEqual({ ok: false });
  });
});

describe('canonicalPrefix', () => {
  it.each([
    ['10.200.0.0/24', '10.200.0.0/24'],
    ['10.200.0.7/24', '10.200.0.0/24'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['FD00:0:0:1::/64', 'fd00:0:0:1::/64'],
    ['fd00:0:0:1::ff/64', 'fd00:0:0:1::/64'],
    ['2001:DB8::/32', '2001:db8::/32'],
    ['AzureCloud', undefined],
    ['Internet', undefined],
    ['10.0.0.0', undefined],
    ['', undefined],
    ['10.0.0.0/8x', undefined],
  ])('%j -> %j', (input, expected) => {
    expect(canonicalPrefix(input)).toBe(expected);
  });

  it('parsePrefix exposes the masked network', () => {
    expect(parsePrefix('10.1.2.3/16')).toEqual({
      cidr: '10.1.0.0/16',
      family: 4,
      prefixLength: 16,
      bytes: [10, 1, 0, 0],
    });
  });
});

describe('cidrContains', () => {
  it.each([
    ['10.120.0.0/16', '10.120.0.0/24', true],
    ['10.120.0.0/16', '10.120.255.0/24', true],
    ['10.120.0.0/16', '10.120.0.0/16', true],
    ['10.120.0.0/16', '10.0.0.0/8', false],
    ['10.120.0.0/16', '10.121.0.0/24', false],
    ['10.244.0.0/14', '10.247.255.0/24', true],
    ['10.244.0.0/14', '10.248.0.0/24', false],
    ['10.244.0.0/14', '10.243.255.0/24', false],
    ['a00::/8', 'a00:100::/24', true],
    ['a00:100::/10', 'b00:100::/24', false],
    ['0.0.0.0/0', '192.168.0.0/16', true],
    ['10.0.0.0/8', 'a00::/24', false],
    ['::/0', '10.0.0.0/8', false],
    ['10.0.0.0/8', 'AzureCloud', false],
  ])('%s contains %s: %s', (outer, inner, expected) => {
    expect(cidrContains(outer, inner)).toBe(expected);
  });

  it('a containment test checks every outer range and ignores unparseable ones', () => {
    const inside = cidrContainmentTest(['10.120.0.0/16', 'nonsense', 'fd00::/48']);
    expect(inside('10.120.3.0/24')).toBe(true);
    expect(inside('fd00:0:0:5::/64')).toBe(true);
    expect(inside('fd00:1::/64')).toBe(false);
    expect(inside('10.121.0.0/24')).toBe(false);
  });
});

describe('prefixContains and prefixValue', () => {
  const p = (text: string) => parsePrefix(text)!;

  it.each([
    ['10.200.0.0/24', '10.200.0.128/25', true],
    ['10.200.0.128/25', '10.200.0.0/24', false],
    ['10.200.0.0/24', '10.200.0.0/24', true],
    ['10.200.0.0/24', '10.200.1.0/24', false],
    ['fd00::/64', 'fd00:0:0:0:8000::/65', true],
    ['0.0.0.0/0', '::/0', false],
  ])('%s contains %s: %s', (outer, inner, expected) => {
    expect(prefixContains(p(outer), p(inner))).toBe(expected);
  });

  it('gives the network address as one integer, host bits cleared', () => {
    expect(prefixValue(p('10.200.1.0/24'))).toBe((10n << 24n) | (200n << 16n) | (1n << 8n));
    expect(prefixValue(p('10.200.1.7/24'))).toBe(prefixValue(p('10.200.1.0/24')));
    expect(prefixValue(p('::1/128'))).toBe(1n);
    expect(prefixValue(p('8000::/1'))).toBe(1n << 127n);
  });
});

describe('parseNodeIp', () => {
  it.each([
    ['10.240.0.20', '10.240.0.20', 4],
    ['192.168.0.255', '192.168.0.255', 4],
    ['100.64.0.1', '100.64.0.1', 4],
    ['FD00::0001', 'fd00::1', 6],
    ['2001:db8:0:0:0:0:2:1', '2001:db8::2:1', 6],
    ['2001:db8::1:0:0:1', '2001:db8::1:0:0:1', 6],
    // IPv4-mapped IPv6 is read as the IPv4 address it carries, as Go does.
    ['::ffff:10.240.0.4', '10.240.0.4', 4],
    ['::ffff:a00:1', '10.0.0.1', 4],
  ] as const)('%s is usable as %s (IPv%i)', (input, ip, family) => {
    expect(parseNodeIp(input)).toEqual({ ok: true, ip, family });
  });

  it.each([
    ['127.0.0.1', 4],
    ['0.0.0.0', 4],
    ['169.254.169.254', 4],
    ['224.0.0.1', 4],
    ['239.255.255.250', 4],
    ['255.255.255.255', 4],
    ['::', 6],
    ['::1', 6],
    ['fe80::1', 6],
    ['febf::1', 6],
    ['ff02::1', 6],
    ['::ffff:127.0.0.1', 4],
  ] as const)('%s is unusable', (input, family) => {
    expect(parseNodeIp(input)).toEqual({ ok: false, reason: 'unusable', family });
  });

  it.each(['', 'node-1', '10.0.0', '10.0.0.256', '010.0.0.1', '10.0.0.1/32', 'fe80::1%eth0', '1::2::3'])(
    '%j is invalid',
    (input) => {
      expect(parseNodeIp(input)).toEqual({ ok: false, reason: 'invalid' });
    },
  );

  it('fec0::/10 (just past link-local) is usable', () => {
    expect(parseNodeIp('fec0::1')).toEqual({ ok: true, ip: 'fec0::1', family: 6 });
  });
});

describe('canonicalIp and ipFamilyOf', () => {
  it.each([
    ['10.0.0.1', '10.0.0.1', 4],
    ['FD00:0::1', 'fd00::1', 6],
    ['127.0.0.1', '127.0.0.1', 4],
    ['x', undefined, undefined],
  ] as const)('%s', (input, ip, family) => {
    expect(canonicalIp(input)).toBe(ip);
    expect(ipFamilyOf(input)).toBe(family);
  });

  it('ipFamilyOf reads CIDRs too', () => {
    expect(ipFamilyOf('10.0.0.0/8')).toBe(4);
    expect(ipFamilyOf('fd00::/8')).toBe(6);
    expect(ipFamilyOf('AzureCloud')).toBeUndefined();
  });
});
