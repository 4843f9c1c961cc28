// CIDR and IP helpers over ipaddr.js. Every string that leaves this module is canonical: IPv4 dotted decimal,
// IPv6 RFC 5952 (compressed, lower case), so the rest of the domain can compare prefixes and addresses as text.
import ipaddr from 'ipaddr.js';
import type { IpFamily } from './types.ts';

interface ParsedAddress {
  readonly family: IpFamily;
  readonly bytes: readonly number[];
}

interface ParsedCidr extends ParsedAddress {
  readonly prefixLength: number;
}

export type PodCidrResult =
  | { readonly ok: true; readonly cidr: string; readonly family: IpFamily; readonly prefixLength: number }
  | { readonly ok: false; readonly reason: 'InvalidPodCIDR' | 'HostBitsSet' };

export type ClusterCidrResult =
  | {
      readonly ok: true;
      readonly cidr: string;
      readonly family: IpFamily;
      readonly prefixLength: number;
      readonly hadHostBits: boolean;
    }
  | { readonly ok: false };

export type NodeIpResult =
  | { readonly ok: true; readonly ip: string; readonly family: IpFamily }
  | { readonly ok: false; readonly reason: 'invalid' }
  | { readonly ok: false; readonly reason: 'unusable'; readonly family: IpFamily };

// ipaddr.js accepts octal, hex and short IPv4 forms ("10.1", "0x0a.0.0.1") and IPv6 zone ids; we accept only
// what Go's net.ParseIP/ParseCIDR accept, since that is what the API server and kube-controller-manager validate.
const IPV4_STRICT = /^(?:0|[1-9]\d{0,2})(?:\.(?:0|[1-9]\d{0,2})){3}$/;
const IPV4_OCTETS = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;
const IPV6_CHARS = /^[0-9a-fA-F:.]+$/;
const IPV6_DOTTED_TAIL = /:((?:\d+\.){3}\d+)$/;
const PREFIX_LENGTH = /^(?:0|[1-9]\d{0,2})$/;

function parseAddress(text: string): ParsedAddress | undefined {
  try {
    if (text.includes(':')) {
      if (!IPV6_CHARS.test(text)) return undefined;
      if (text.includes('.')) {
        const tail = IPV6_DOTTED_TAIL.exec(text);
        if (!tail?.[1] || !IPV4_STRICT.test(tail[1])) return undefined;
        // ipaddr.js reads "::a.b.c.d" (the deprecated IPv4-compatible form) as IPv4-mapped, which is wrong.
        if (/^::(?:\d+\.){3}\d+$/.test(text)) return undefined;
      }
      return { family: 6, bytes: ipaddr.IPv6.parse(text).toByteArray() };
    }
    // Once the strict pattern has matched, its four captures are the octets: reading them directly is
    // several times faster than ipaddr.js's general parser (which would also accept octal and hex forms),
    // and the planner parses every route prefix of every table.
    const octets = IPV4_OCTETS.exec(text);
    if (!octets) return undefined;
    const bytes = [Number(octets[1]), Number(octets[2]), Number(octets[3]), Number(octets[4])];
    return bytes.every((byte) => byte <= 255) ? { family: 4, bytes } : undefined;
  } catch {
    return undefined;
  }
}

function parseCidr(text: string): ParsedCidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const lengthText = text.slice(slash + 1);
  if (!PREFIX_LENGTH.test(lengthText)) return undefined;
  const address = parseAddress(text.slice(0, slash));
  if (!address) return undefined;
  const prefixLength = Number(lengthText);
  if (prefixLength > address.bytes.length * 8) return undefined;
  return { ...address, prefixLength };
}

function maskBytes(bytes: readonly number[], prefixLength: number): number[] {
  const masked = bytes.slice();
  for (let i = 0; i < masked.length; i++) {
    const bitsInThisByte = Math.max(0, Math.min(8, prefixLength - i * 8));
    masked[i] = (masked[i] ?? 0) & ((0xff << (8 - bitsInThisByte)) & 0xff);
  }
  return masked;
}

