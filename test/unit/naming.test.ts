import { describe, expect, it } from 'vitest';
import {
  MAX_ROUTE_NAME_LENGTH,
  cidrKey,
  formatRouteName,
  isOurRouteName,
  parseRouteName,
  routeNameMatches,
} from '../../src/domain/naming.ts';

// Azure: 1-80 characters of [A-Za-z0-9_.-], starting with a letter or digit, ending with a letter, digit or '_'.
const AZURE_ROUTE_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$/;

const long253 = `${'a'.repeat(61)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}`;

describe('formatRouteName', () => {
  // The first rows are byte-for-byte what cloud-provider-azure's mapNodeNameToRouteName writes.
  it.each([
    ['worker-0', '10.200.0.0/24', 'worker-0____102000024'],
    ['worker-1', '10.200.1.0/24', 'worker-1____102001024'],
    ['aks-nodepool1-12345678-vmss000000', '10.244.0.0/24', 'aks-nodepool1-12345678-vmss000000____102440024'],
    ['node-3', 'a00:100::/24', 'node-3____a0010024'],
    ['worker-0', 'fd00:10:244:1::/64', 'worker-0____fd0010244164'],
    ['node.example.com', '10.0.0.0/16', 'node.example.com____1000016'],
    // Non-canonical CIDR text is canonicalised first, so the same route always gets the same name.
    ['worker-0', 'FD00:10:244:1:0::/64', 'worker-0____fd0010244164'],
  ])('%s + %s -> %s', (node, cidr, expected) => {
    const name = formatRouteName(node, cidr);
    expect(name).toBe(expected);
    expect(name).toMatch(AZURE_ROUTE_NAME);
  });

  it('keeps a name that is exactly 80 characters in the plain form', () => {
    const node = 'n'.repeat(80 - '____102000024'.length);
    const name = formatRouteName(node, '10.200.0.0/24');
    expect(name).toBe(`${node}____102000024`);
    expect(name).toHaveLength(80);
    expect(parseRouteName(name)).toEqual({ nodePart: node, cidrKey: '102000024', hashed: false });
  });

  it.each([
    ['a 253-character node name, IPv4', long253, '10.200.0.0/24'],
    [
      'a 253-character node name, IPv6 with a full-length key',
      long253,
      'fd12:3456:789a:bcde:f012:3456:789a:bc00/120',
    ],
    ['an 81-character name', 'n'.repeat(81 - '____102000024'.length), '10.200.0.0/24'],
  ])('shortens and hashes %s', (_label, node, cidr) => {
    const name = formatRouteName(node, cidr);
    expect(name.length).toBeLessThanOrEqual(MAX_ROUTE_NAME_LENGTH);
    expect(name).toMatch(AZURE_ROUTE_NAME);
    const parsed = parseRouteName(name);
    expect(parsed?.hashed).toBe(true);
    expect(parsed?.cidrKey).toBe(cidrKey(cidr));
    expect(node.startsWith(parsed?.nodePart ?? '!')).toBe(true);
    expect(formatRouteName(node, cidr)).toBe(name);
  });

  it('gives two long names that share a 200-character prefix different routes', () => {
    const prefix = 'x'.repeat(200);
    const a = formatRouteName(`${prefix}-a`, '10.200.0.0/24');
    const b = formatRouteName(`${prefix}-b`, '10.200.0.0/24');
    expect(a).not.toBe(b);
    expect(parseRouteName(a)?.nodePart).toBe(parseRouteName(b)?.nodePart);
    expect(routeNameMatches(a, `${prefix}-b`, '10.200.0.0/24')).toBe(false);
  });

  it.each([
    ['a cut that lands on a dash', `${'a'.repeat(52)}-${'b'.repeat(100)}`],
    ['a cut that lands on a dot', `${'a'.repeat(52)}.${'b'.repeat(100)}`],
    ['a run of separators at the cut', `${'a'.repeat(50)}-.-.-.-.${'b'.repeat(100)}`],
  ])('never leaves a separator before the hash: %s', (_label, node) => {
    const name = formatRouteName(node, '10.200.0.0/24');
    expect(name).toMatch(AZURE_ROUTE_NAME);
    expect(name).toMatch(/[a-z0-9]_[0-9a-f]{10}____102000024$/);
  });

  it.each([
    ['upper case', 'Worker-0'],
    ['an underscore', 'worker_0'],
    ['a leading dash', '-worker'],
    ['spaces and symbols', 'my node/0'],
    ['nothing usable', '___'],
    ['an empty name', ''],
  ])('hashes a node name that is not a DNS subdomain (%s) into a valid, parseable name', (_label, node) => {
    const name = formatRouteName(node, '10.200.0.0/24');
    expect(name).toMatch(AZURE_ROUTE_NAME);
    expect(parseRouteName(name)?.hashed).toBe(true);
    expect(name).not.toBe(
      formatRouteName(node.toLowerCase() === node ? `${node}x` : node.toLowerCase(), '10.200.0.0/24'),
    );
  });
});

