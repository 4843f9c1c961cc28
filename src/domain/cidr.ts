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
const IPV6_CHARS = /^[0-9a-fA-F:.]+$/;
const IPV6_DOTTED_TAIL = /:((?:\d+\.){3}\d+)$/;

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
    const bytes = parseDottedDecimal(text);
    return bytes ? { family: 4, bytes } : undefined;
  } catch {
    return undefined;
  }
}

const ZERO = 0x30;
const NINE = 0x39;

/**
 * `text` from `from` to `to` as a number when it is 0 or one to three digits with no leading zero (Go's rule
 * for IPv4 octets and prefix lengths), else -1. Read a character at a time: the planner parses every pod CIDR,
 * InternalIP, route prefix and next hop, and a regex match would allocate an array and a string per part.
 */
function readDecimal(text: string, from: number, to: number): number {
  const digits = to - from;
  if (digits < 1 || digits > 3 || (digits > 1 && text.charCodeAt(from) === ZERO)) return -1;
  let value = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c < ZERO || c > NINE) return -1;
    value = value * 10 + (c - ZERO);
  }
  return value;
}

/** Strict dotted decimal, as IPV4_STRICT: four octets of 0-255 (ipaddr.js would also take octal and hex). */
function parseDottedDecimal(text: string): number[] | undefined {
  const dot1 = text.indexOf('.');
  const dot2 = dot1 < 0 ? -1 : text.indexOf('.', dot1 + 1);
  const dot3 = dot2 < 0 ? -1 : text.indexOf('.', dot2 + 1);
  if (dot3 < 0) return undefined;
  // A fifth part puts a '.' inside the fourth, which readDecimal refuses.
  const bytes = [
    readDecimal(text, 0, dot1),
    readDecimal(text, dot1 + 1, dot2),
    readDecimal(text, dot2 + 1, dot3),
    readDecimal(text, dot3 + 1, text.length),
  ];
  for (let i = 0; i < 4; i++) if (bytes[i]! < 0 || bytes[i]! > 255) return undefined;
  return bytes;
}

function parseCidr(text: string): ParsedCidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const prefixLength = readDecimal(text, slash + 1, text.length);
  if (prefixLength < 0) return undefined;
  const address = parseAddress(text.slice(0, slash));
  if (!address) return undefined;
  if (prefixLength > address.bytes.length * 8) return undefined;
  return { family: address.family, bytes: address.bytes, prefixLength };
}

/** Whether any bit past `prefixLength` is set. Allocates nothing, unlike comparing with maskBytes. */
function hasHostBits(bytes: readonly number[], prefixLength: number): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const bitsInThisByte = prefixLength - i * 8;
    if (bitsInThisByte >= 8) continue;
    const hostMask = bitsInThisByte <= 0 ? 0xff : 0xff >> bitsInThisByte;
    if (((bytes[i] ?? 0) & hostMask) !== 0) return true;
  }
  return false;
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

/**
 * The canonical text of what `text` parsed to (an address, or a CIDR whose host bits are clear). The strict
 * IPv4 syntax (no leading zeros, in the octets or the length) admits one spelling, so IPv4 text is canonical
 * already and formatting it again would only allocate; IPv6 has many spellings and is formatted.
 */
function canonicalText(parsed: ParsedAddress, text: string, prefixLength?: number): string {
  if (parsed.family === 4) return text;
  return prefixLength === undefined ? formatAddress(parsed.bytes) : formatCidr(parsed.bytes, prefixLength);
}

/** The Prefix of a CIDR whose host bits are clear, from its text as parsed. */
function networkPrefix(parsed: ParsedCidr, text: string): Prefix {
  return {
    cidr: canonicalText(parsed, text, parsed.prefixLength),
    family: parsed.family,
    prefixLength: parsed.prefixLength,
    bytes: parsed.bytes,
  };
}

/** Parses any CIDR (host bits masked), or undefined when it is not one. Surrounding blanks are ignored. */
export function parsePrefix(s: string): Prefix | undefined {
  const text = s.trim();
  const parsed = parseCidr(text);
  if (!parsed) return undefined;
  if (!hasHostBits(parsed.bytes, parsed.prefixLength)) return networkPrefix(parsed, text);
  const bytes = maskBytes(parsed.bytes, parsed.prefixLength);
  return {
    cidr: formatCidr(bytes, parsed.prefixLength),
    family: parsed.family,
    prefixLength: parsed.prefixLength,
    bytes,
  };
}

export type PodPrefixResult =
  | { readonly ok: true; readonly prefix: Prefix }
  | { readonly ok: false; readonly reason: 'InvalidPodCIDR' | 'HostBitsSet' };