function sameBytes(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function formatAddress(bytes: readonly number[]): string {
  // Dotted decimal needs no library; RFC 5952 compression is ipaddr.js's job.
  return bytes.length === 4
    ? `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`
    : ipaddr.fromByteArray([...bytes]).toString();
}

function formatCidr(bytes: readonly number[], prefixLength: number): string {
  return `${formatAddress(bytes)}/${prefixLength}`;
}

/** A CIDR parsed once, host bits masked off, for callers that test many prefixes. */
export interface Prefix {
  /** Canonical text. */
  readonly cidr: string;
  readonly family: IpFamily;
  readonly prefixLength: number;
  /** The network address, host bits cleared. */
  readonly bytes: readonly number[];
}

/** Parses any CIDR (host bits masked), or undefined when it is not one. Surrounding blanks are ignored. */
export function parsePrefix(s: string): Prefix | undefined {
  const parsed = parseCidr(s.trim());
  if (!parsed) return undefined;
  const bytes = maskBytes(parsed.bytes, parsed.prefixLength);
  return {
    cidr: formatCidr(bytes, parsed.prefixLength),
    family: parsed.family,
    prefixLength: parsed.prefixLength,
    bytes,
  };
}

/** A Node's pod CIDR, strictly: host bits set is refused, as the route would not match what the node owns. */
export function parsePodCidr(s: string): PodCidrResult {
  const parsed = parseCidr(s);
  if (!parsed) return { ok: false, reason: 'InvalidPodCIDR' };
  const network = maskBytes(parsed.bytes, parsed.prefixLength);
  if (!sameBytes(network, parsed.bytes)) return { ok: false, reason: 'HostBitsSet' };
  return {
    ok: true,
    cidr: formatCidr(network, parsed.prefixLength),
    family: parsed.family,
    prefixLength: parsed.prefixLength,
  };
}

/** A --cluster-cidr value. Host bits are masked off, as kube-controller-manager does (`ace:cab:deca::/8` is `a00::/8`). */
export function normalizeClusterCidr(s: string): ClusterCidrResult {
  const parsed = parseCidr(s.trim());
  if (!parsed) return { ok: false };
  const network = maskBytes(parsed.bytes, parsed.prefixLength);
  return {
    ok: true,
    cidr: formatCidr(network, parsed.prefixLength),
    family: parsed.family,
    prefixLength: parsed.prefixLength,
    hadHostBits: !sameBytes(network, parsed.bytes),
  };
}

/**
 * An address prefix read from Azure, in canonical form with host bits masked; undefined when it is not a CIDR
 * at all (service tags such as `AzureCloud`, garbage), so that callers can treat such routes as never ours.
 */
export function canonicalPrefix(s: string): string | undefined {
  return parsePrefix(s)?.cidr;
}

/** Canonical text of any syntactically valid IP address (usable or not); undefined otherwise. */
export function canonicalIp(s: string): string | undefined {
  const parsed = parseAddress(s.trim());
  return parsed ? formatAddress(parsed.bytes) : undefined;
}

/** The IP family of a canonical CIDR or address, or undefined when it is neither. */
export function ipFamilyOf(canonicalCidrOrIp: string): IpFamily | undefined {
  const text = canonicalCidrOrIp.trim();
  return (text.includes('/') ? parseCidr(text) : parseAddress(text))?.family;
}

/**
 * Builds a containment test against a fixed set of outer CIDRs, parsing them once. The returned function
 * answers whether `inner` lies entirely inside one of them (equal counts as inside; never across families).
 */
export function prefixContainmentTest(outers: readonly string[]): (inner: Prefix) => boolean {
  const parsedOuters = outers.flatMap((outer) => parsePrefix(outer) ?? []);
  return (inner) => parsedOuters.some((outer) => prefixContains(outer, inner));
}

/** Whether `inner` lies entirely inside `outer` (equal counts as inside). False across IP families. */
export function prefixContains(outer: Prefix, inner: Prefix): boolean {
  return (
    outer.family === inner.family &&
    inner.prefixLength >= outer.prefixLength &&
    sameBytes(maskBytes(inner.bytes, outer.prefixLength), outer.bytes)
  );
}

/**
 * The network address of a prefix as one integer (32 or 128 bits), so callers can shift it to any shorter
 * prefix length and use the result as a map key. Two prefixes overlap iff one, shifted to the other's length,
 * equals the other.
 */
export function prefixValue(prefix: Prefix): bigint {
  let value = 0n;
  for (const byte of prefix.bytes) value = (value << 8n) | BigInt(byte);
  return value;
}

/** As prefixContainmentTest, for CIDR text; an inner value that is not a CIDR is inside nothing. */
export function cidrContainmentTest(outers: readonly string[]): (inner: string) => boolean {
  const inside = prefixContainmentTest(outers);
  return (inner) => {
    const parsed = parsePrefix(inner);
    return parsed !== undefined && inside(parsed);
  };
}

/** Whether `inner` lies entirely inside `outer` (equal counts as inside). False across IP families. */
export function cidrContains(outer: string, inner: string): boolean {
  return cidrContainmentTest([outer])(inner);
}

function isUnusable(address: ParsedAddress): boolean {
  const b = address.bytes;
  if (address.family === 4) {
    const [b0 = 0, b1 = 0] = b;
    return (
      b0 === 0 || // 0.0.0.0/8: unspecified, "this network"
      b0 === 127 || // loopback
      (b0 === 169 && b1 === 254) || // link-local
      (b0 >= 224 && b0 <= 239) || // multicast
      b.every((byte) => byte === 255) // limited broadcast
    );
  }
  const [b0 = 0, b1 = 0] = b;
  const allZeroUpTo15 = b.slice(0, 15).every((byte) => byte === 0);
  return (
    (allZeroUpTo15 && (b[15] === 0 || b[15] === 1)) || // :: and ::1
    (b0 === 0xfe && (b1 & 0xc0) === 0x80) || // fe80::/10 link-local
    b0 === 0xff // ff00::/8 multicast
  );
}

/**
 * A Node's InternalIP, in canonical text.
 *
 * An IPv4-mapped IPv6 address (`::ffff:10.240.0.4`) is read as the IPv4 address it carries, as Go's net
 * package does (upstream counts it as IPv4 too): its family is 4 and its text is dotted decimal, which is
 * also the only form Azure accepts as a next hop for an IPv4 route.
 */
export function parseNodeIp(s: string): NodeIpResult {
  const parsed = parseAddress(s.trim());
  if (!parsed) return { ok: false, reason: 'invalid' };
  let address = parsed;
  if (parsed.family === 6 && parsed.bytes.slice(0, 10).every((byte) => byte === 0)) {
    if (parsed.bytes[10] === 0xff && parsed.bytes[11] === 0xff) {
      address = { family: 4, bytes: parsed.bytes.slice(12) };
    }
  }
  if (isUnusable(address)) return { ok: false, reason: 'unusable', family: address.family };
  return { ok: true, ip: formatAddress(address.bytes), family: address.family };
}
