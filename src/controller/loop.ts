// The controller's work queue, reduced to what a level-based reconciler needs: one "dirty" bit.
// Every trigger marks the cluster dirty; one worker coalesces a burst into one reconcile after a short debounce
// (bounded by a maximum delay), never runs two at once, re-runs if something changed meanwhile, resyncs
// periodically, and backs off with jitter after a failure.
import type { Logger } from 'pino';
import type { Timers } from '../support/timers.ts';

export interface LoopOptions {
  /** Quiet time after the last trigger before reconciling. */
  readonly debounceMs: number;
  /** Longest a trigger waits, however many follow it. */
  readonly maxDelayMs: number;
  /** Period of the drift-repair resync. */
  readonly resyncMs: number;
  readonly backoff: { readonly baseMs: number; readonly maxMs: number };
  readonly timers: Timers;
  readonly random: () => number;
  readonly logger: Logger;
}

export interface RunOutcome {
  readonly ok: boolean;
  /** When the failure came with a server-given wait (Retry-After), the next attempt waits at least this long. */
  readonly retryAfterMs?: number | undefined;
}

export type RunFn = (signal: AbortSignal, reason: string) => Promise<RunOutcome>;

export class ReconcileLoop {
  private dirty = false;
  /** The first reconcile after start() is due at once, whatever triggers follow it before it begins. */
  private runNow = false;
  private reasons = new Set<string>();
  private firstDirtyAt: number | undefined;
  private lastTriggerAt = 0;
  private backoffUntil = 0;
  private failures = 0;
  private cancelTimer: (() => void) | undefined;
  private cancelResync: (() => void) | undefined;
  private inFlight: { controller: AbortController; done: Promise<void>; since: number } | undefined;
  private active = false;
  private lastSuccessAt: number | undefined;
  private lastFinishedAt: number | undefined;
  private readonly options: LoopOptions;
  private readonly run: RunFn;

  constructor(run: RunFn, options: LoopOptions) {
    this.run = run;
    this.options = options;
  }

  /**
   * Starts taking work (on becoming leader): an immediate reconcile, then triggers and resyncs. The first one
   * does not wait out the debounce: there is no burst to coalesce yet (the node cache is read whole), and a
   * cold start or a hand-over should not pay the quiet time before its first write. Triggers that arrive while
   * it runs are coalesced into one re-run, as always.
   */
  start(): void {
    if (this.active) return;
    this.active = true;
    this.scheduleResync();
    this.runNow = true;
    this.trigger('start');
  }

  /**
   * Stops taking work. The reconcile in flight may finish within `graceMs`; after that it is aborted
   * (its writes stop at the next await; a PUT already sent is either confirmed by Azure or re-read next time).
   */
  async stop(graceMs = 0): Promise<void> {
    this.active = false;
    this.runNow = false;
    this.cancelTimer?.();
    this.cancelResync?.();
    this.cancelTimer = this.cancelResync = undefined;
    this.dirty = false;
    const flight = this.inFlight;
    if (!flight) return;
    if (graceMs > 0) {
      let cancelGrace: (() => void) | undefined;
      const graceOver = new Promise<void>((resolve) => {
        cancelGrace = this.options.timers.setTimeout(resolve, graceMs);
      });
      await Promise.race([flight.done, graceOver]);
      cancelGrace?.();
    }
    if (this.inFlight === flight) flight.controller.abort(new Error('controller stopping'));
    await flight.done;
  }

  /** Resolves once no reconcile is in flight (at once when none is). */
  async whenIdle(): Promise<void> {
    while (this.inFlight) await this.inFlight.done;
  }

  trigger(reason: string): void {
    if (!this.active) return;
    const now = this.options.timers.now();
    this.dirty = true;
    this.reasons.add(reason);
    this.firstDirtyAt ??= now;
    this.lastTriggerAt = now;
    this.schedule();
  }

  /** For /healthz: a reconcile running for longer than this is considered wedged. */
  runningForMs(): number | undefined {
    return this.inFlight ? this.options.timers.now() - this.inFlight.since : undefined;
  }

  status(): {
    active: boolean;
    lastSuccessAt?: number | undefined;
    lastFinishedAt?: number | undefined;
    failures: number;
  } {
    return {
      active: this.active,
      lastSuccessAt: this.lastSuccessAt,
      lastFinishedAt: this.lastFinishedAt,
      failures: this.failures,
    };
  }

  private schedule(): void {
    if (!this.active || !this.dirty || this.inFlight) return;
    const { debounceMs, maxDelayMs, timers } = this.options;
    const quietUntil = this.runNow
      ? timers.now()
      : Math.min(this.lastTriggerAt + debounceMs, (this.firstDirtyAt ?? this.lastTriggerAt) + maxDelayMs);
    const due = Math.max(quietUntil, this.backoffUntil);
    this.cancelTimer?.();
    this.cancelTimer = timers.setTimeout(() => this.fire(), Math.max(0, due - timers.now()));
  }

  private scheduleResync(): void {
    this.cancelResync?.();
    this.cancelResync = this.options.timers.setTimeout(() => {
      this.trigger('resync');
      if (this.active) this.scheduleResync();
    }, this.options.resyncMs);
  }

  private fire(): void {
    this.cancelTimer = undefined;
    if (!this.active || !this.dirty || this.inFlight) return;
    const reason = [...this.reasons].join(',');
    this.dirty = false;
    this.runNow = false;
    this.reasons = new Set();
    this.firstDirtyAt = undefined;
    const controller = new AbortController();
    const since = this.options.timers.now();
    const done = this.execute(controller.signal, reason).finally(() => {
      this.inFlight = undefined;
      this.schedule();
    });
    this.inFlight = { controller, done, since };
  }

  private async execute(signal: AbortSignal, reason: string): Promise<void> {
    let outcome: RunOutcome;
    try {
      outcome = await this.run(signal, reason);
    } catch (err) {
      if (signal.aborted) return;
      this.options.logger.error(
        { err: err instanceof Error ? err.message : String(err) },
        'reconcile failed',
      );
      outcome = { ok: false };
    }
    const now = this.options.timers.now();
    this.lastFinishedAt = now;
    if (outcome.ok) {
      this.failures = 0;
      this.backoffUntil = 0;
      this.lastSuccessAt = now;
      return;
    }
    if (signal.aborted) return;
    this.failures++;
    const { baseMs, maxMs } = this.options.backoff;
    const exponential = Math.min(maxMs, baseMs * 2 ** Math.min(this.failures - 1, 30));
    // Equal jitter: never less than half the step, so a failing dependency is never hammered.
    const delay = Math.max(exponential * (0.5 + this.options.random() / 2), outcome.retryAfterMs ?? 0);
    this.backoffUntil = now + delay;
    this.options.logger.warn(
      { failures: this.failures, retryInMs: Math.round(delay) },
      'reconcile will be retried',
    );
    if (this.active) {
      this.dirty = true;
      this.reasons.add('retry');
      this.firstDirtyAt ??= now;
      this.lastTriggerAt = now;
    }
  }
}
