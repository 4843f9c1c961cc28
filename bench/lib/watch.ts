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

/** What PatchWatch reads: the fake API server's request log (append-only between resets). */
interface KubeRequestLog {
  readonly requests: readonly {
    readonly method: string;
    readonly path: string;
    readonly status: number;
    readonly settledSeq?: number | undefined;
    readonly body?: unknown;
  }[];
}

/**
 * Notes when each node's NetworkUnavailable condition was answered patched to False/RouteCreated by the fake
 * API server: the moment the controller reports the node ready. Reads the server's request log every few ms.
 */
export class RouteCreatedWatch {
  readonly #kube: KubeRequestLog;
  readonly #at = new Map<string, number>();
  readonly #waiting = new Map<string, ((time: number) => void)[]>();
  #seen = 0;
  #unsettled: number[] = [];
  readonly #timer: NodeJS.Timeout;

  constructor(kube: KubeRequestLog, intervalMs = 5) {
    this.#kube = kube;
    this.#timer = setInterval(() => this.#tick(), intervalMs);
  }

  /** Resolves with Date.now() when the node's condition patch to RouteCreated was first seen answered. */
  when(node: string): Promise<number> {
    const at = this.#at.get(node);
    if (at !== undefined) return Promise.resolve(at);
    return new Promise((resolve) => {
      const list = this.#waiting.get(node) ?? [];
      list.push(resolve);
      this.#waiting.set(node, list);
    });
  }

  /** Nodes reported RouteCreated so far. */
  get count(): number {
    return this.#at.size;
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  #tick(): void {
    const log = this.#kube.requests;
    const now = Date.now();
    // Requests settle out of order (and a watch never does): recheck the unsettled ones on each tick.
    const unsettled: number[] = [];
    const check = (i: number) => {
      const r = log[i]!;
      if (r.method !== 'PATCH' || !r.path.endsWith('/status')) return;
      if (r.settledSeq === undefined) {
        unsettled.push(i);
        return;
      }
      if (r.status < 200 || r.status >= 300 || !JSON.stringify(r.body ?? '').includes('RouteCreated')) return;
      const node = /\/nodes\/([^/]+)\/status$/.exec(r.path)?.[1];
      if (node === undefined || this.#at.has(node)) return;
      this.#at.set(node, now);
      for (const resolve of this.#waiting.get(node) ?? []) resolve(now);
      this.#waiting.delete(node);
    };
    for (const i of this.#unsettled) check(i);
    for (; this.#seen < log.length; this.#seen++) check(this.#seen);
    this.#unsettled = unsettled;
  }
}
