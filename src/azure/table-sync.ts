// The per-table write loop (DESIGN 2.4), shared by sync-routes and the controller:
// read -> plan -> (nothing to do | dry run) -> one guarded PUT -> Succeeded.
// 412: someone else wrote the table, so re-read and re-plan at once. 429 / retryable 409: wait as Azure
// asks (or back off with full jitter), then re-read and retry. Anything else fails the table.
// The plan is a callback, so this module knows nothing of the planner.
import type { Logger } from 'pino';
import type { Route } from '../domain/types.ts';
import { AzureError, abortedError, toAzureError } from './errors.ts';
import type { RouteChanges, RouteTableStore, TableRef, TableSnapshot } from './types.ts';

/** What syncTable needs from a plan; the caller's plan type is carried through to the result. */
export interface TablePlanLike {
  readonly changes: RouteChanges;
  readonly hasChanges: boolean;
}

export interface SyncTableArgs<P extends TablePlanLike> {
  readonly store: RouteTableStore;
  readonly ref: TableRef;
  /** Plans against the routes as read. Called again after every re-read. */
  readonly plan: (routes: readonly Route[], snapshot: TableSnapshot) => P;
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
  readonly error?: AzureError | undefined;
}

export const DEFAULT_BACKOFF = { baseMs: 1_000, maxMs: 30_000 } as const;

export async function syncTable<P extends TablePlanLike>(
  args: SyncTableArgs<P>,
): Promise<TableSyncResult<P>> {
  const { store, ref, signal } = args;
  const log = args.logger;
  const random = args.random ?? Math.random;
  const backoff = args.backoff ?? DEFAULT_BACKOFF;
  const maxAttempts = Math.max(1, Math.floor(args.maxAttempts));

  let attempts = 0;
  let writes = 0;
  let backoffs = 0;
  let snapshot: TableSnapshot | null = null;
  let plan: P | undefined;

  const result = (extra: { written?: boolean; error?: AzureError }): TableSyncResult<P> => ({
    ref,
    snapshot,
    plan,
    written: extra.written ?? false,
    attempts,
    writes,
    ...(extra.error ? { error: extra.error } : {}),
  });

  for (;;) {
    attempts += 1;
    let operation = 'RouteTables_Get';
    let planning = false;
    try {
      if (signal?.aborted) return result({ error: abortedError(operation, ref) });

      const read = await store.read(ref, signal);
      if (read === null) {
        snapshot = null;
        log.debug({ attempt: attempts }, 'route table not found');
        return result({});
      }
      snapshot = read;
      planning = true;
      plan = args.plan(read.routes, read);
      planning = false;
      if (!plan.hasChanges) {
        log.debug({ attempt: attempts, etag: read.etag }, 'route table in sync');
        return result({});
      }
      if (args.dryRun) {
        log.debug(
          { upserts: plan.changes.upserts.length, deletes: plan.changes.deletes.length },
          'dry run: not writing route table',
        );
        return result({});
      }

      operation = 'RouteTables_CreateOrUpdate';
      writes += 1;
      snapshot = await store.write(read, plan.changes, signal);
      log.info(
        {
          attempt: attempts,
          upserts: plan.changes.upserts.length,
          deletes: plan.changes.deletes.length,
          etag: snapshot.etag,
        },
        'route table written',
      );
      return result({ written: true });
    } catch (err) {
      // A throwing plan is a bug of ours, not an Azure failure: let it surface as one.
      if (planning) throw err;
      const error = toAzureError(err, { operation, table: ref });
      if (error.kind === 'Aborted' || signal?.aborted) {
        return result({ error: error.kind === 'Aborted' ? error : abortedError(operation, ref) });
      }
      const again =
        error.kind === 'PreconditionFailed' ||
        error.kind === 'Throttled' ||
        error.kind === 'RetryableConflict';
      if (!again) return result({ error });
      if (attempts >= maxAttempts) {
        return result({ error: error.withMessage(`${error.message} (gave up after ${attempts} attempts)`) });
      }

      if (error.kind === 'PreconditionFailed') {
        // Someone else wrote the table: our etag is stale, so re-read and re-plan straight away.
        log.info({ attempt: attempts }, 'route table changed since it was read; re-reading and re-planning');
        continue;
      }

      const delayMs =
        error.retryAfterMs ?? Math.floor(random() * Math.min(backoff.maxMs, backoff.baseMs * 2 ** backoffs));
      backoffs += 1;
      log.warn(
        { attempt: attempts, kind: error.kind, code: error.code, retryAfterMs: error.retryAfterMs, delayMs },
        'Azure asked us to wait; retrying the route table after the delay',
      );
      try {
        await args.sleep(delayMs, signal);
      } catch {
        return result({ error: abortedError(operation, ref) });
      }
    }
  }
}
