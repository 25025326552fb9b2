/**
 * The `CREATED` column of `soci index list` / `prefetch list`: how long ago
 * something was created, in Go duration text (`5s ago`), or `n/a`.
 *
 * @module
 */
import { formatDuration, MILLISECOND, roundDuration, SECOND } from "../go/duration.ts";

/** A point in time for {@link createdText}: a `Date`, or Unix time in nanoseconds. */
export type Instant = Date | bigint;

function toUnixNanos(t: Instant): bigint | undefined {
  if (typeof t === "bigint") return t;
  const ms = t.getTime();
  return Number.isNaN(ms) ? undefined : BigInt(ms) * MILLISECOND;
}

/** Go's zero `time.Time` (0001-01-01T00:00:00Z) as Unix milliseconds. */
const GO_ZERO_TIME_MS = -62_135_596_800_000;

/**
 * The `CREATED` column of `soci index list` / `prefetch list` (C§8.1):
 * `<time since created, rounded to whole seconds> ago` in Go duration text
 * (`5s ago`, `1m0s ago`, `2h3m4s ago`), or `n/a` when the time is unknown
 * (`null`/`undefined`, an invalid `Date`, or Go's zero time 0001-01-01).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createdText } from "./created.ts";
 * const now = new Date("2024-05-01T12:00:00Z");
 * assert.equal(createdText(new Date("2024-05-01T11:58:59.600Z"), now), "1m0s ago");
 * assert.equal(createdText(null, now), "n/a");
 * ```
 */
export function createdText(
  created: Instant | null | undefined,
  now: Instant = new Date(),
): string {
  if (created === null || created === undefined) return "n/a";
  const c = toUnixNanos(created);
  const n = toUnixNanos(now);
  if (c === undefined || n === undefined || c === BigInt(GO_ZERO_TIME_MS) * MILLISECOND) {
    return "n/a";
  }
  return formatDuration(roundDuration(BigInt.asIntN(64, n - c), SECOND)) + " ago";
}
