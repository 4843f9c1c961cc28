// Runtime fault injection: each fault matches requests and applies a bounded number of times.
import type { Fault, FaultControl, FaultHandle, OperationName } from './types.ts';

export interface FaultContext {
  readonly method: string;
  readonly path: string;
  readonly operation: OperationName;
}

/** Faults that shape the async operation a request starts, rather than answering the request. */
export type LroFault = Extract<Fault, { kind: 'lroFailed' } | { kind: 'lroNeverFinishes' }>;
/** Faults that refuse one route of a write's body. */
export type RefuseRouteFault = Extract<Fault, { kind: 'refuseRoute' }>;
/** Faults that answer the request instead of the simulator. */
export type ResponderFault = Exclude<Fault, LroFault | RefuseRouteFault | { kind: 'latency' }>;

/** A route of a write's body, as refusal faults look at it. */
export interface RouteOfBody {
  readonly name: string;
  readonly id: string;
  /** Canonical CIDR, or the service tag lower-cased. */
  readonly prefixKey: string;
  readonly addressPrefix: string;
  readonly nextHopIpAddress?: string | undefined;
}

interface Entry {
  readonly id: number;
  readonly fault: Fault;
  hits: number;
  removed: boolean;
}

export class FaultRegistry implements FaultControl {
  #nextId = 1;
  #entries: Entry[] = [];

  add(fault: Fault): FaultHandle {
    if (fault.times !== undefined && (!Number.isInteger(fault.times) || fault.times < 1)) {
      throw new RangeError(`fault.times must be a positive integer, got ${fault.times}`);
    }
    if (fault.kind === 'refuseRoute' && fault.route === undefined && fault.prefix === undefined) {
      throw new RangeError('a refuseRoute fault needs a route name or a prefix');
    }
    const entry: Entry = { id: this.#nextId++, fault, hits: 0, removed: false };
    this.#entries.push(entry);
    return this.#handle(entry);
  }

  clear(): void {
    for (const entry of this.#entries) entry.removed = true;
    this.#entries = [];
  }

  list(): readonly FaultHandle[] {
    return this.#entries.map((entry) => this.#handle(entry));
  }

  /** Sum of the delays of every matching latency fault (each counts as applied). */
  takeLatency(context: FaultContext): number {
    let total = 0;
    for (const entry of this.#matching(context)) {
      if (entry.fault.kind !== 'latency') continue;
      this.#apply(entry);
      total += entry.fault.ms;
    }
    return total;
  }

  /** The first matching fault that answers the request, if any. */
  takeResponder(context: FaultContext): { readonly id: number; readonly fault: ResponderFault } | undefined {
    for (const entry of this.#matching(context)) {
      const fault = entry.fault;
      if (
        fault.kind === 'latency' ||
        fault.kind === 'lroFailed' ||
        fault.kind === 'lroNeverFinishes' ||
        fault.kind === 'refuseRoute'
      )
        continue;
      this.#apply(entry);
      return { id: entry.id, fault };
    }
    return undefined;
  }

  /** The first matching fault that shapes the async operation this request starts, if any. */
  takeLroFault(context: FaultContext): LroFault | undefined {
    for (const entry of this.#matching(context)) {
      const fault = entry.fault;
      if (fault.kind !== 'lroFailed' && fault.kind !== 'lroNeverFinishes') continue;
      this.#apply(entry);
      return fault;
    }
    return undefined;
  }

  /** The first refusal that matches the request and one of the routes its body holds, with that route. */
  takeRefusal(
    context: FaultContext,
    routes: readonly RouteOfBody[],
    canonicalPrefix: (prefix: string) => string,
  ): { readonly fault: RefuseRouteFault; readonly route: RouteOfBody } | undefined {
    for (const entry of this.#matching(context)) {
      const fault = entry.fault;
      if (fault.kind !== 'refuseRoute') continue;
      const wantedPrefix = fault.prefix === undefined ? undefined : canonicalPrefix(fault.prefix);
      const route = routes.find(
        (r) =>
          (fault.route === undefined || r.name.toLowerCase() === fault.route.toLowerCase()) &&
          (wantedPrefix === undefined || r.prefixKey === wantedPrefix),
      );
      if (!route) continue;
      this.#apply(entry);
      return { fault, route };
    }
    return undefined;
  }

  *#matching(context: FaultContext): Generator<Entry> {
    // Iterate over a snapshot: applying a fault may spend and remove it.
    for (const entry of [...this.#entries]) {
      if (!entry.removed && matches(entry.fault, context)) yield entry;
    }
  }

  #apply(entry: Entry): void {
    entry.hits++;
    if (entry.fault.times !== undefined && entry.hits >= entry.fault.times) this.#remove(entry);
  }

  #remove(entry: Entry): void {
    entry.removed = true;
    this.#entries = this.#entries.filter((e) => e !== entry);
  }

  #handle(entry: Entry): FaultHandle {
    return {
      id: entry.id,
      fault: entry.fault,
      get hits() {
        return entry.hits;
      },
      remove: () => this.#remove(entry),
    };
  }
}

function matches(fault: Fault, context: FaultContext): boolean {
  const match = fault.match;
  if (!match) return true;
  if (match.method !== undefined && match.method.toUpperCase() !== context.method.toUpperCase()) return false;
  if (match.operation !== undefined && match.operation !== context.operation) return false;
  if (
    match.pathIncludes !== undefined &&
    !context.path.toLowerCase().includes(match.pathIncludes.toLowerCase())
  ) {
    return false;
  }
  return true;
}
