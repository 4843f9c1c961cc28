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

export function createLeaderElector(kc: KubeConfig, options: LeaderElectorOptions): LeaderElector {
  const { namespace, name, identity, leaseDurationMs, renewDeadlineMs, retryPeriodMs } = options;
  if (!(leaseDurationMs > renewDeadlineMs))
    throw new Error('leaseDurationMs must be greater than renewDeadlineMs');
  if (!(renewDeadlineMs > JITTER_FACTOR * retryPeriodMs))
    throw new Error(`renewDeadlineMs must be greater than ${JITTER_FACTOR} x retryPeriodMs`);
  if (!(retryPeriodMs > 0)) throw new Error('retryPeriodMs must be positive');
  if (identity === '') throw new Error('identity must not be empty');

  const log = options.logger;
  const timers = options.timers ?? realTimers;
  const random = options.random ?? Math.random;
  const sleep = sleepWith(timers);
  const requestTimeoutMs = options.requestTimeoutMs ?? renewDeadlineMs;
  const leaseDurationSeconds = Math.max(1, Math.ceil(leaseDurationMs / 1000));
  const server = serverForMessages(kc);
  const api = withSharedDispatcher(kc).makeApiClient(CoordinationV1Api);
  const where = { lease: `${namespace}/${name}`, identity };

  let observed: Observed | undefined;
  /** When `observed` last changed, by our clock. */
  let observedTime = 0;
  let leading = false;
  /** Bumped at every start and end of leadership: a result from an older term is stale. */
  let term = 0;
  let cancelDeadline: (() => void) | undefined;
  let stopped = false;
  /** Cancels the requests of the attempt in flight. */
  let inflight: AbortController | undefined;
  const wake = new AbortController();
  let running: Promise<void> | undefined;
  let failuresInRow = 0;
  let lastHolder: string | undefined;

  // --- requests ------------------------------------------------------------------------------------------

  async function call<T>(
    verb: string,
    signal: AbortSignal,
    send: (o: ConfigurationOptions) => Promise<T>,
  ): Promise<T> {
    signal.throwIfAborted();
    const timeout = new AbortController();
    const cancel = timers.setTimeout(
      () => timeout.abort(new Error(`timed out after ${requestTimeoutMs} ms`)),
      requestTimeoutMs,
    );
    try {
      return await send(callOptions(AbortSignal.any([signal, timeout.signal])));
    } catch (err) {
      signal.throwIfAborted();
      throw toKubeError(
        err,
        { verb, resource: 'leases', group: 'coordination.k8s.io', name, namespace },
        server,
        timeout.signal.aborted ? requestTimeoutMs : undefined,
      );
    } finally {
      cancel();
    }
  }

  const read = (signal: AbortSignal) =>
    call('get', signal, (o) => api.readNamespacedLease({ name, namespace }, o));
  const create = (spec: V1Lease['spec'], signal: AbortSignal) =>
    call('create', signal, (o) =>
      api.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec } }, o),
    );
  /** A PUT carrying the resourceVersion we read: 409 Conflict when someone wrote in between. */
  const replace = (lease: V1Lease, spec: V1Lease['spec'], signal: AbortSignal) =>
    call('update', signal, (o) =>
      api.replaceNamespacedLease({ name, namespace, body: { ...lease, spec } }, o),
    );

  // --- the record ----------------------------------------------------------------------------------------

  function observe(lease: V1Lease): void {
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
    if (observed === undefined || raw !== observed.raw) observedTime = timers.now();
    observed = { record, raw, lease };
    if (record.holderIdentity !== lastHolder) {
      lastHolder = record.holderIdentity;
      if (record.holderIdentity !== '' && record.holderIdentity !== identity)
        log.info({ ...where, holder: record.holderIdentity }, 'the lease is held by another replica');
    }
  }

  /** Whether the observed record is still in force: it changed less than its leaseDurationSeconds ago. */
  function leaseValid(now: number): boolean {
    return observed !== undefined && observedTime + observed.record.leaseDurationSeconds * 1000 > now;
  }

  function ourSpec(
    now: number,
    acquireTime: LeaseRecord['acquireTime'],
    transitions: number,
  ): V1Lease['spec'] {
    return {
      holderIdentity: identity,
      leaseDurationSeconds,
      acquireTime: (acquireTime ?? new V1MicroTime(now)) as V1MicroTime,
      renewTime: new V1MicroTime(now),
      leaseTransitions: transitions,
    };
  }

  /** client-go's tryAcquireOrRenew: true when we hold the Lease, renewed as of `now`. */
  async function tryAcquireOrRenew(now: number, signal: AbortSignal): Promise<boolean> {
    // Fast path: we lead and our record still stands; renew on top of it without reading first.
    if (leading && observed !== undefined && observed.record.holderIdentity === identity && leaseValid(now)) {
      const { record, lease } = observed;
      try {
        observe(await replace(lease, ourSpec(now, record.acquireTime, record.leaseTransitions), signal));
        return true;
      } catch (err) {
        signal.throwIfAborted();
        log.debug({ ...where, err: message(err) }, 'optimistic lease renewal failed; reading the lease');
      }
    }

    let lease: V1Lease;
    try {
      lease = await read(signal);
    } catch (err) {
      if (!(err instanceof KubeError && err.kind === 'NotFound')) throw err;
      try {
        observe(await create(ourSpec(now, undefined, 0), signal));
        return true;
      } catch (createErr) {
        if (createErr instanceof KubeError && createErr.kind === 'Conflict') {
          log.debug({ ...where }, 'another replica created the lease first');
          return false;
        }
        throw createErr;
      }
    }
    observe(lease);
    const record = (observed as Observed).record;
    if (record.holderIdentity !== '' && record.holderIdentity !== identity && leaseValid(timers.now())) {
      log.debug({ ...where, holder: record.holderIdentity }, 'the lease is held and has not expired');
      return false;
    }
    const spec =
      record.holderIdentity === identity
        ? ourSpec(now, record.acquireTime, record.leaseTransitions)
        : ourSpec(now, undefined, record.leaseTransitions + 1);
    try {
      observe(await replace(lease, spec, signal));
      return true;
    } catch (err) {
      if (err instanceof KubeError && err.kind === 'Conflict') {
        log.debug({ ...where }, 'another replica updated the lease first (409)');
        return false;
      }
      throw err;
    }
  }

  // --- leadership ----------------------------------------------------------------------------------------

  function callback(which: 'onStartedLeading' | 'onStoppedLeading'): void {
    try {
      options[which]();
    } catch (err) {
      log.error({ ...where, err }, `${which} failed`);
    }
  }

  /** Steps down at once, and only then lets anything else happen (the attempt in flight is abandoned). */
  function stepDown(reason: string, level: 'warn' | 'info' = 'warn'): void {
    if (!leading) return;
    leading = false;
    term += 1;
    cancelDeadline?.();
    cancelDeadline = undefined;
    inflight?.abort(new Error(reason));
    log[level]({ ...where, reason }, 'stopped leading');
    callback('onStoppedLeading');
  }

  function armDeadline(renewedAt: number): void {
    cancelDeadline?.();
    const left = Math.max(0, renewedAt + renewDeadlineMs - timers.now());
    cancelDeadline = timers.setTimeout(() => {
      cancelDeadline = undefined;
      stepDown(`could not renew the lease within the renew deadline (${renewDeadlineMs} ms)`);
    }, left);
  }

  async function loop(): Promise<void> {
    log.info({ ...where }, 'campaigning for the lease');
    while (!stopped) {
      const attemptTerm = term;
      const startedAt = timers.now();
      const controller = new AbortController();
      inflight = controller;
      let ok = false;
      try {
        ok = await tryAcquireOrRenew(startedAt, controller.signal);
        failuresInRow = 0;
      } catch (err) {
        if (!controller.signal.aborted) {
          failuresInRow += 1;
          // Every failure of a leader matters; a candidate's repeat failures (API server down) are quieter.
          const level = leading || failuresInRow === 1 || failuresInRow % 10 === 0 ? 'warn' : 'debug';
          log[level](
            { ...where, err: message(err), failures: failuresInRow },
            'lease request failed; retrying',
          );
        }
      } finally {
        if (inflight === controller) inflight = undefined;
      }
      if (stopped) break;
      if (term === attemptTerm) {
        if (ok) {
          if (!leading) {
            leading = true;
            term += 1;
            armDeadline(startedAt);
            log.info(
              { ...where, transitions: observed?.record.leaseTransitions },
              'acquired the lease; leading',
            );
            callback('onStartedLeading');
          } else {
            armDeadline(startedAt);
          }
        } else if (leading && observed !== undefined && observed.record.holderIdentity !== identity) {
          stepDown(`the lease is now held by ${observed.record.holderIdentity || 'no one'}`);
        }
      }
      // The leader renews every retry period (as client-go's renew loop); candidates add up to 1.2x jitter.
      const wait = leading ? retryPeriodMs : retryPeriodMs * (1 + random() * JITTER_FACTOR);
      try {
        await sleep(wait, wake.signal);
      } catch {
        break;
      }
    }
  }

  /** Hands a Lease we hold back: empty holder, 1 s duration, renewTime now (client-go's release). */
  async function release(): Promise<void> {
    const signal = AbortSignal.timeout(Math.max(requestTimeoutMs, 1_000));
    let lease = observed?.record.holderIdentity === identity ? observed.lease : undefined;
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      try {
        if (lease === undefined) {
          lease = await read(signal);
          observe(lease);
        }
        const record = (observed as Observed).record;
        if (record.holderIdentity !== identity) return;
        const now = timers.now();
        observe(
          await replace(
            lease,
            {
              holderIdentity: '',
              leaseDurationSeconds: 1,
              acquireTime: new V1MicroTime(now),
              renewTime: new V1MicroTime(now),
              leaseTransitions: record.leaseTransitions,
            },
            signal,
          ),
        );
        log.info({ ...where }, 'released the lease');
        return;
      } catch (err) {
        // Our own renewal (abandoned when stopping) may have landed after all: read again and retry.
        if (err instanceof KubeError && err.kind === 'Conflict' && attempt < 3) {
          lease = undefined;
          continue;
        }
        if (err instanceof KubeError && err.kind === 'NotFound') return;
        log.warn(
          { ...where, err: message(err) },
          'could not release the lease; a standby takes over once it expires',
        );
        return;
      }
    }
  }

  return {
    run(): Promise<void> {
      if (stopped) return running ?? Promise.resolve();
      running ??= loop().catch((err: unknown) => log.error({ ...where, err }, 'leader election loop failed'));
      return running;
    },

    isLeader: () => leading,

    async stop(stopOptions?: { readonly release: boolean }): Promise<void> {
      if (stopped) {
        await running;
        return;
      }
      stopped = true;
      const abandoned = inflight !== undefined;
      wake.abort();
      inflight?.abort(new Error('stopping'));
      const held = leading;
      stepDown('stopping', 'info');
      await running;
      if (stopOptions?.release && (held || abandoned || observed?.record.holderIdentity === identity)) {
        await release();
      }
    },
  };
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
