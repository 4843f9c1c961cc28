// The per-table write loop (DESIGN 2.4), shared by sync-routes and the controller:
// read (until settled) -> plan -> (nothing to do | dry run) -> one guarded PUT -> Succeeded.
// 412: someone else wrote the table, so re-read and re-plan at once. 429 / retryable 409: wait as Azure
// asks (or back off with full jitter), then re-read and retry. A 400 that names routes of ours: set those
// aside and write the rest, planned on the same read. Anything else fails the table.
// The plan is a callback, so this module knows nothing of the planner.
import type { Logger } from 'pino';
import type { Route } from '../domain/types.ts';
import { AzureError, abortedError, notSettledError, routeRefusedMessage, toAzureError } from './errors.ts';
import type { RouteChanges, RouteTableStore, TableRef, TableSnapshot } from './types.ts';

/** What syncTable needs from a plan; the caller's plan type is carried through to the result. */
export interface TablePlanLike {
  readonly changes: RouteChanges;
  readonly hasChanges: boolean;
}

export interface SyncTableArgs<P extends TablePlanLike> {
  readonly store: RouteTableStore;
  readonly ref: TableRef;
  /**
   * Plans against the routes as read. Called again after every re-read, and on the same read after Azure
   * refused routes: `rejected` maps the addressPrefix of each upsert Azure refused to Azure's message, and
   * the plan must leave those prefixes alone.
   */
  readonly plan: (
    routes: readonly Route[],
    snapshot: TableSnapshot,
    rejected: ReadonlyMap<string, string>,
  ) => P;
  readonly dryRun: boolean;
  /** Bound on read-plan-write rounds (412s and retryable conflicts each cost one). */
  readonly maxAttempts: number;
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** [0, 1); Math.random by default. */
  readonly random?: (() => number) | undefined;
  readonly signal?: AbortSignal | undefined;
  readonly logger: Logger;
  /** Exponential backoff when Azure gives no Retry-After: full jitter over min(maxMs, baseMs * 2^n). */
  readonly backoff?: { readonly baseMs: number; readonly maxMs: number } | undefined;
  /**
   * Bound on the waits for a table read in a state that is not final (Updating: someone's write is running)
   * before it is re-read; past it (or past maxSettleMs of waiting) the table fails with NotSettled. Counted over
   * the whole sync of the table (re-reads after a 412 included). Default 10.
   */
  readonly maxSettleWaits?: number | undefined;
  /** Bound on the total time waited for a table to settle, in ms. Default 30 000. */
  readonly maxSettleMs?: number | undefined;
  /** Backoff between those re-reads: equal jitter over min(maxMs, baseMs * 2^n). Default 500 ms to 8 s. */
  readonly settleBackoff?: { readonly baseMs: number; readonly maxMs: number } | undefined;
}

export interface TableSyncResult<P extends TablePlanLike> {
  readonly ref: TableRef;
  /**
   * The table as Azure holds it after a successful write, else as last read. null when the table does not
   * exist (and `error` is unset), or when it could not be read at all (and `error` is set).
   */
  readonly snapshot: TableSnapshot | null;
  /** The last plan made; undefined when the table was never read. */
  readonly plan?: P | undefined;
  /** A write happened and its long-running operation reached Succeeded. */
  readonly written: boolean;
  /** Read-plan(-write) rounds made. */
  readonly attempts: number;
  /** PUTs sent. */
  readonly writes: number;
  /** Re-reads of a table that was not settled (Updating) when read. */
  readonly settleWaits: number;
  /** Every upsert Azure refused with a 400 naming it and that was set aside: addressPrefix -> Azure's message. */
  readonly rejected: ReadonlyMap<string, string>;
  readonly error?: AzureError | undefined;
}

export const DEFAULT_BACKOFF = { baseMs: 1_000, maxMs: 30_000 } as const;
export const DEFAULT_SETTLE_BACKOFF = { baseMs: 500, maxMs: 8_000 } as const;
export const DEFAULT_MAX_SETTLE_WAITS = 10;
export const DEFAULT_MAX_SETTLE_MS = 30_000;

const FINAL_STATES = new Set(['succeeded', 'failed', 'canceled']);

/** Whether a table's provisioningState is final (Succeeded, Failed or Canceled). */
export function isSettled(provisioningState: string): boolean {
  return FINAL_STATES.has(provisioningState.toLowerCase());
}

/** Thrown out of a plan callback: a bug of ours, not an Azure failure, so it surfaces as one. */
class PlanFailure {
  readonly error: unknown;
  constructor(error: unknown) {
    this.error = error;
  }
}

