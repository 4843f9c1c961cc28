// Watches a route table in the simulator from the outside, as an observer in Azure would: every few
// milliseconds it reads the table (which lets a finished long-running operation take effect at the moment it
// is due) and resolves the conditions that have become true, with the time they were first seen.
import type { SimpleRoute } from '../../src/simulator/azure.ts';

/** The table's routes by address prefix. */
export type RouteIndex = ReadonlyMap<string, SimpleRoute>;

interface Pending {
  readonly test: (index: RouteIndex) => boolean;
  readonly resolve: (time: number) => void;
}

export class TableWatch {
  readonly #read: () => readonly SimpleRoute[];
  readonly #intervalMs: number;
  #pending: Pending[] = [];
  #timer: NodeJS.Timeout | undefined;
  #ticks = 0;

  constructor(read: () => readonly SimpleRoute[], intervalMs = 10) {
    this.#read = read;
    this.#intervalMs = intervalMs;
  }

  /** Resolves with Date.now() at the first check where `test` holds (checked at once, then every tick). */
  when(test: (index: RouteIndex) => boolean): Promise<number> {
    return new Promise((resolve) => {
      if (test(this.#index())) {
        resolve(Date.now());
        return;
      }
      this.#pending.push({ test, resolve });
      this.#timer ??= setInterval(() => this.#tick(), this.#intervalMs);
    });
  }

  /** The table as it is now. */
  index(): RouteIndex {
    return this.#index();
  }

  get ticks(): number {
    return this.#ticks;
  }

  get pending(): number {
    return this.#pending.length;
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #index(): Map<string, SimpleRoute> {
    const index = new Map<string, SimpleRoute>();
    for (const route of this.#read()) index.set(route.addressPrefix, route);
    return index;
  }

  #tick(): void {
    this.#ticks++;
    if (this.#pending.length === 0) return;
    const now = Date.now();
    const index = this.#index();
    const still: Pending[] = [];
    for (const p of this.#pending) {
      if (p.test(index)) p.resolve(now);
      else still.push(p);
    }
    this.#pending = still;
    if (still.length === 0) this.stop();
  }
}

/** The route for `route.addressPrefix` is in place, with our next hop. */
export function hasRoute(index: RouteIndex, route: SimpleRoute): boolean {
  const found = index.get(route.addressPrefix);
  return (
    found !== undefined &&
    found.nextHopType === route.nextHopType &&
    found.nextHopIpAddress === route.nextHopIpAddress
  );
}

/** How many of `routes` are in place. */
export function countPresent(index: RouteIndex, routes: readonly SimpleRoute[]): number {
  let n = 0;
  for (const r of routes) if (hasRoute(index, r)) n++;
  return n;
}