/** As parsePodCidr, with the parsed Prefix, for callers that go on to compare it (parsed once, not twice). */
export function parsePodPrefix(s: string): PodPrefixResult {
  const parsed = parseCidr(s);
  if (!parsed) return { ok: false, reason: 'InvalidPodCIDR' };
  if (hasHostBits(parsed.bytes, parsed.prefixLength)) return { ok: false, reason: 'HostBitsSet' };
  return { ok: true, prefix: networkPrefix(parsed, s) };
}

/** A Node's pod CIDR, strictly: host bits set is refused, as the route would not match what the node owns. */
export function parsePodCidr(s: string): PodCidrResult {
  const parsed = parsePodPrefix(s);
  if (!parsed.ok) return { ok: false, reason: parsed.reason };
  const { cidr, family, prefixLength } = parsed.prefix;
  return { ok: true, cidr, family, prefixLength };
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
  const text = s.trim();
  const parsed = parseAddress(text);
  return parsed ? canonicalText(parsed, text) : undefined;
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
  if (outer.family !== inner.family || inner.prefixLength < outer.prefixLength) return false;
  if (inner.bytes.length !== outer.bytes.length) return false;
  if (outer.family === 4) {
    // As one 32-bit number: the ownership test and the claim checks ask this of every route and pod CIDR.
    const mask = outer.prefixLength === 0 ? 0 : (~0 << (32 - outer.prefixLength)) >>> 0;
    return (ipv4Value(inner.bytes) & mask) >>> 0 === ipv4Value(outer.bytes);
  }
  // inner's bytes masked to outer's length must equal outer's bytes; masked in place, allocating nothing.
  for (let i = 0; i < outer.bytes.length; i++) {
    const bitsInThisByte = Math.max(0, Math.min(8, outer.prefixLength - i * 8));
    const mask = (0xff << (8 - bitsInThisByte)) & 0xff;
    if (((inner.bytes[i] ?? 0) & mask) !== outer.bytes[i]) return false;
  }
  return true;
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

/**
 * A map key for the network of `prefix` cut to its first `length` bits (at most its prefix length), from
 * `value` = networkValue(prefix). Two prefixes overlap iff the longer one's key at the shorter one's length
 * equals the shorter one's key at its own. IPv4 keys are numbers (length * 2^32 + the top `length` bits), so a
 * sweep over every length of thousands of prefixes does no bigint arithmetic and builds no strings; IPv6
 * keys are text. A number never equals a string, so the two families never share a key.
 */
export function networkKey(value: number | bigint, length: number): number | string {
  if (typeof value === 'number') return length * 0x1_0000_0000 + (length === 0 ? 0 : value >>> (32 - length));
  return `${length}/${(value >> BigInt(128 - length)).toString(16)}`;
}

/** The network address as networkKey wants it: an unsigned 32-bit number for IPv4, prefixValue for IPv6. */
export function networkValue(prefix: Prefix): number | bigint {
  return prefix.family === 6 ? prefixValue(prefix) : ipv4Value(prefix.bytes);
}

/** Four bytes as one unsigned 32-bit number. */
function ipv4Value(b: readonly number[]): number {
  return (((b[0] ?? 0) << 24) | ((b[1] ?? 0) << 16) | ((b[2] ?? 0) << 8) | (b[3] ?? 0)) >>> 0;
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
    // Indexed, not destructured: destructuring an array runs its iterator.
    const b0 = b[0] ?? 0;
    const b1 = b[1] ?? 0;
    return (
      b0 === 0 || // 0.0.0.0/8: unspecified, "this network"
      b0 === 127 || // loopback
      (b0 === 169 && b1 === 254) || // link-local
      (b0 >= 224 && b0 <= 239) || // multicast
      (b0 === 255 && b1 === 255 && b[2] === 255 && b[3] === 255) // limited broadcast
    );
  }
  const b0 = b[0] ?? 0;
  const b1 = b[1] ?? 0;
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
  const text = s.trim();
  const parsed = parseAddress(text);
  if (!parsed) return { ok: false, reason: 'invalid' };
  let address = parsed;
  if (parsed.family === 6 && parsed.bytes.slice(0, 10).every((byte) => byte === 0)) {
    if (parsed.bytes[10] === 0xff && parsed.bytes[11] === 0xff) {
      address = { family: 4, bytes: parsed.bytes.slice(12) };
    }
  }
  if (isUnusable(address)) return { ok: false, reason: 'unusable', family: address.family };
  const ip = address === parsed ? canonicalText(parsed, text) : formatAddress(address.bytes);
  return { ok: true, ip, family: address.family };
}
