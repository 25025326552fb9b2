/**
 * The `mod_time` text of a zTOC entry (`soci-format.md` §4.6): Go's
 * `time.RFC3339Nano` rendering of `time.Unix(seconds, nanos)` in UTC.
 *
 * @module
 */

/** First second of year 0 (0000-01-01T00:00:00Z) in Unix seconds. */
const MIN_SECONDS = -62167219200;
/** First second of year 10000 in Unix seconds. */
const MAX_SECONDS_EXCL = 253402300800;

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

/**
 * Formats a time like Go's `t.UTC().Format(time.RFC3339Nano)`:
 * `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, the fraction without trailing zeros
 * and absent when `nanos` is 0. Years outside 0..9999 (where Go's formatter
 * fails) give `""`. `nanos` outside [0, 1e9) is normalised into `seconds`
 * as `time.Unix` does. Exact for every integer `seconds` in range,
 * including negative ones (proleptic Gregorian calendar).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatModTime } from "./mod_time.ts";
 * assert.ok(formatModTime(1700000000, 500000000) === "2023-11-14T22:13:20.5Z");
 * assert.ok(formatModTime(-62135596800, 0) === "0001-01-01T00:00:00Z");
 * assert.ok(formatModTime(253402300800, 0) === "");
 * ```
 */
export function formatModTime(seconds: number, nanos: number): string {
  // Layers often give every entry the same time (SOURCE_DATE_EPOCH, fixed mtimes).
  if (seconds === last.seconds && nanos === last.nanos) return last.text;
  const text = format(seconds, nanos);
  last.seconds = seconds;
  last.nanos = nanos;
  last.text = text;
  return text;
}

/** The last time formatted, and its text. */
const last = { seconds: NaN, nanos: NaN, text: "" };

function format(seconds: number, nanos: number): string {
  if (!Number.isFinite(seconds) || !Number.isFinite(nanos)) return "";
  nanos = Math.floor(nanos);
  if (nanos < 0 || nanos >= 1e9) {
    const carry = Math.floor(nanos / 1e9);
    seconds += carry;
    nanos -= carry * 1e9;
  }
  if (seconds < MIN_SECONDS || seconds >= MAX_SECONDS_EXCL) return "";
  const days = Math.floor(seconds / 86400);
  const sod = seconds - days * 86400;
  // Civil date from days since 1970-01-01 (eras of 400 years, March-based years).
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const hh = Math.floor(sod / 3600);
  const mm = Math.floor((sod % 3600) / 60);
  const ss = sod % 60;
  let text = `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${pad(hh, 2)}:${pad(mm, 2)}:${
    pad(ss, 2)
  }`;
  if (nanos > 0) text += "." + pad(nanos, 9).replace(/0+$/, "");
  return text + "Z";
}
