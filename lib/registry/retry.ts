/**
 * Retry policy for registry requests: which failures are worth another
 * try (429, 5xx, dropped connections), how long to wait (exponential
 * backoff with jitter, or the server's `Retry-After`), and a sleep that
 * respects a deadline.
 *
 * @module
 */

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
 * Resolves after `ms` milliseconds.
 *
 * @example
 * ```ts
 * import { sleep } from "./retry.ts";
 * await sleep(1);
 * ```
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
