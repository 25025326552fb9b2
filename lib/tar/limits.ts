/**
 * Limits on what one tar stream (one layer) may hold, so that a hostile
 * layer costs work and memory bounded by its real size and fails with a
 * one-line error naming the limit instead of running out of memory. The
 * zTOC's own limits are in `lib/ztoc/limits.ts`; the values and their
 * reasons are listed in `docs/hardening.md`.
 *
 * @module
 */
import { BadInputError } from "../errors.ts";

/**
 * Most tar entries one layer may have: 1 048 576 (2^20). The largest layers
 * of real images have a few hundred thousand files; every entry becomes a
 * TOC entry (about 150 zTOC bytes) and a file the snapshotter keeps in
 * memory and in its per-layer metadata database.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAX_ENTRIES_PER_LAYER } from "./limits.ts";
 * import { MAX_ZTOC_BYTES } from "../ztoc/limits.ts";
 * // at about 150 zTOC bytes per entry, a full layer stays under the zTOC limit
 * assert.ok(MAX_ENTRIES_PER_LAYER * 150 < MAX_ZTOC_BYTES);
 * ```
 */
export const MAX_ENTRIES_PER_LAYER: number = 1 << 20;

/**
 * Largest PAX extended header of one entry: 1 MiB, Go's `archive/tar` limit
 * (`maxSpecialFileSize`), also applied to GNU long names and link names.
 * Every PAX record of an entry is copied into its TOC entry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAX_PAX_BYTES_PER_ENTRY, MAX_PAX_BYTES_PER_LAYER } from "./limits.ts";
 * // Go's archive/tar cap (maxSpecialFileSize), well inside the per-layer limit
 * assert.ok(MAX_PAX_BYTES_PER_ENTRY === 1 << 20 && MAX_PAX_BYTES_PER_ENTRY < MAX_PAX_BYTES_PER_LAYER);
 * ```
 */
export const MAX_PAX_BYTES_PER_ENTRY: number = 1 << 20;

/**
 * Most PAX record bytes (keys plus values, the `xattrs` of the TOC) one
 * layer may have: 256 MiB. GNU tar's POSIX format gives every entry about
 * 100 bytes of time records and SELinux labels add about 60: 1 048 576
 * entries with both stay below 170 MiB.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAX_ENTRIES_PER_LAYER, MAX_PAX_BYTES_PER_LAYER } from "./limits.ts";
 * // every entry of a full layer with 170 bytes of PAX records fits
 * assert.ok(MAX_ENTRIES_PER_LAYER * 170 < MAX_PAX_BYTES_PER_LAYER);
 * ```
 */
export const MAX_PAX_BYTES_PER_LAYER: number = 256 << 20;

/**
 * Most PAX records one layer may have: 4 194 304 (four per entry at
 * {@link MAX_ENTRIES_PER_LAYER}; GNU tar's POSIX format writes three). Each
 * record costs about 40 zTOC bytes and a few hundred bytes of memory while
 * the layer is read, whatever its size, so tiny records are limited by count.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAX_ENTRIES_PER_LAYER, MAX_PAX_RECORDS_PER_LAYER } from "./limits.ts";
 * // four records per entry of a full layer
 * assert.equal(MAX_PAX_RECORDS_PER_LAYER, 4 * MAX_ENTRIES_PER_LAYER);
 * ```
 */
export const MAX_PAX_RECORDS_PER_LAYER: number = 1 << 22;

/**
 * Most name and link target bytes one layer may have: 256 MiB (an average
 * of 256 bytes per entry at {@link MAX_ENTRIES_PER_LAYER}; Linux paths are
 * at most 4096 bytes and real ones average well under 100).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAX_ENTRIES_PER_LAYER, MAX_NAME_BYTES_PER_LAYER } from "./limits.ts";
 * // 256 bytes of names per entry of a full layer
 * assert.equal(MAX_NAME_BYTES_PER_LAYER / MAX_ENTRIES_PER_LAYER, 256);
 * ```
 */
export const MAX_NAME_BYTES_PER_LAYER: number = 256 << 20;

/**
 * The error for input beyond a limit: one line naming what was counted,
 * the limit and how much was seen (`… : 1048577 entries, more than the
 * limit of 1048576 (MAX_ENTRIES_PER_LAYER)`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { limitError } from "./limits.ts";
 * const e = limitError("layer has too many tar entries", "MAX_ENTRIES_PER_LAYER", 5, 4, "entries");
 * assert.equal(
 *   e.message,
 *   "layer has too many tar entries: 5 entries, more than the limit of 4 (MAX_ENTRIES_PER_LAYER)",
 * );
 * ```
 */
export function limitError(
  what: string,
  name: string,
  seen: number,
  limit: number,
  unit: string,
): BadInputError {
  const seenText = Number.isFinite(seen) ? `${seen} ${unit}` : `more ${unit}`;
  return new BadInputError(
    `${what}: ${seenText}, more than the limit of ${limit} (${name})`,
  );
}
