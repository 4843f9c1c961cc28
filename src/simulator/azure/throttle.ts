// ARM's request limits: one token bucket per subscription and kind, refilled continuously by the injected clock.
import type { ThrottlingOptions, TokenBucketOptions } from './types.ts';

export type RequestKind = 'read' | 'write' | 'delete';

export type TakeResult =
  | { readonly ok: true; readonly remaining: number }
  | { readonly ok: false; readonly retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  last: number;
}

export class Throttle {
  #options: ThrottlingOptions | undefined;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: ThrottlingOptions | undefined, now: () => number) {
    this.#options = options;
    this.#now = now;
  }

  configure(options: ThrottlingOptions | undefined): void {
    this.#options = options;
    this.#buckets.clear();
  }

  /** Takes one token. Without a configured bucket for this kind, always succeeds (remaining undefined). */
  take(kind: RequestKind, subscriptionId: string): TakeResult | undefined {
    const config = this.#config(kind);
    if (!config) return undefined;
    const bucket = this.#bucket(kind, subscriptionId, config);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true, remaining: Math.floor(bucket.tokens) };
    }
    const seconds = config.refillPerSecond > 0 ? (1 - bucket.tokens) / config.refillPerSecond : 60;
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(seconds)) };
  }

  /** Tokens left now, without taking one. */
  remaining(kind: RequestKind, subscriptionId: string): number | undefined {
    const config = this.#config(kind);
    if (!config) return undefined;
    return Math.floor(this.#bucket(kind, subscriptionId, config).tokens);
  }

  #config(kind: RequestKind): TokenBucketOptions | undefined {
    if (kind === 'read') return this.#options?.reads;
    if (kind === 'delete') return this.#options?.deletes ?? this.#options?.writes;
    return this.#options?.writes;
  }

  #bucket(kind: RequestKind, subscriptionId: string, config: TokenBucketOptions): Bucket {
    // Without a deletes bucket of their own, DELETEs draw on the writes bucket.
    const bucketKind = kind === 'delete' && this.#options?.deletes === undefined ? 'write' : kind;
    const key = `${bucketKind}:${subscriptionId.toLowerCase()}`;
    const now = this.#now();
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      bucket = { tokens: config.bucket, last: now };
      this.#buckets.set(key, bucket);
      return bucket;
    }
    const elapsed = Math.max(0, now - bucket.last);
    bucket.tokens = Math.min(config.bucket, bucket.tokens + (elapsed / 1000) * config.refillPerSecond);
    bucket.last = now;
    return bucket;
  }
}
