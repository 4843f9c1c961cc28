// Route table and route bodies: validation and the shapes of RouteTableGet.json / RouteTableRouteCreate.json.
import { randomUUID } from 'node:crypto';
import { ArmError, badRequest } from './errors.ts';
import { parseCidr, parseIp } from './ip.ts';
import type { JsonObject, SimpleRoute } from './types.ts';

export const TABLE_TYPE = 'Microsoft.Network/routeTables';
export const ROUTE_TYPE = 'Microsoft.Network/routeTables/routes';

/** The next hop types of api-version 2026-01-01, in Azure's casing. */
const NEXT_HOP_TYPES = [
  'VirtualNetworkGateway',
  'VnetLocal',
  'Internet',
  'VirtualAppliance',
  'None',
] as const;

// 1-80 characters from [A-Za-z0-9_.-], starting with a letter or digit, ending with a letter, digit or '_'.
const NAME_PATTERN = /^(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])$/;
// Service tags such as "AzureCloud" or "Storage.WestUS" are accepted in place of a CIDR.
const SERVICE_TAG_PATTERN = /^[A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z0-9]+)*$/;

export function newEtag(): string {
  return `W/"${randomUUID()}"`;
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function normalizeLocation(location: string): string {
  return location.replace(/\s+/g, '').toLowerCase();
}

export function tableId(subscriptionId: string, resourceGroup: string, name: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/${TABLE_TYPE}/${name}`;
}

export function validateName(name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw badRequest(
      'InvalidResourceName',
      `Resource name ${name} is invalid. The name can be up to 80 characters long. It must begin with a letter ` +
        "or a digit, and it must end with a letter, a digit or '_'. The name may contain letters, digits, '.', '-' and '_'.",
    );
  }
}

/** Azure's refusal of a next hop it will not route to; also the default of the refuseRoute fault. */
export function invalidNextHop(routeId: string, nextHopIpAddress: string): ArmError {
  return badRequest(
    'InvalidNextHopIpAddress',
    `The next hop IP address '${nextHopIpAddress}' of resource ${routeId} is not valid for the next hop type ` +
      "'VirtualAppliance'.",
  );
}

function invalidFormat(detail: string): ArmError {
  return badRequest('InvalidRequestFormat', `Cannot parse the request. ${detail}`);
}

/** What a route means, for duplicate detection and for deciding whether its etag changes. */
interface RouteFacts {
  readonly name: string;
  readonly id: string;
  /** The key duplicate prefixes are found by. */
  readonly prefixKey: string;
  readonly body: JsonObject;
}

/**
 * Validates one route as given in a request and returns its stored body (without etag).
 * `input` is `{name?, properties: {...}}`; unknown fields are preserved.
 */
function buildRoute(input: unknown, name: string, tableResourceId: string): RouteFacts {
  if (!isObject(input)) throw invalidFormat(`Route ${name} must be a JSON object.`);
  validateName(name);
  const id = `${tableResourceId}/routes/${name}`;
  const props = input['properties'];
  if (props !== undefined && !isObject(props))
    throw invalidFormat(`The properties of route ${name} must be an object.`);
  const given: JsonObject = props ?? {};

  // Codes and wording follow Microsoft.Network's own errors, which name the resource by its full id.
  const addressPrefix = given['addressPrefix'];
  if (typeof addressPrefix !== 'string' || addressPrefix === '') {
    throw badRequest(
      'AddressPrefixStringCannotBeNullOrEmpty',
      `IP Address Prefix cannot be null or empty in resource ${id}.`,
    );
  }
  const malformed = () =>
    badRequest(
      'InvalidAddressPrefixFormat',
      `Address prefix ${addressPrefix} of resource ${id} is not formatted correctly. ` +
        'It should follow CIDR notation, for example 10.0.0.0/24.',
    );
  let prefixKey: string;
  if (/[/:]/.test(addressPrefix) || /^[0-9.]+$/.test(addressPrefix)) {
    const cidr = parseCidr(addressPrefix);
    if (!cidr) throw malformed();
    if (cidr.hostBitsSet) {
      throw badRequest(
        'InvalidCIDRNotation',
        `The address prefix ${addressPrefix} in resource ${id} has an invalid CIDR notation. ` +
          `For the given prefix length, the address prefix should be ${cidr.canonical}.`,
      );
    }
    prefixKey = cidr.canonical;
  } else if (SERVICE_TAG_PATTERN.test(addressPrefix)) {
    prefixKey = `tag:${addressPrefix.toLowerCase()}`;
  } else {
    throw malformed();
  }

  const nextHopTypeGiven = given['nextHopType'];
  const nextHopType =
    typeof nextHopTypeGiven === 'string'
      ? NEXT_HOP_TYPES.find((t) => t.toLowerCase() === nextHopTypeGiven.toLowerCase())
      : undefined;
  if (!nextHopType) {
    throw invalidFormat(
      `Route ${id} has an invalid NextHopType ${JSON.stringify(nextHopTypeGiven)}. ` +
        `Allowed values: ${NEXT_HOP_TYPES.join(', ')}.`,
    );
  }

  const nextHopGiven = given['nextHopIpAddress'];
  if (nextHopGiven !== undefined && nextHopGiven !== null && typeof nextHopGiven !== 'string') {
    throw invalidFormat(`The NextHopIpAddress of route ${id} must be a string.`);
  }
  const nextHopIpAddress = typeof nextHopGiven === 'string' && nextHopGiven !== '' ? nextHopGiven : undefined;
  if (nextHopType === 'VirtualAppliance') {
    if (nextHopIpAddress === undefined) {
      throw badRequest(
        'MissingNextHopIpAddress',
        `NextHopIpAddress cannot be null or empty in resource ${id} when NextHopType is VirtualAppliance.`,
      );
    }
    if (!parseIp(nextHopIpAddress)) {
      throw invalidNextHop(id, nextHopIpAddress);
    }
  } else if (nextHopIpAddress !== undefined) {
    throw badRequest(
      'NextHopIpAddressNotAllowed',
      `Route ${id} specifies NextHopIpAddress ${nextHopIpAddress} with NextHopType ${nextHopType}. ` +
        'NextHopIpAddress is only allowed when NextHopType is VirtualAppliance.',
    );
  }

  const extraProps: JsonObject = {};
  for (const [key, value] of Object.entries(given)) {
    if (
      ['addressPrefix', 'nextHopType', 'nextHopIpAddress', 'provisioningState', 'hasBgpOverride'].includes(
        key,
      )
    ) {
      continue;
    }
    extraProps[key] = value;
  }
  const extraTop: JsonObject = {};
  for (const [key, value] of Object.entries(input)) {
    if (!['name', 'id', 'etag', 'type', 'properties'].includes(key)) extraTop[key] = value;
  }
  const body: JsonObject = {
    name,
    id,
    type: ROUTE_TYPE,
    ...extraTop,
    properties: {
      provisioningState: 'Succeeded',
      addressPrefix,
      nextHopType,
      ...(nextHopIpAddress === undefined ? {} : { nextHopIpAddress }),
      hasBgpOverride: false,
      ...extraProps,
    },
  };
  return { name, id, prefixKey, body };
}

/** The content of a route that matters for its etag. */
function routeContent(body: JsonObject): string {
  const { etag: _etag, properties, ...rest } = body;
  const { provisioningState: _state, ...props } = isObject(properties) ? properties : {};
  return JSON.stringify({ ...rest, properties: props });
}

function routesOf(table: JsonObject | undefined): JsonObject[] {
  const props = table?.['properties'];
  const routes = isObject(props) ? props['routes'] : undefined;
  return Array.isArray(routes) ? routes.filter(isObject) : [];
}

/**
 * Checks a table's routes as a whole (unique names, unique prefixes, the limit) and gives each its etag:
 * a route whose content is unchanged from `prior` keeps its etag, every other gets a new one.
 */
function finishRoutes(
  routes: readonly RouteFacts[],
  prior: JsonObject | undefined,
  routeLimit: number,
  tableName: string,
): JsonObject[] {
  const byName = new Map<string, RouteFacts>();
  const byPrefix = new Map<string, RouteFacts>();
  for (const route of routes) {
    const nameKey = route.name.toLowerCase();
    const sameName = byName.get(nameKey);
    if (sameName) {
      throw badRequest(
        'DuplicateResourceName',
        `Route table ${tableName} has two routes with the name ${route.name}. Route names must be unique in a route table.`,
      );
    }
    byName.set(nameKey, route);
    const samePrefix = byPrefix.get(route.prefixKey);
    if (samePrefix) {
      throw badRequest(
        'RouteConflict',
        `Route: ${route.id} conflicts with Route: ${samePrefix.id}. Routes cannot have the same AddressPrefix.`,
      );
    }
    byPrefix.set(route.prefixKey, route);
  }
  if (routes.length > routeLimit) {
    throw badRequest(
      'RouteTableRoutesLimitReached',
      `Route table ${tableName} would have ${routes.length} routes, which exceeds the limit of ${routeLimit} routes per route table.`,
    );
  }
  const priorByName = new Map(routesOf(prior).map((r) => [String(r['name']).toLowerCase(), r]));
  return routes.map((route) => {
    const old = priorByName.get(route.name.toLowerCase());
    const etag =
      old && typeof old['etag'] === 'string' && routeContent(old) === routeContent(route.body)
        ? old['etag']
        : newEtag();
    return { name: route.body['name'], id: route.body['id'], etag, ...route.body };
  });
}

export interface TableIdentity {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly name: string;
}

export interface BuildTableArgs {
  readonly identity: TableIdentity;
  /** The table as stored now, if it exists. */
  readonly prior: JsonObject | undefined;
  readonly input: JsonObject;
  readonly defaultLocation: string;
  readonly routeLimit: number;
}

/** Validates a PUT body and returns the table it stores (new etag, provisioningState Succeeded). */
export function buildTable(args: BuildTableArgs): JsonObject {
  const { identity, prior, input, routeLimit } = args;
  const id = tableId(identity.subscriptionId, identity.resourceGroup, identity.name);

  const locationGiven = input['location'];
  if (locationGiven !== undefined && typeof locationGiven !== 'string') {
    throw invalidFormat('The location must be a string.');
  }
  const priorLocation = typeof prior?.['location'] === 'string' ? prior['location'] : undefined;
  let location: string;
  if (locationGiven === undefined || locationGiven === '') {
    if (priorLocation === undefined) {
      throw badRequest('LocationRequired', 'The location property is required for this definition.');
    }
    location = priorLocation;
  } else {
    location = normalizeLocation(locationGiven);
    if (priorLocation !== undefined && priorLocation !== location) {
      throw badRequest(
        'InvalidResourceLocation',
        `The resource '${identity.name}' already exists in location '${priorLocation}' in resource group ` +
          `'${identity.resourceGroup}'. A resource with the same name cannot be created in location '${location}'. ` +
          'Please select a new resource name.',
      );
    }
  }

  const tags = input['tags'];
  if (tags !== undefined && tags !== null && !isValidTags(tags)) {
    throw invalidFormat('Tags must be an object of string values.');
  }

  const propsGiven = input['properties'];
  if (propsGiven !== undefined && propsGiven !== null && !isObject(propsGiven)) {
    throw invalidFormat('The properties must be an object.');
  }
  const props: JsonObject = isObject(propsGiven) ? propsGiven : {};
  const bgp = props['disableBgpRoutePropagation'];
  if (bgp !== undefined && bgp !== null && typeof bgp !== 'boolean') {
    throw invalidFormat('disableBgpRoutePropagation must be a boolean.');
  }
  const routesGiven = props['routes'];
  if (routesGiven !== undefined && routesGiven !== null && !Array.isArray(routesGiven)) {
    throw invalidFormat('The routes must be an array.');
  }
  const routeFacts = ((routesGiven as unknown[] | null | undefined) ?? []).map((route, index) => {
    const name = isObject(route) ? route['name'] : undefined;
    if (typeof name !== 'string' || name === '') {
      throw badRequest('InvalidResourceName', `Route ${index} of route table ${identity.name} has no name.`);
    }
    return buildRoute(route, name, id);
  });
  const routes = finishRoutes(routeFacts, prior, routeLimit, identity.name);

  const priorProps = isObject(prior?.['properties']) ? (prior['properties'] as JsonObject) : {};
  const extraProps: JsonObject = {};
  for (const [key, value] of Object.entries(props)) {
    if (
      !['provisioningState', 'resourceGuid', 'disableBgpRoutePropagation', 'routes', 'subnets'].includes(key)
    ) {
      extraProps[key] = value;
    }
  }
  const extraTop: JsonObject = {};
  for (const [key, value] of Object.entries(input)) {
    if (!['name', 'id', 'etag', 'type', 'location', 'tags', 'properties'].includes(key))
      extraTop[key] = value;
  }
  return {
    name: identity.name,
    id,
    etag: newEtag(),
    type: TABLE_TYPE,
    location,
    ...(isValidTags(tags) ? { tags: { ...tags } } : {}),
    ...extraTop,
    properties: {
      provisioningState: 'Succeeded',
      resourceGuid:
        typeof priorProps['resourceGuid'] === 'string' ? priorProps['resourceGuid'] : randomUUID(),
      disableBgpRoutePropagation: bgp ?? false,
      routes,
      // Read-only: what the table is associated with never comes from the request.
      ...(priorProps['subnets'] === undefined ? {} : { subnets: priorProps['subnets'] }),
      ...extraProps,
    },
  };
}

export function isValidTags(value: unknown): value is Record<string, string> {
  return isObject(value) && Object.values(value).every((v) => typeof v === 'string');
}

/** The table with one route added or replaced (validated as a whole), and the new route body. */
export function upsertRoute(
  table: JsonObject,
  routeName: string,
  input: JsonObject,
  routeLimit: number,
): { readonly table: JsonObject; readonly route: JsonObject } {
  const id = String(table['id']);
  const existing = routesOf(table);
  const index = existing.findIndex((r) => String(r['name']).toLowerCase() === routeName.toLowerCase());
  // An update keeps the route's original name casing, as ARM does.
  const keptName = index >= 0 ? String(existing[index]?.['name']) : routeName;
  const updated = buildRoute(input, keptName, id);
  const all = existing.map((r) => routeFactsOf(r, id));
  if (index >= 0) all[index] = updated;
  else all.push(updated);
  const routes = finishRoutes(all, table, routeLimit, String(table['name']));
  const next = withRoutes(table, routes);
  const route = routes.find((r) => String(r['name']).toLowerCase() === routeName.toLowerCase());
  if (!route) throw new Error('unreachable: upserted route missing');
  return { table: next, route };
}

/** Facts of a route already stored (trusted: it was validated when written). */
function routeFactsOf(route: JsonObject, tableResourceId: string): RouteFacts {
  const name = String(route['name']);
  const props = isObject(route['properties']) ? route['properties'] : {};
  const prefix = String(props['addressPrefix'] ?? '');
  const cidr = parseCidr(prefix);
  const { etag: _etag, ...body } = route;
  return {
    name,
    id: `${tableResourceId}/routes/${name}`,
    prefixKey: cidr ? cidr.canonical : `tag:${prefix.toLowerCase()}`,
    body,
  };
}

export function withRoutes(table: JsonObject, routes: JsonObject[]): JsonObject {
  const props = isObject(table['properties']) ? table['properties'] : {};
  return { ...table, etag: newEtag(), properties: { ...props, routes } };
}

export function findRoute(table: JsonObject, routeName: string): JsonObject | undefined {
  return routesOf(table).find((r) => String(r['name']).toLowerCase() === routeName.toLowerCase());
}

export function listRoutes(table: JsonObject): JsonObject[] {
  return routesOf(table);
}

export function withoutRoute(table: JsonObject, routeName: string): JsonObject {
  return withRoutes(
    table,
    routesOf(table).filter((r) => String(r['name']).toLowerCase() !== routeName.toLowerCase()),
  );
}

export function simpleRoute(route: JsonObject): SimpleRoute {
  const props = isObject(route['properties']) ? route['properties'] : {};
  const nextHopIpAddress = props['nextHopIpAddress'];
  return {
    name: String(route['name']),
    addressPrefix: String(props['addressPrefix']),
    nextHopType: String(props['nextHopType']),
    ...(typeof nextHopIpAddress === 'string' ? { nextHopIpAddress } : {}),
  };
}

/** A seeded route, in request shape. */
export function routeInput(route: SimpleRoute): JsonObject {
  return {
    name: route.name,
    properties: {
      addressPrefix: route.addressPrefix,
      nextHopType: route.nextHopType,
      ...(route.nextHopIpAddress === undefined ? {} : { nextHopIpAddress: route.nextHopIpAddress }),
    },
  };
}

/** `next`, keeping the subnets `current` has now (subnets are read-only and may change out of band). */
export function carrySubnets(current: JsonObject, next: JsonObject): JsonObject {
  const currentProps = isObject(current['properties']) ? current['properties'] : {};
  const nextProps = isObject(next['properties']) ? { ...next['properties'] } : {};
  if (currentProps['subnets'] === undefined) delete nextProps['subnets'];
  else nextProps['subnets'] = structuredClone(currentProps['subnets']);
  return { ...next, properties: nextProps };
}

// ---- Goal state (DESIGN 5): Azure stores a write's body at once and shows its progress in provisioningState.

function propertiesOf(body: JsonObject): JsonObject {
  const props = body['properties'];
  return isObject(props) ? props : {};
}

function routeState(route: JsonObject): unknown {
  return propertiesOf(route)['provisioningState'];
}

/**
 * `next` (a validated table body) as Azure shows it while the write runs: the table reads Updating, and so does
 * every route that is new, changed, or was not Succeeded before (a re-drive of a Failed table retries those);
 * the others keep their state. Returns the body and the (lower-cased) names of the routes the write touches.
 */
export function goalState(
  next: JsonObject,
  prior: JsonObject | undefined,
): { readonly body: JsonObject; readonly touched: ReadonlySet<string> } {
  const body = structuredClone(next);
  const priorByName = new Map(routesOf(prior).map((r) => [String(r['name']).toLowerCase(), r]));
  const touched = new Set<string>();
  for (const route of routesOf(body)) {
    const key = String(route['name']).toLowerCase();
    const old = priorByName.get(key);
    const props = propertiesOf(route);
    if (old && routeContent(old) === routeContent(route) && routeState(old) === 'Succeeded') {
      props['provisioningState'] = 'Succeeded';
    } else {
      props['provisioningState'] = 'Updating';
      touched.add(key);
    }
  }
  propertiesOf(body)['provisioningState'] = 'Updating';
  return { body, touched };
}

/** A copy of the table with its provisioningState, and that of the named routes still in it, set. */
export function withStates(
  table: JsonObject,
  tableState: string,
  routes: ReadonlySet<string>,
  routeStateValue: string = tableState,
): JsonObject {
  const body = structuredClone(table);
  propertiesOf(body)['provisioningState'] = tableState;
  for (const route of routesOf(body)) {
    if (routes.has(String(route['name']).toLowerCase()))
      propertiesOf(route)['provisioningState'] = routeStateValue;
  }
  return body;
}

/** The key duplicate prefixes are found by: a canonical CIDR, or a service tag lower-cased. */
export function prefixKeyOf(prefix: string): string {
  return parseCidr(prefix)?.canonical ?? `tag:${prefix.toLowerCase()}`;
}

/** The routes of a (validated) table body, as refusal faults look at them. */
export function routesForRefusal(
  table: JsonObject,
): { name: string; id: string; prefixKey: string; addressPrefix: string; nextHopIpAddress?: string }[] {
  return routesOf(table).map((route) => {
    const props = propertiesOf(route);
    const addressPrefix = String(props['addressPrefix'] ?? '');
    const nextHop = props['nextHopIpAddress'];
    return {
      name: String(route['name']),
      id: String(route['id']),
      prefixKey: prefixKeyOf(addressPrefix),
      addressPrefix,
      ...(typeof nextHop === 'string' ? { nextHopIpAddress: nextHop } : {}),
    };
  });
}
