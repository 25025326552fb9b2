/**
 * Retrying registry requests: which failures are worth another try (429,
 * 5xx, dropped connections: a {@link TransientRegistryError}), how long to
 * wait (exponential backoff with jitter, or the server's `Retry-After`),
 * and the loop that retries a piece of work within a policy.
 *
 * @module
 */
import { RegistryError } from "../errors.ts";

/** How often and how patiently to retry. */
export interface RetryPolicy {
  /** Retries after the first attempt (0 = never retry). */
  maxRetries: number;
  /** First backoff delay in milliseconds; doubles on each retry. */
  baseDelayMs: number;
  /** Upper bound of one computed backoff delay. */
  maxDelayMs: number;
}

/** Default policy: 5 retries, 200 ms doubling, at most 10 s per wait. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxRetries: 5,
  baseDelayMs: 200,
  maxDelayMs: 10_000,
};

/** Longest `Retry-After` honoured, in milliseconds (5 minutes). */
export const MAX_RETRY_AFTER_MS = 300_000;

/**
 * True for HTTP statuses that mean "try again later": 408, 429, and 5xx
 * except 501 (not implemented) and 505 (version not supported).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isRetryableStatus } from "./retry.ts";
 * assert.ok(isRetryableStatus(429) && isRetryableStatus(503) && !isRetryableStatus(404));
 * ```
 */
export function isRetryableStatus(status: number): boolean {
  if (status === 408 || status === 429) return true;
  return status >= 500 && status <= 599 && status !== 501 && status !== 505;
}

/**
 * Parses a `Retry-After` value (delta seconds or an HTTP date) into
 * milliseconds from `now`; `undefined` when absent or unparsable.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRetryAfter } from "./retry.ts";
 * assert.ok(parseRetryAfter("2") === 2000);
 * assert.ok(parseRetryAfter("soon") === undefined);
 * ```
 */
export function parseRetryAfter(
  value: string | null,
  now: number = Date.now(),
): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Math.min(Number(text) * 1000, MAX_RETRY_AFTER_MS);
  const when = Date.parse(text);
  if (Number.isNaN(when)) return undefined;
  return Math.min(Math.max(0, when - now), MAX_RETRY_AFTER_MS);
}

/**
 * The wait before retry number `attempt` (1-based): the server's
 * `Retry-After` when given, else `base * 2^(attempt-1)` capped at `max`,
 * with up to 25 % random jitter added.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { backoffDelayMs, DEFAULT_RETRY_POLICY } from "./retry.ts";
 * const d = backoffDelayMs(1, undefined, DEFAULT_RETRY_POLICY);
 * assert.ok(d >= 200 && d <= 250);
 * assert.ok(backoffDelayMs(3, 1500, DEFAULT_RETRY_POLICY) === 1500);
 * ```
 */
export function backoffDelayMs(
  attempt: number,
  retryAfterMs: number | undefined,
  policy: RetryPolicy,
): number {
  if (retryAfterMs !== undefined) return retryAfterMs;
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp + exp * 0.25 * Math.random());
}

/**
 * Resolves after `ms` milliseconds; when `signal` aborts first, the timer
 * is cleared and the wait rejects with the signal's reason (at once when
 * it is already aborted).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sleep } from "./retry.ts";
 * await sleep(1);
 * const reason = new Error("stop");
 * await assert.rejects(sleep(60_000, AbortSignal.abort(reason)), (e) => e === reason);
 * ```
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal === undefined) return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, Math.max(0, ms));
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * A {@link RegistryError} for a failure worth another try: 408, 429, most
 * 5xx, a dropped, refused or stalled connection. {@link retrying} retries these; a
 * request made with `{ retry: false }` throws the first one so the caller
 * can decide what to do next. When retries run out, the last one is thrown
 * as a plain `RegistryError` (so an outer loop does not retry it again).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TransientRegistryError } from "./retry.ts";
 * const e = new TransientRegistryError("r: put manifest a:t: 429 Too Many Requests",
 *   { status: 429, retryAfterMs: 1000 });
 * assert.ok(e.status === 429 && e.retryAfterMs === 1000 && e.kind === "registry");
 * ```
 */
export class TransientRegistryError extends RegistryError {
  /** The server's `Retry-After`, in milliseconds, when it sent one. */
  readonly retryAfterMs?: number;
  /**
   * Most retries worth spending on this failure when fewer than the
   * policy's (a refused connection to a host that never answered is
   * probably a typo, not a restart).
   */
  readonly maxRetries?: number;
  /**
   * A transient failure.
   *
   * @param message one line naming the host, the action and the failure.
   * @param options the HTTP status and OCI code (when there was a
   *   response), `Retry-After`, a retry limit, the cause.
   */
  constructor(
    message: string,
    options: ErrorOptions & {
      status?: number;
      code?: string;
      retryAfterMs?: number;
      maxRetries?: number;
    } = {},
  ) {
    super(message, options);
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
    if (options.maxRetries !== undefined) this.maxRetries = options.maxRetries;
  }
}

/** What {@link retrying} needs besides the work: the policy, a way to wait, a trace. */
export interface RetryContext {
  /** How often and how patiently. */
  policy: RetryPolicy;
  /** Waits `ms` before the next attempt; may throw (e.g. past a deadline). */
  wait(ms: number, action: string): Promise<void>;
  /** Receives `http retry <action> in <ms> ms` lines. */
  trace?(line: string): void;
  /** Stops retrying: once it aborts, the work fails with its reason (no more attempts). */
  signal?: AbortSignal;
}

/**
 * Runs `fn`, retrying it after each {@link TransientRegistryError} with
 * backoff until the policy's (or the error's own) retry limit; other
 * errors end it at once. When retries run out the last failure is thrown
 * as a plain `RegistryError`. Once `ctx.signal` aborts, it fails with the
 * signal's reason.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { retrying, TransientRegistryError } from "./retry.ts";
 * let calls = 0;
 * const ctx = { policy: { maxRetries: 3, baseDelayMs: 1, maxDelayMs: 1 }, wait: async () => {} };
 * const got = await retrying("count", async () => {
 *   if (++calls < 3) throw new TransientRegistryError("busy", { status: 503 });
 *   return calls;
 * }, ctx);
 * assert.ok(got === 3);
 * ```
 */
export async function retrying<T>(
  action: string,
  fn: () => Promise<T>,
  ctx: RetryContext,
): Promise<T> {
  for (let attempt = 0;; attempt++) {
    ctx.signal?.throwIfAborted();
    try {
      return await fn();
    } catch (e) {
      // Stopped from outside: whatever the attempt failed with, it is the reason.
      if (ctx.signal?.aborted) throw ctx.signal.reason;
      if (!(e instanceof TransientRegistryError)) throw e;
      const limit = Math.min(ctx.policy.maxRetries, e.maxRetries ?? Infinity);
      if (attempt >= limit) {
        throw new RegistryError(e.message, { status: e.status, code: e.code, cause: e });
      }
      const delay = backoffDelayMs(attempt + 1, e.retryAfterMs, ctx.policy);
      ctx.trace?.(`http retry ${action} in ${delay} ms`);
      await ctx.wait(delay, action);
    }
  }
}