export async function syncTable<P extends TablePlanLike>(
  args: SyncTableArgs<P>,
): Promise<TableSyncResult<P>> {
  const random = args.random ?? Math.random;
  const maxAttempts = Math.max(1, Math.floor(args.maxAttempts));
  const state: LoopState<P> = {
    attempts: 0,
    writes: 0,
    settleWaits: 0,
    settleWaitedMs: 0,
    snapshot: null,
    plan: undefined,
    rejected: new Map(),
    refusalRounds: 0,
    backoffs: 0,
  };
  for (;;) {
    state.attempts += 1;
    const done = await attemptOnce(args, state, random, maxAttempts);
    if (done) return done;
  }
}

interface LoopState<P> {
  attempts: number;
  writes: number;
  settleWaits: number;
  settleWaitedMs: number;
  snapshot: TableSnapshot | null;
  plan: P | undefined;
  /** Kept across re-reads: Azure refused these routes' content, which a new etag does not change. */
  readonly rejected: Map<string, string>;
  refusalRounds: number;
  /** Waits made after a 429 or retryable conflict: the exponent of the backoff when Azure gives no Retry-After. */
  backoffs: number;
}

function resultOf<P extends TablePlanLike>(
  args: SyncTableArgs<P>,
  state: LoopState<P>,
  extra: { written?: boolean; error?: AzureError },
): TableSyncResult<P> {
  return {
    ref: args.ref,
    snapshot: state.snapshot,
    plan: state.plan,
    written: extra.written ?? false,
    attempts: state.attempts,
    writes: state.writes,
    settleWaits: state.settleWaits,
    rejected: state.rejected,
    ...(extra.error ? { error: extra.error } : {}),
  };
}

/** One read-plan(-write) round. Resolves the result when the sync is over, undefined to go round again. */
async function attemptOnce<P extends TablePlanLike>(
  args: SyncTableArgs<P>,
  state: LoopState<P>,
  random: () => number,
  maxAttempts: number,
): Promise<TableSyncResult<P> | undefined> {
  let operation = 'RouteTables_Get';
  try {
    if (args.signal?.aborted) return resultOf(args, state, { error: abortedError(operation, args.ref) });
    const read = await readSettled(args, state, random);
    if (read === null) {
      state.snapshot = null;
      args.logger.debug({ attempt: state.attempts }, 'route table not found');
      return resultOf(args, state, {});
    }
    state.snapshot = read;
    operation = 'RouteTables_CreateOrUpdate';
    const written = await planAndWrite(args, state, read, maxAttempts);
    return resultOf(args, state, { written });
  } catch (err) {
    if (err instanceof PlanFailure) throw err.error;
    const error = toAzureError(err, { operation, table: args.ref });
    return await afterFailure(args, state, error, operation, random, maxAttempts);
  }
}

/**
 * Decides what a failed round leads to: the result (a failure that is final, or the attempts spent), or,
 * after the wait Azure asks for, undefined to go round again.
 */
async function afterFailure<P extends TablePlanLike>(
  args: SyncTableArgs<P>,
  state: LoopState<P>,
  error: AzureError,
  operation: string,
  random: () => number,
  maxAttempts: number,
): Promise<TableSyncResult<P> | undefined> {
  const { ref, signal } = args;
  const log = args.logger;
  if (error.kind === 'Aborted' || signal?.aborted) {
    return resultOf(args, state, { error: error.kind === 'Aborted' ? error : abortedError(operation, ref) });
  }
  const again =
    error.kind === 'PreconditionFailed' || error.kind === 'Throttled' || error.kind === 'RetryableConflict';
  if (!again) return resultOf(args, state, { error });
  if (state.attempts >= maxAttempts) {
    return resultOf(args, state, {
      error: error.withMessage(`${error.message} (gave up after ${state.attempts} attempts)`),
    });
  }

  if (error.kind === 'PreconditionFailed') {
    // Someone else wrote the table: our etag is stale, so re-read and re-plan straight away.
    log.info(
      { attempt: state.attempts },
      'route table changed since it was read; re-reading and re-planning',
    );
    return undefined;
  }

  const backoff = args.backoff ?? DEFAULT_BACKOFF;
  const delayMs =
    error.retryAfterMs ??
    Math.floor(random() * Math.min(backoff.maxMs, backoff.baseMs * 2 ** state.backoffs));
  state.backoffs += 1;
  log.warn(
    {
      attempt: state.attempts,
      kind: error.kind,
      code: error.code,
      retryAfterMs: error.retryAfterMs,
      delayMs,
    },
    'Azure asked us to wait; retrying the route table after the delay',
  );
  try {
    await args.sleep(delayMs, signal);
  } catch {
    return resultOf(args, state, { error: abortedError(operation, ref) });
  }
  return undefined;
}

/**
 * Reads the table until its provisioningState is final. A table still Updating holds someone's write in
 * flight (or that of a writer that died): planning against it would count routes that are not in effect.
 */
