/** Time as the controller sees it. Injected, so tests drive it without sleeping. */
export interface Timers {
  now(): number;
  /** Calls fn after ms; returns a function that cancels it. */
  setTimeout(fn: () => void, ms: number): () => void;
}

export const realTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

/** A sleep that an AbortSignal cuts short (it then rejects with the signal's reason). */
export function sleepWith(timers: Timers) {
  return (ms: number, signal?: AbortSignal): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        cancel();
        reject(signal!.reason);
      };
      const cancel = timers.setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
}
