// Route names (DESIGN 2.2). The plain form is exactly what the Azure cloud-controller-manager writes in its
// dual-stack mode (always on in current releases): `<nodeName>____<CIDR with '.', ':' and '/' removed>`, so
// a cluster moving from it keeps every route untouched.
//
// Names that would not be valid Azure route names (over 80 characters, or a node name that is not a
// Kubernetes DNS subdomain) use the hashed form `<shortened node name>_<10 hex of sha256(node name)>____<key>`.
// Node names never contain '_', so the number of underscores tells the two forms apart and parsing is exact.
import { createHash } from 'node:crypto';
import { canonicalPrefix } from './cidr.ts';

export const ROUTE_NAME_SEPARATOR = '____';
export const MAX_ROUTE_NAME_LENGTH = 80;
const HASH_LENGTH = 10;

const PLAIN_NODE_PART = /^[a-z0-9][a-z0-9.-]*$/;
const ROUTE_NAME = /^([a-z0-9][a-z0-9.-]*)(?:_([0-9a-f]{10}))?____([0-9a-f]+)$/i;

/** The CIDR part of a route name: the canonical CIDR with '.', ':' and '/' removed (e.g. `10200024`). */
export function cidrKey(cidr: string): string {
  const canonical = canonicalPrefix(cidr) ?? cidr.toLowerCase();
  return canonical.replace(/[^0-9a-z]/g, '');
}

function nodeHash(nodeName: string): string {
  return createHash('sha256').update(nodeName, 'utf8').digest('hex').slice(0, HASH_LENGTH);
}

/** The name a new route for this node and pod CIDR gets. Always a valid Azure route name. */
export function formatRouteName(nodeName: string, cidr: string): string {
  return routeNameWithKey(nodeName, cidrKey(cidr));
}

/**
 * formatRouteName for a CIDR already in canonical form (as canonicalPrefix gives it), which it does not parse
 * again: desiredRoutes names thousands of routes from CIDRs it has just parsed.
 */
export function formatCanonicalRouteName(nodeName: string, canonicalCidr: string): string {
  return routeNameWithKey(nodeName, canonicalCidr.replace(/[^0-9a-z]/g, ''));
}

function routeNameWithKey(nodeName: string, key: string): string {
  const plain = `${nodeName}${ROUTE_NAME_SEPARATOR}${key}`;
  if (PLAIN_NODE_PART.test(nodeName) && plain.length <= MAX_ROUTE_NAME_LENGTH) return plain;

  const suffix = `_${nodeHash(nodeName)}${ROUTE_NAME_SEPARATOR}${key}`;
  const room = MAX_ROUTE_NAME_LENGTH - suffix.length;
  // The node part must start with a letter or digit and carry no '_'; a trailing '-' or '.' would be legal
  // before the '_', but trimming it keeps the shortened name tidy.
  const shortened = nodeName
    .toLowerCase()
    .replace(/[^a-z0-9.-]/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, room)
    .replace(/[.-]+$/, '');
  return `${shortened === '' ? 'node' : shortened}${suffix}`;
}

export interface ParsedRouteName {
  /** The node name, or its shortened form when `hashed`. */
  readonly nodePart: string;
  readonly cidrKey: string;
  readonly hashed: boolean;
}

/** Parses a name in our scheme; undefined for any other name. Matches the whole name, never a prefix. */
export function parseRouteName(name: string): ParsedRouteName | undefined {
  const match = ROUTE_NAME.exec(name);
  if (!match?.[1] || !match[3]) return undefined;
  return { nodePart: match[1], cidrKey: match[3], hashed: match[2] !== undefined };
}

export function isOurRouteName(name: string): boolean {
  return parseRouteName(name) !== undefined;
}

/** Exactly the name we would give this node's route for this CIDR (Azure names are case-insensitive). */
export function routeNameMatches(name: string, nodeName: string, cidr: string): boolean {
  return formatRouteName(nodeName, cidr).toLowerCase() === name.toLowerCase();
}