async function readSettled<P extends TablePlanLike>(
  args: SyncTableArgs<P>,
  state: LoopState<P>,
  random: () => number,
): Promise<TableSnapshot | null> {
  const maxWaits = Math.max(0, Math.floor(args.maxSettleWaits ?? DEFAULT_MAX_SETTLE_WAITS));
  const maxMs = Math.max(0, args.maxSettleMs ?? DEFAULT_MAX_SETTLE_MS);
  const backoff = args.settleBackoff ?? DEFAULT_SETTLE_BACKOFF;
  for (;;) {
    const read = await args.store.read(args.ref, args.signal);
    if (read === null || isSettled(read.provisioningState)) return read;
    state.snapshot = read;
    // The bounds hold for the whole sync of the table, not per re-read after a 412.
    const waits = state.settleWaits;
    if (waits >= maxWaits || state.settleWaitedMs >= maxMs) {
      throw notSettledError(args.ref, read.provisioningState, waits + 1, state.settleWaitedMs);
    }
    const step = Math.min(backoff.maxMs, backoff.baseMs * 2 ** waits);
    const delayMs = Math.min(maxMs - state.settleWaitedMs, Math.floor(step / 2 + random() * (step / 2)));
    args.logger.info(
      { provisioningState: read.provisioningState, wait: waits + 1, delayMs },
      'route table is still being written; waiting before reading it again',
    );
    await args.sleep(delayMs, args.signal);
    state.settleWaitedMs += delayMs;
    state.settleWaits += 1;
  }
}

/**
 * Plans against one read and writes it. When Azure refuses the PUT with a 400 that names upserts of ours,
 * those are set aside and the rest is planned again on the same read (a 400 stored nothing, so the etag
 * still holds). Each round sets aside at least one more route, and the rounds are bounded besides.
 * Resolves whether a write reached Succeeded.
 */
async function planAndWrite<P extends TablePlanLike>(
  args: SyncTableArgs<P>,
  state: LoopState<P>,
  read: TableSnapshot,
  maxAttempts: number,
): Promise<boolean> {
  const log = args.logger;
  let roundCap: number | undefined;
  for (;;) {
    let plan: P;
    try {
      plan = args.plan(read.routes, read, state.rejected);
    } catch (err) {
      throw new PlanFailure(err);
    }
    state.plan = plan;
    // At most one extra round per upsert of the first plan, and never more rounds than that in all.
    roundCap ??= maxAttempts + plan.changes.upserts.length;
    if (!plan.hasChanges) {
      log.debug({ attempt: state.attempts, etag: read.etag }, 'route table in sync');
      return false;
    }
    if (args.dryRun) {
      log.debug(
        { upserts: plan.changes.upserts.length, deletes: plan.changes.deletes.length },
        'dry run: not writing route table',
      );
      return false;
    }

    state.writes += 1;
    try {
      state.snapshot = await args.store.write(read, plan.changes, args.signal);
    } catch (err) {
      const error = toAzureError(err, { operation: 'RouteTables_CreateOrUpdate', table: args.ref });
      const refused = refusedUpserts(error, plan.changes.upserts).filter(
        (r) => !state.rejected.has(r.addressPrefix),
      );
      if (refused.length === 0 || state.attempts + state.refusalRounds >= roundCap) throw error;
      state.refusalRounds += 1;
      const azure = error.azureMessage ?? error.message;
      for (const route of refused) {
        state.rejected.set(route.addressPrefix, azure);
        log.warn(
          { route: route.name, addressPrefix: route.addressPrefix, code: error.code },
          routeRefusedMessage(args.ref, route, azure),
        );
      }
      continue;
    }
    log.info(
      {
        attempt: state.attempts,
        upserts: plan.changes.upserts.length,
        deletes: plan.changes.deletes.length,
        etag: state.snapshot.etag,
      },
      'route table written',
    );
    return true;
  }
}

/**
 * The upserts a 400 names: by route name (alone or as the last segment of its resource id) or by address
 * prefix. A 400 that names none of them (an error of the table's, or of a route that is not ours) names
 * nothing we can set aside, and fails the table as it is.
 */
export function refusedUpserts(error: AzureError, upserts: readonly Route[]): Route[] {
  if (error.status !== 400) return [];
  const text = error.azureMessage ?? '';
  if (text === '') return [];
  return upserts.filter((r) => namesRoute(text, r.name) || namesPrefix(text, r.addressPrefix));
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A route name stands alone: not inside a longer name (node1 must not match node10's route). */
function namesRoute(text: string, name: string): boolean {
  if (name === '') return false;
  // Names are [A-Za-z0-9_.-] and never end with '.', so a '.' right after one ends a sentence.
  return new RegExp(`(?<![A-Za-z0-9_.-])${escape(name)}(?![A-Za-z0-9_-]|\\.[A-Za-z0-9_-])`, 'i').test(text);
}

/** A prefix stands alone: 10.200.1.0/24 is not inside 110.200.1.0/24 or 10.200.1.0/245. */
function namesPrefix(text: string, prefix: string): boolean {
  if (prefix === '') return false;
  return new RegExp(`(?<![0-9A-Za-z.:])${escape(prefix)}(?![0-9])`, 'i').test(text);
}
