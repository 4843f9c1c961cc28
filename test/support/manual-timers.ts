import type { Timers } from '../../src/support/timers.ts';

/**
 * A manual clock for tests: time moves only when the test calls advance(), and due timers fire in order.
 */
export class ManualTimers implements Timers {
  private time = 0;
  private seq = 0;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): () => void {
    const id = this.seq++;
    this.pending.set(id, { at: this.time + Math.max(0, ms), fn });
    return () => this.pending.delete(id);
  }

  /** Moves time forward by ms, firing due timers (and letting promise callbacks run between them). */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    for (;;) {
      await flushMicrotasks();
      let nextId: number | undefined;
      let next: { at: number; fn: () => void } | undefined;
      for (const [id, t] of this.pending) {
        if (t.at <= end && (next === undefined || t.at < next.at)) {
          next = t;
          nextId = id;
        }
      }
      if (next === undefined || nextId === undefined) break;
      this.pending.delete(nextId);
      this.time = next.at;
      next.fn();
    }
    this.time = end;
    await flushMicrotasks();
  }

  get pendingTimers(): number {
    return this.pending.size;
  }
}

async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise<void>((r) => setImmediate(r));
}
