// Parsers for single flag values. Each throws ConfigError naming the flag and what would be valid.
import { ConfigError } from './errors.ts';

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go-style durations as Kubernetes components take them: 500ms, 15s, 1m, 1.5h. At least `minMs`. */
export function parseDuration(flag: string, value: string, minMs = 0): number {
  const m = DURATION.exec(value.trim());
  if (!m) {
    throw new ConfigError(
      `${flag}: "${value}" is not a duration; use a number with a unit, e.g. 500ms, 15s, 1m`,
    );
  }
  const ms = Math.round(Number(m[1]) * UNIT_MS[m[2]!]!);
  if (ms < minMs) throw new ConfigError(`${flag}: "${value}" is too short; use at least ${minMs}ms`);
  return ms;
}

export function parseInteger(flag: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(`${flag}: "${value}" is not valid; use a whole number from ${min} to ${max}`);
  }
  return n;
}

export function parseChoice<T extends string>(flag: string, value: string, choices: readonly T[]): T {
  const found = choices.find((c) => c.toLowerCase() === value.toLowerCase());
  if (!found) throw new ConfigError(`${flag}: "${value}" is not valid; use one of ${choices.join(', ')}`);
  return found;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function parseGuid(source: string, value: string): string {
  if (!GUID.test(value)) {
    throw new ConfigError(
      `${source}: "${value}" is not a GUID; Azure subscription and tenant IDs look like 00000000-0000-0000-0000-000000000000`,
    );
  }
  return value.toLowerCase();
}

// Azure's naming rules: resource groups 1-90 of alphanumerics, '_', '-', '.', '(' and ')', not ending in '.';
// route tables 1-80 of alphanumerics, '_', '-', '.', starting alphanumeric, ending alphanumeric or '_'.
const RESOURCE_GROUP = /^[-\w.()]{0,89}[-\w()]$/;
const ROUTE_TABLE = /^[A-Za-z0-9](?:[\w.-]{0,78}\w)?$/;

export function parseResourceGroup(source: string, value: string): string {
  if (!RESOURCE_GROUP.test(value)) {
    throw new ConfigError(
      `${source}: "${value}" is not a valid resource group name; use 1-90 letters, digits, '_', '-', '.', '(' or ')', not ending in '.'`,
    );
  }
  return value;
}

export function parseRouteTableName(source: string, value: string): string {
  if (!ROUTE_TABLE.test(value)) {
    throw new ConfigError(
      `${source}: "${value}" is not a valid route table name; use 1-80 letters, digits, '_', '-' or '.', starting with a letter or digit and ending with a letter, digit or '_'`,
    );
  }
  return value;
}
