/**
 * Human-readable byte counts with binary (IEC) units, for progress displays.
 *
 * @module
 */

const UNITS = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/**
 * Formats a byte count: below 1024 as `<n> B`, otherwise with one decimal in
 * the largest binary unit not exceeding it (`1.5 KiB`, `10.0 MiB`). The
 * decimal is truncated, not rounded, so a value never shows a unit it has not
 * reached (1048575 bytes is `1023.9 KiB`, not `1024.0 KiB`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatBytes } from "./bytes.ts";
 * assert.ok(formatBytes(512) === "512 B");
 * assert.ok(formatBytes(1536) === "1.5 KiB");
 * assert.ok(formatBytes(10 * 1024 * 1024) === "10.0 MiB");
 * ```
 */
export function formatBytes(n: number | bigint): string {
  let v = typeof n === "bigint" ? n : BigInt(Math.trunc(n));
  const neg = v < 0n;
  if (neg) v = -v;
  let text: string;
  if (v < 1024n) {
    text = `${v} B`;
  } else {
    let unit = 0;
    let div = 1024n;
    while (unit < UNITS.length - 1 && v >= div * 1024n) {
      div *= 1024n;
      unit++;
    }
    const tenths = (v * 10n) / div;
    text = `${tenths / 10n}.${tenths % 10n} ${UNITS[unit]}`;
  }
  return neg ? "-" + text : text;
}
