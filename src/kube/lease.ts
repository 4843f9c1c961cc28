// Leader election over a coordination.k8s.io/v1 Lease, with client-go's leaderelection semantics (DESIGN 2.6):
// only the holder reconciles. A candidate takes the Lease when it does not exist, when it was released (empty
// holderIdentity), or when its record has not changed for leaseDurationSeconds as measured by OUR clock from
// when we first saw that record (the remote renewTime is never trusted: clocks differ). Every write carries the
// resourceVersion it was based on, so of two candidates only one wins (409 Conflict for the other).
//
// One stricter point than client-go: the leader steps down the moment renewDeadline has passed since its last
// successful renewal (a timer, not the next turn of the loop), aborting the renewal in flight, and calls
// onStoppedLeading before anything else happens. Its Lease stays valid for others until at least
// leaseDuration after that renewal, so there is a (leaseDuration - renewDeadline) margin with no leader at all.
import {
  CoordinationV1Api,
  type ConfigurationOptions,
  V1MicroTime,
  type KubeConfig,
  type V1Lease,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { realTimers, sleepWith, type Timers } from '../support/timers.ts';
import { KubeError, callOptions, serverForMessages, toKubeError, withSharedDispatcher } from './client.ts';

export interface LeaderElectorOptions {
  readonly namespace: string;
  readonly name: string;
  /** Unique per replica (the pod name plus something random, typically). */
  readonly identity: string;
  /** How long a Lease stays held without renewal (written as whole seconds, at least 1). client-go: 15 s. */
  readonly leaseDurationMs: number;
  /** The leader steps down when it has not renewed for this long. client-go: 10 s. */
  readonly renewDeadlineMs: number;
  /** The leader renews this often; candidates retry this often plus up to 1.2 x as jitter. client-go: 2 s. */
  readonly retryPeriodMs: number;
  readonly timers?: Timers;
  /** For the jitter; Math.random by default. */
  readonly random?: () => number;
  /** Timeout of each Lease request. renewDeadlineMs by default (as kube-controller-manager sets it). */
  readonly requestTimeoutMs?: number;
  readonly logger: Logger;
  readonly onStartedLeading: () => void;
  /** Called before anything else once this replica is no longer sure it holds the Lease. */
  readonly onStoppedLeading: () => void;
}

export interface LeaderElector {
  /** Campaigns, then renews, until stopped; never rejects (API errors are logged and retried). */
  run(): Promise<void>;
  isLeader(): boolean;
  /**
   * Stops campaigning (and leading: onStoppedLeading is called first). With release, a Lease we hold is handed
   * back (empty holderIdentity, leaseDurationSeconds 1) so a standby takes over within about one retry period.
   */
  stop(options?: { readonly release: boolean }): Promise<void>;
}

/** client-go's JitterFactor for the acquire loop. */
const JITTER_FACTOR = 1.2;

/** The leader-election fields of a Lease, times kept as the API server wrote them. */
interface LeaseRecord {
  readonly holderIdentity: string;
  readonly leaseDurationSeconds: number;
  readonly acquireTime: string | V1MicroTime | undefined;
  readonly renewTime: string | V1MicroTime | undefined;
  readonly leaseTransitions: number;
}

interface Observed {
  readonly record: LeaseRecord;
  /** The record as JSON: a change of any field restarts the expiry clock. */
  readonly raw: string;
  readonly lease: V1Lease;
}

/** The settings, API handle and moving state that the elector's steps below share. */
class ElectorState {
  readonly options: LeaderElectorOptions;
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  readonly log: Logger;
  readonly timers: Timers;
  readonly random: () => number;
  readonly sleep: ReturnType<typeof sleepWith>;
  readonly requestTimeoutMs: number;
  readonly leaseDurationSeconds: number;
  readonly server: string;
  readonly api: CoordinationV1Api;
  /** For every log line. */
  readonly where: { readonly lease: string; readonly identity: string };

  observed: Observed | undefined;
  /** When `observed` last changed, by our clock. */
  observedTime = 0;
  leading = false;
  /** Bumped at every start and end of leadership: a result from an older term is stale. */
  term = 0;
  cancelDeadline: (() => void) | undefined;
  stopped = false;
  /** Cancels the requests of the attempt in flight. */
  inflight: AbortController | undefined;
  readonly wake = new AbortController();
  running: Promise<void> | undefined;
  failuresInRow = 0;
  lastHolder: string | undefined;

  constructor(kc: KubeConfig, options: LeaderElectorOptions) {
    this.options = options;
    this.namespace = options.namespace;
    this.name = options.name;
    this.identity = options.identity;
    this.renewDeadlineMs = options.renewDeadlineMs;
    this.retryPeriodMs = options.retryPeriodMs;
    this.log = options.logger;
    this.timers = options.timers ?? realTimers;
    this.random = options.random ?? Math.random;
    this.sleep = sleepWith(this.timers);
    this.requestTimeoutMs = options.requestTimeoutMs ?? options.renewDeadlineMs;
    this.leaseDurationSeconds = Math.max(1, Math.ceil(options.leaseDurationMs / 1000));
    this.server = serverForMessages(kc);
    this.api = withSharedDispatcher(kc).makeApiClient(CoordinationV1Api);
    this.where = { lease: `${options.namespace}/${options.name}`, identity: options.identity };
  }
}

export function createLeaderElector(kc: KubeConfig, options: LeaderElectorOptions): LeaderElector {
  checkOptions(options);
  const s = new ElectorState(kc, options);
  return {
    run: () => run(s),
    isLeader: () => s.leading,
    stop: (stopOptions?: { readonly release: boolean }) => stop(s, stopOptions),
  };
}

function checkOptions(options: LeaderElectorOptions): void {
  const { identity, leaseDurationMs, renewDeadlineMs, retryPeriodMs } = options;
  if (!(leaseDurationMs > renewDeadlineMs))
    throw new Error('leaseDurationMs must be greater than renewDeadlineMs');
  if (!(renewDeadlineMs > JITTER_FACTOR * retryPeriodMs))
    throw new Error(`renewDeadlineMs must be greater than ${JITTER_FACTOR} x retryPeriodMs`);
  if (!(retryPeriodMs > 0)) throw new Error('retryPeriodMs must be positive');
  if (identity === '') throw new Error('identity must not be empty');
}

// --- the public face ---------------------------------------------------------------------------------------

function run(s: ElectorState): Promise<void> {
  if (s.stopped) return s.running ?? Promise.resolve();
  s.running ??= loop(s).catch((err: unknown) =>
    s.log.error({ ...s.where, err }, 'leader election loop failed'),
  );
  return s.running;
}

async function stop(s: ElectorState, stopOptions: { readonly release: boolean } | undefined): Promise<void> {
  if (s.stopped) {
    await s.running;
    return;
  }
  s.stopped = true;
  const abandoned = s.inflight !== undefined;
  s.wake.abort();
  s.inflight?.abort(new Error('stopping'));
  const held = s.leading;
  stepDown(s, 'stopping', 'info');
  await s.running;
  if (stopOptions?.release && (held || abandoned || s.observed?.record.holderIdentity === s.identity)) {
    await release(s);
  }
}

// --- requests ----------------------------------------------------------------------------------------------

async function call<T>(
  s: ElectorState,
  verb: string,
  signal: AbortSignal,
  send: (o: ConfigurationOptions) => Promise<T>,
): Promise<T> {
  signal.throwIfAborted();
  const timeout = new AbortController();
  const cancel = s.timers.setTimeout(
    () => timeout.abort(new Error(`timed out after ${s.requestTimeoutMs} ms`)),
    s.requestTimeoutMs,
  );
  try {
    return await send(callOptions(AbortSignal.any([signal, timeout.signal])));
  } catch (err) {
    signal.throwIfAborted();
    throw toKubeError(
      err,
      { verb, resource: 'leases', group: 'coordination.k8s.io', name: s.name, namespace: s.namespace },
      s.server,
      timeout.signal.aborted ? s.requestTimeoutMs : undefined,
    );
  } finally {
    cancel();
  }
}

function read(s: ElectorState, signal: AbortSignal): Promise<V1Lease> {
  const { name, namespace } = s;
  return call(s, 'get', signal, (o) => s.api.readNamespacedLease({ name, namespace }, o));
}

function create(s: ElectorState, spec: V1Lease['spec'], signal: AbortSignal): Promise<V1Lease> {
  const { name, namespace } = s;
  return call(s, 'create', signal, (o) =>
    s.api.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec } }, o),
  );
}

