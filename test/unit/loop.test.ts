import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ReconcileLoop, type RunOutcome } from '../../src/controller/loop.ts';
import { ManualTimers } from '../support/manual-timers.ts';

const silent = pino({ level: 'silent' });

function setup(opts: { outcomes?: RunOutcome[]; runMs?: number; random?: number } = {}) {
  const timers = new ManualTimers();
  const runs: { at: number; reason: string }[] = [];
  const aborted: number[] = [];
  const outcomes = [...(opts.outcomes ?? [])];
  const loop = new ReconcileLoop(
    async (signal, reason) => {
      runs.push({ at: timers.now(), reason });
      if (opts.runMs) {
        await new Promise<void>((resolve) => {
          const cancel = timers.setTimeout(resolve, opts.runMs!);
          signal.addEventListener('abort', () => {
            cancel();
            aborted.push(timers.now());
            resolve();
          });
        });
      }
      return outcomes.shift() ?? { ok: true };
    },
    {
      debounceMs: 200,
      maxDelayMs: 2_000,
      resyncMs: 60_000,
      backoff: { baseMs: 1_000, maxMs: 60_000 },
      timers,
      random: () => opts.random ?? 0.5,
      logger: silent,
    },
  );
  return { timers, runs, aborted, loop };
}

describe('ReconcileLoop', () => {
  it('runs once at start, at once (nothing to coalesce yet), even when triggers follow before it begins', async () => {
    const { timers, runs, loop } = setup();
    loop.start();
    loop.trigger('node-a');
    await timers.advance(0);
    expect(runs).toEqual([{ at: 0, reason: 'start,node-a' }]);
    await timers.advance(1_000);
    expect(runs).toHaveLength(1);
  });

  it('debounces the triggers after the start reconcile', async () => {
    const { timers, runs, loop } = setup();
    loop.start();
    await timers.advance(0);
    loop.trigger('node-a');
    await timers.advance(199);
    expect(runs.map((r) => r.reason)).toEqual(['start']);
    await timers.advance(1);
    expect(runs).toEqual([
      { at: 0, reason: 'start' },
      { at: 200, reason: 'node-a' },
    ]);
  });

  it('coalesces a burst of 400 triggers into one reconcile', async () => {
    const { timers, runs, loop } = setup();
    loop.start();
    await timers.advance(1_000);
    runs.length = 0;
    for (let i = 0; i < 400; i++) loop.trigger(`node-${i}`);
    await timers.advance(1_000);
    expect(runs).toHaveLength(1);
    expect(runs[0]!.reason.split(',')).toHaveLength(400);
  });

  it('never delays a trigger beyond maxDelay, however often triggers come', async () => {
    const { timers, runs, loop } = setup();
    loop.start();
    await timers.advance(1_000);
    runs.length = 0;
    const startedAt = timers.now();
    for (let i = 0; i < 30; i++) {
      loop.trigger('churn');
      await timers.advance(100); // always inside the debounce window
    }
    expect(runs.length).toBeGreaterThanOrEqual(1);
    expect(runs[0]!.at - startedAt).toBeLessThanOrEqual(2_000);
  });

  it('runs one at a time, and once more when triggered during a run', async () => {
    const { timers, runs, loop } = setup({ runMs: 5_000 });
    loop.start();
    await timers.advance(300);
    expect(runs).toHaveLength(1);
    loop.trigger('a');
    loop.trigger('b');
    await timers.advance(4_000);
    expect(runs).toHaveLength(1); // still running
    await timers.advance(1_500);
    expect(runs).toHaveLength(2);
    expect(runs[1]!.reason).toBe('a,b');
  });

  it('backs off with jitter after failures and honours a server-given Retry-After', async () => {
    const { timers, runs, loop } = setup({
      outcomes: [{ ok: false }, { ok: false }, { ok: false, retryAfterMs: 30_000 }, { ok: true }],
      random: 0,
    });
    loop.start();
    await timers.advance(0);
    expect(runs).toHaveLength(1);
    // First failure: 1 s base, equal jitter with random 0 gives 0.5 s.
    await timers.advance(499);
    expect(runs).toHaveLength(1);
    await timers.advance(1);
    expect(runs).toHaveLength(2);
    // Second failure: 2 s step -> 1 s.
    await timers.advance(999);
    expect(runs).toHaveLength(2);
    await timers.advance(1);
    expect(runs).toHaveLength(3);
    // Third failure asks for 30 s: nothing may run earlier, even when a node changes.
    loop.trigger('node-added');
    await timers.advance(29_999);
    expect(runs).toHaveLength(3);
    await timers.advance(1);
    expect(runs).toHaveLength(4);
    expect(loop.status().failures).toBe(0);
  });

  it('resyncs periodically', async () => {
    const { timers, runs, loop } = setup();
    loop.start();
    await timers.advance(180_500);
    expect(runs.map((r) => r.reason)).toEqual(['start', 'resync', 'resync', 'resync']);
  });

  it('stop lets the run in flight finish within the grace period, then aborts it', async () => {
    const finishing = setup({ runMs: 1_000 });
    finishing.loop.start();
    await finishing.timers.advance(300);
    const stopped = finishing.loop.stop(5_000);
    await finishing.timers.advance(1_000);
    await stopped;
    expect(finishing.aborted).toEqual([]);

    const slow = setup({ runMs: 60_000 });
    slow.loop.start();
    await slow.timers.advance(300);
    const stopping = slow.loop.stop(5_000);
    await slow.timers.advance(5_000);
    await stopping;
    expect(slow.aborted).toEqual([5_300]);
    slow.loop.trigger('after-stop');
    await slow.timers.advance(10_000);
    expect(slow.runs).toHaveLength(1);
  });
});
