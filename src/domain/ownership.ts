// Which routes are ours (DESIGN 2.1). A route that is not ours is never changed or deleted.
import { parsePrefix, prefixContainmentTest, type Prefix } from './cidr.ts';
import type { PlannerConfig, Route } from './types.ts';

/**
 * Builds the ownership test for one configuration, parsing the cluster CIDRs once: a route is ours iff its
 * prefix lies inside one of the cluster CIDRs, whatever its name or next-hop type (blackhole `None` routes
 * included). This is upstream's `isResponsibleForRoute`.
 *
 * The name never makes a route ours: another cluster's cloud-controller-manager writes names of exactly our
 * scheme into a shared table, and taking those as ours deletes its routes. So with no cluster CIDR at all
 * (config refuses that, but a hand-built config may not), nothing is ours. A route whose prefix is not a CIDR
 * (a service tag, garbage) is never ours.
 */
export function ownershipTest(config: PlannerConfig): (route: Route) => boolean {
  const ownsPrefix = prefixOwnershipTest(config);
  return (route) => ownsPrefix(parsePrefix(route.addressPrefix));
}

/** The same test, for callers that have already parsed the route's prefix (undefined: not a CIDR). */
export function prefixOwnershipTest(config: PlannerConfig): (prefix: Prefix | undefined) => boolean {
  const insideCluster = prefixContainmentTest(config.clusterCIDRs);
  return (prefix) => prefix !== undefined && insideCluster(prefix);
}

export function isOurs(route: Route, config: PlannerConfig): boolean {
  return ownershipTest(config)(route);
}