/** A PUT carrying the resourceVersion we read: 409 Conflict when someone wrote in between. */
function replace(
  s: ElectorState,
  lease: V1Lease,
  spec: V1Lease['spec'],
  signal: AbortSignal,
): Promise<V1Lease> {
  const { name, namespace } = s;
  return call(s, 'update', signal, (o) =>
    s.api.replaceNamespacedLease({ name, namespace, body: { ...lease, spec } }, o),
  );
}

// --- the record --------------------------------------------------------------------------------------------

function observe(s: ElectorState, lease: V1Lease): void {
  const spec = lease.spec;
  const record: LeaseRecord = {
    holderIdentity: spec?.holderIdentity ?? '',
    leaseDurationSeconds: spec?.leaseDurationSeconds ?? 0,
    // client-node hands MicroTime fields back as the raw strings (V1MicroTime is not in its type map).
    acquireTime: spec?.acquireTime,
    renewTime: spec?.renewTime,
    leaseTransitions: spec?.leaseTransitions ?? 0,
  };
  const raw = JSON.stringify(record);
  if (s.observed === undefined || raw !== s.observed.raw) s.observedTime = s.timers.now();
  s.observed = { record, raw, lease };
  if (record.holderIdentity !== s.lastHolder) {
    s.lastHolder = record.holderIdentity;
    if (record.holderIdentity !== '' && record.holderIdentity !== s.identity)
      s.log.info({ ...s.where, holder: record.holderIdentity }, 'the lease is held by another replica');
  }
}

