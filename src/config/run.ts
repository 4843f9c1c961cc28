// Configuration of `run`, the long-running controller: the shared settings plus the loop, the Lease and the server.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { ConfigError } from './errors.ts';
import { loadCommonConfig, type CommonFlags, type Environment } from './load.ts';
import type { CommonConfig } from './types.ts';
import { parseDuration } from './values.ts';

export interface RunFlags extends CommonFlags {
  leaderElect?: boolean;
  leaderElectLeaseName?: string;
  leaderElectNamespace?: string;
  leaderElectIdentity?: string;
  leaderElectLeaseDuration?: string;
  leaderElectRenewDeadline?: string;
  leaderElectRetryPeriod?: string;
  bindAddress?: string;
  debounce?: string;
  maxDelay?: string;
  resyncPeriod?: string;
  shutdownGracePeriod?: string;
  backoffBase?: string;
  backoffMax?: string;
}

export interface LeaderElectionConfig {
  readonly enabled: boolean;
  readonly leaseName: string;
  readonly namespace: string;
  readonly identity: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
}

export interface RunConfig extends CommonConfig {
  readonly leaderElection: LeaderElectionConfig;
  readonly bind: { readonly host: string; readonly port: number };
  readonly debounceMs: number;
  readonly maxDelayMs: number;
  readonly resyncMs: number;
  readonly shutdownGraceMs: number;
  readonly backoff: { readonly baseMs: number; readonly maxMs: number };
  /** /healthz fails when one reconcile has run longer than this (the loop is wedged). */
  readonly stallMs: number;
}

/** Where a pod finds its own namespace. */
export const SERVICE_ACCOUNT_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function loadRunConfig(flags: RunFlags, environment: Environment): RunConfig {
  const common = loadCommonConfig(flags, environment);
  const d = (flag: string, value: string | undefined, fallback: number) =>
    value === undefined ? fallback : parseDuration(flag, value);

  const leaseDurationMs = d('--leader-elect-lease-duration', flags.leaderElectLeaseDuration, 15_000);
  const renewDeadlineMs = d('--leader-elect-renew-deadline', flags.leaderElectRenewDeadline, 10_000);
  const retryPeriodMs = d('--leader-elect-retry-period', flags.leaderElectRetryPeriod, 2_000);
  // client-go's rule: leaseDuration > renewDeadline > retryPeriod * 1.2 (its jitter factor).
  if (!(leaseDurationMs > renewDeadlineMs)) {
    throw new ConfigError(
      '--leader-elect-lease-duration must be longer than --leader-elect-renew-deadline (defaults 15s and 10s)',
    );
  }
  if (!(renewDeadlineMs > retryPeriodMs * 1.2)) {
    throw new ConfigError(
      '--leader-elect-renew-deadline must be longer than 1.2 x --leader-elect-retry-period (defaults 10s and 2s)',
    );
  }
  const { name: leaseName, namespace } = leaseLocation(flags, environment);
  const identity =
    flags.leaderElectIdentity ??
    environment.env['POD_NAME'] ??
    `${hostname()}_${randomBytes(4).toString('hex')}`;

  const debounceMs = d('--debounce', flags.debounce, 250);
  const maxDelayMs = d('--max-delay', flags.maxDelay, 2_000);
  if (maxDelayMs < debounceMs)
    throw new ConfigError('--max-delay must be at least --debounce (defaults 2s and 250ms)');
  const resyncMs = d('--resync-period', flags.resyncPeriod, 60_000);
  if (resyncMs < 1_000) throw new ConfigError('--resync-period must be at least 1s (default 1m)');
  const backoffBaseMs = d('--backoff-base', flags.backoffBase, 1_000);
  const backoffMaxMs = d('--backoff-max', flags.backoffMax, 300_000);
  if (backoffBaseMs < 10 || backoffMaxMs < backoffBaseMs) {
    throw new ConfigError(
      '--backoff-base must be at least 10ms and at most --backoff-max (defaults 1s and 5m)',
    );
  }

  return Object.freeze({
    ...common,
    leaderElection: Object.freeze({
      enabled: flags.leaderElect !== false,
      leaseName,
      namespace,
      identity,
      leaseDurationMs,
      renewDeadlineMs,
      retryPeriodMs,
    }),
    bind: Object.freeze(parseBindAddress(flags.bindAddress ?? '0.0.0.0:8080')),
    debounceMs,
    maxDelayMs,
    resyncMs,
    shutdownGraceMs: d('--shutdown-grace-period', flags.shutdownGracePeriod, 20_000),
    backoff: Object.freeze({ baseMs: backoffBaseMs, maxMs: backoffMaxMs }),
    // A reconcile may legitimately take every write attempt's full operation timeout, plus the wait for a table
    // that another writer left Updating (table-sync's settle bound, 30 s), plus reads and patches.
    stallMs: common.azure.operationTimeoutMs * common.maxWriteAttempts + 30_000 + 120_000,
  });
}