describe('parseRouteName', () => {
  it.each([
    ['worker-0____102000024', { nodePart: 'worker-0', cidrKey: '102000024', hashed: false }],
    ['node-3____a0010024', { nodePart: 'node-3', cidrKey: 'a0010024', hashed: false }],
    ['WORKER-0____102000024', { nodePart: 'WORKER-0', cidrKey: '102000024', hashed: false }],
    ['abc_0123456789____102000024', { nodePart: 'abc', cidrKey: '102000024', hashed: true }],
  ])('%s', (name, expected) => {
    expect(parseRouteName(name)).toEqual(expected);
    expect(isOurRouteName(name)).toBe(true);
  });

  it.each([
    'kubernetes-route-10-200-0-0-24',
    'worker-0',
    'worker-0___102000024',
    'worker-0_____102000024',
    'worker-0____',
    '____102000024',
    'worker-0____10.200.0.0',
    'worker-0____102000024____1',
    'worker-0____102000024-extra',
    'worker_0____102000024',
    'abc_012345678____102000024',
    'abc_0123456789a____102000024',
    '-worker____102000024',
    'default-route',
    '',
  ])('rejects %j', (name) => {
    expect(parseRouteName(name)).toBeUndefined();
    expect(isOurRouteName(name)).toBe(false);
  });

  it.each([
    ['worker-0', '10.200.0.0/24'],
    ['node-3', 'a00:100::/24'],
    ['ip-10-0-0-1.eu-west-1.compute.internal', 'fd00:10:244:ff::/64'],
    [long253, '10.200.0.0/24'],
    [long253, 'fd00:10:244:ff::/64'],
  ])('round-trips %s + %s', (node, cidr) => {
    const parsed = parseRouteName(formatRouteName(node, cidr));
    expect(parsed).toBeDefined();
    expect(parsed?.cidrKey).toBe(cidrKey(cidr));
    if (parsed?.hashed) expect(node.startsWith(parsed.nodePart)).toBe(true);
    else expect(parsed?.nodePart).toBe(node);
  });
});

describe('routeNameMatches', () => {
  it.each([
    ['node1____102000024', 'node1', '10.200.0.0/24', true],
    ['NODE1____102000024', 'node1', '10.200.0.0/24', true],
    // The cloud-controller-manager matches node1 against node10's routes by prefix; we never do.
    ['node10____102000024', 'node1', '10.200.0.0/24', false],
    ['node1____102000024', 'node10', '10.200.0.0/24', false],
    ['node1____1020000240', 'node1', '10.200.0.0/24', false],
    ['node1____102001024', 'node1', '10.200.0.0/24', false],
    ['node1', 'node1', '10.200.0.0/24', false],
    ['kubernetes-route-10-200-0-0-24', 'node1', '10.200.0.0/24', false],
  ])('%s vs %s %s: %s', (name, node, cidr, expected) => {
    expect(routeNameMatches(name, node, cidr)).toBe(expected);
  });

  it('matches a hashed name only for the exact long node name', () => {
    const node = `${'a'.repeat(100)}.example.com`;
    const name = formatRouteName(node, '10.200.0.0/24');
    expect(routeNameMatches(name, node, '10.200.0.0/24')).toBe(true);
    expect(routeNameMatches(name.toUpperCase(), node, '10.200.0.0/24')).toBe(true);
    expect(routeNameMatches(name, `${node}x`, '10.200.0.0/24')).toBe(false);
    expect(routeNameMatches(name, node.slice(0, -1), '10.200.0.0/24')).toBe(false);
  });
});