/** Whether the observed record is still in force: it changed less than its leaseDurationSeconds ago. */
function leaseValid(s: ElectorState, now: number): boolean {
  return s.observed !== undefined && s.observedTime + s.observed.record.leaseDurationSeconds * 1000 > now;
}

function ourSpec(
  s: ElectorState,
  now: number,
  acquireTime: LeaseRecord['acquireTime'],
  transitions: number,
): V1Lease['spec'] {
  return {
    holderIdentity: s.identity,
    leaseDurationSeconds: s.leaseDurationSeconds,
    acquireTime: (acquireTime ?? new V1MicroTime(now)) as V1MicroTime,
    renewTime: new V1MicroTime(now),
    leaseTransitions: transitions,
  };
}

/** client-go's tryAcquireOrRenew: true when we hold the Lease, renewed as of `now`. */
async function tryAcquireOrRenew(s: ElectorState, now: number, signal: AbortSignal): Promise<boolean> {
  if (await renewOnTop(s, now, signal)) return true;
  let lease: V1Lease;
  try {
    lease = await read(s, signal);
  } catch (err) {
    if (!(err instanceof KubeError && err.kind === 'NotFound')) throw err;
    return createFirst(s, now, signal);
  }
  observe(s, lease);
  const record = (s.observed as Observed).record;
  if (record.holderIdentity !== '' && record.holderIdentity !== s.identity && leaseValid(s, s.timers.now())) {
    s.log.debug({ ...s.where, holder: record.holderIdentity }, 'the lease is held and has not expired');
    return false;
  }
  const spec =
    record.holderIdentity === s.identity
      ? ourSpec(s, now, record.acquireTime, record.leaseTransitions)
      : ourSpec(s, now, undefined, record.leaseTransitions + 1);
  return writeUnlessBeaten(
    s,
    () => replace(s, lease, spec, signal),
    'another replica updated the lease first (409)',
  );
}

/**
 * The fast path: while we lead and our record still stands, renew on top of it without reading first. False
 * when that does not apply or did not work (then the caller reads the Lease).
 */
async function renewOnTop(s: ElectorState, now: number, signal: AbortSignal): Promise<boolean> {
  const observed = s.observed;
  if (!(
    s.leading &&
    observed !== undefined &&
    observed.record.holderIdentity === s.identity &&
    leaseValid(s, now)
  ))
    return false;
  const { record, lease } = observed;
  try {
    observe(s, await replace(s, lease, ourSpec(s, now, record.acquireTime, record.leaseTransitions), signal));
    return true;
  } catch (err) {
    signal.throwIfAborted();
    s.log.debug({ ...s.where, err: message(err) }, 'optimistic lease renewal failed; reading the lease');
    return false;
  }
}

/** There is no Lease yet: create it, held by us. False when another replica created it first. */
async function createFirst(s: ElectorState, now: number, signal: AbortSignal): Promise<boolean> {
  return writeUnlessBeaten(
    s,
    () => create(s, ourSpec(s, now, undefined, 0), signal),
    'another replica created the lease first',
  );
}

/**
 * Writes the Lease and observes what the server stored: true. False when another replica wrote it first (409:
 * our resourceVersion, or the name, was taken); any other failure is thrown.
 */
async function writeUnlessBeaten(
  s: ElectorState,
  write: () => Promise<V1Lease>,
  beaten: string,
): Promise<boolean> {
  try {
    observe(s, await write());
    return true;
  } catch (err) {
    if (err instanceof KubeError && err.kind === 'Conflict') {
      s.log.debug({ ...s.where }, beaten);
      return false;
    }
    throw err;
  }
}

// --- leadership --------------------------------------------------------------------------------------------

function callback(s: ElectorState, which: 'onStartedLeading' | 'onStoppedLeading'): void {
  try {
    s.options[which]();
  } catch (err) {
    s.log.error({ ...s.where, err }, `${which} failed`);
  }
}