/** `--leader-elect=false` style booleans, as Kubernetes components take them. */
export function parseBooleanFlag(flag: string) {
  return (value: string | undefined): boolean => {
    if (value === undefined || value === '' || /^(true|1|yes)$/i.test(value)) return true;
    if (/^(false|0|no)$/i.test(value)) return false;
    throw new ConfigError(`${flag}: "${value}" is not valid; use true or false (e.g. ${flag}=false)`);
  };
}

function readNamespace(environment: Environment): string {
  try {
    return environment.readFile(SERVICE_ACCOUNT_NAMESPACE_FILE).trim();
  } catch {
    return 'kube-system';
  }
}

function parseBindAddress(value: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65_535) {
    throw new ConfigError(
      `--bind-address: "${value}" is not HOST:PORT; e.g. 0.0.0.0:8080, :8080, 127.0.0.1:8080 or [::]:8080`,
    );
  }
  return { host: m[1] ?? (m[2] === '' || m[2] === undefined ? '0.0.0.0' : m[2]), port };
}

/** `doctor`: the shared flags, the output format, and where this controller's own Lease lives. */
export interface DoctorFlags extends CommonFlags {
  output?: string;
  leaderElectLeaseName?: string;
  leaderElectNamespace?: string;
}

export interface DoctorConfig extends CommonConfig {
  readonly output: 'text' | 'json';
  /** The Lease `run` would hold, resolved exactly as `run` resolves it. */
  readonly lease: { readonly namespace: string; readonly name: string };
}

export function loadDoctorConfig(flags: DoctorFlags, environment: Environment): DoctorConfig {
  const common = loadCommonConfig(flags, environment);
  const output = flags.output ?? 'text';
  if (output !== 'text' && output !== 'json') {
    throw new ConfigError(`--output: "${output}" is not valid; use text or json`);
  }
  return Object.freeze({ ...common, output, lease: Object.freeze(leaseLocation(flags, environment)) });
}

/** The controller's Lease, as `run` finds it and `doctor` looks for it: one rule for both. */
function leaseLocation(
  flags: { leaderElectLeaseName?: string; leaderElectNamespace?: string },
  environment: Environment,
): { namespace: string; name: string } {
  const name = flags.leaderElectLeaseName ?? 'azure-route-controller';
  if (!DNS_SUBDOMAIN.test(name)) {
    throw new ConfigError(
      `--leader-elect-lease-name: "${name}" is not a valid object name; use lower-case letters, digits, '-' and '.'`,
    );
  }
  const namespace =
    flags.leaderElectNamespace ?? environment.env['POD_NAMESPACE'] ?? readNamespace(environment);
  if (!DNS_LABEL.test(namespace)) {
    throw new ConfigError(
      `--leader-elect-namespace: "${namespace}" is not a valid namespace; use lower-case letters, digits and '-'`,
    );
  }
  return { namespace, name };
}