/** Steps down at once, and only then lets anything else happen (the attempt in flight is abandoned). */
function stepDown(s: ElectorState, reason: string, level: 'warn' | 'info' = 'warn'): void {
  if (!s.leading) return;
  s.leading = false;
  s.term += 1;
  s.cancelDeadline?.();
  s.cancelDeadline = undefined;
  s.inflight?.abort(new Error(reason));
  s.log[level]({ ...s.where, reason }, 'stopped leading');
  callback(s, 'onStoppedLeading');
}

function armDeadline(s: ElectorState, renewedAt: number): void {
  s.cancelDeadline?.();
  const left = Math.max(0, renewedAt + s.renewDeadlineMs - s.timers.now());
  s.cancelDeadline = s.timers.setTimeout(() => {
    s.cancelDeadline = undefined;
    stepDown(s, `could not renew the lease within the renew deadline (${s.renewDeadlineMs} ms)`);
  }, left);
}

async function loop(s: ElectorState): Promise<void> {
  s.log.info({ ...s.where }, 'campaigning for the lease');
  while (!s.stopped) {
    const attemptTerm = s.term;
    const startedAt = s.timers.now();
    const ok = await attemptOnce(s, startedAt);
    if (s.stopped) break;
    if (s.term === attemptTerm) settle(s, ok, startedAt);
    // The leader renews every retry period (as client-go's renew loop); candidates add up to 1.2x jitter.
    const wait = s.leading ? s.retryPeriodMs : s.retryPeriodMs * (1 + s.random() * JITTER_FACTOR);
    try {
      await s.sleep(wait, s.wake.signal);
    } catch {
      break;
    }
  }
}

/** One tryAcquireOrRenew that stepDown or stop can abort; a failure is logged and counts as not holding. */
async function attemptOnce(s: ElectorState, startedAt: number): Promise<boolean> {
  const controller = new AbortController();
  s.inflight = controller;
  let ok = false;
  try {
    ok = await tryAcquireOrRenew(s, startedAt, controller.signal);
    s.failuresInRow = 0;
  } catch (err) {
    if (!controller.signal.aborted) {
      s.failuresInRow += 1;
      // Every failure of a leader matters; a candidate's repeat failures (API server down) are quieter.
      const level = s.leading || s.failuresInRow === 1 || s.failuresInRow % 10 === 0 ? 'warn' : 'debug';
      s.log[level](
        { ...s.where, err: message(err), failures: s.failuresInRow },
        'lease request failed; retrying',
      );
    }
  } finally {
    if (s.inflight === controller) s.inflight = undefined;
  }
  return ok;
}

/** Acts on an attempt that is still of the current term: start leading, keep leading, or step down. */
function settle(s: ElectorState, ok: boolean, startedAt: number): void {
  if (ok) {
    if (!s.leading) {
      s.leading = true;
      s.term += 1;
      armDeadline(s, startedAt);
      s.log.info(
        { ...s.where, transitions: s.observed?.record.leaseTransitions },
        'acquired the lease; leading',
      );
      callback(s, 'onStartedLeading');
    } else {
      armDeadline(s, startedAt);
    }
  } else if (s.leading && s.observed !== undefined && s.observed.record.holderIdentity !== s.identity) {
    stepDown(s, `the lease is now held by ${s.observed.record.holderIdentity || 'no one'}`);
  }
}

/** Hands a Lease we hold back: empty holder, 1 s duration, renewTime now (client-go's release). */
async function release(s: ElectorState): Promise<void> {
  const signal = AbortSignal.timeout(Math.max(s.requestTimeoutMs, 1_000));
  let lease = s.observed?.record.holderIdentity === s.identity ? s.observed.lease : undefined;
  for (let attempt = 1; attempt <= 3; attempt += 1) {
    try {
      if (lease === undefined) {
        lease = await read(s, signal);
        observe(s, lease);
      }
      const record = (s.observed as Observed).record;
      if (record.holderIdentity !== s.identity) return;
      const now = s.timers.now();
      observe(s, await replace(s, lease, releasedSpec(now, record.leaseTransitions), signal));
      s.log.info({ ...s.where }, 'released the lease');
      return;
    } catch (err) {
      // Our own renewal (abandoned when stopping) may have landed after all: read again and retry.
      if (err instanceof KubeError && err.kind === 'Conflict' && attempt < 3) {
        lease = undefined;
        continue;
      }
      if (err instanceof KubeError && err.kind === 'NotFound') return;
      s.log.warn(
        { ...s.where, err: message(err) },
        'could not release the lease; a standby takes over once it expires',
      );
      return;
    }
  }
}

function releasedSpec(now: number, transitions: number): V1Lease['spec'] {
  return {
    holderIdentity: '',
    leaseDurationSeconds: 1,
    acquireTime: new V1MicroTime(now),
    renewTime: new V1MicroTime(now),
    leaseTransitions: transitions,
  };
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
