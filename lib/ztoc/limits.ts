/**
 * Limits on what one layer and one zTOC may hold, so that a hostile layer or
 * zTOC costs work and memory bounded by its real size, and fails with a
 * one-line error naming the limit instead of running out of memory. The
 * values and their reasons are listed in `docs/hardening.md`.
 *
 * Every limit is far above what real images need (tens of thousands of
 * entries with a few short PAX records each give zTOCs of a few MiB), and
 * below what the consumers can take: FlatBuffers cannot address more than
 * 2 GiB, upstream's Go builder panics beyond that, and the snapshotter
 * fetches a whole zTOC into memory and unpacks every entry into Go structs.
 *
 * @module
 */
export {
  limitError,
  MAX_ENTRIES_PER_LAYER,
  MAX_NAME_BYTES_PER_LAYER,
  MAX_PAX_BYTES_PER_ENTRY,
  MAX_PAX_BYTES_PER_LAYER,
  MAX_PAX_RECORDS_PER_LAYER,
} from "../tar/limits.ts";

/**
 * Largest zTOC blob we write or read: 1 GiB, half of the 2 GiB a FlatBuffers
 * buffer can address (so an accepted zTOC is one upstream can also build and
 * load). A zTOC of 1 000 000 entries with names of 50 bytes is about 150 MiB.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAX_ZTOC_BYTES } from "./limits.ts";
 * // half of what a FlatBuffers buffer can address (2 GiB)
 * assert.ok(MAX_ZTOC_BYTES <= 2 ** 31 / 2);
 * ```
 */
export const MAX_ZTOC_BYTES: number = 1 << 30;

/**
 * Most spans (gzip checkpoints) one zTOC may have: as many as fit in
 * {@link MAX_ZTOC_BYTES} (each checkpoint stores a 32 KiB window), 32 751.
 * With the default 4 MiB span size that is a layer of 128 GiB uncompressed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAX_SPANS, MAX_ZTOC_BYTES } from "./limits.ts";
 * // as many 32 785-byte checkpoint records as fit in a zTOC
 * assert.ok(MAX_SPANS * 32785 <= MAX_ZTOC_BYTES && (MAX_SPANS + 1) * 32785 > MAX_ZTOC_BYTES);
 * ```
 */
export const MAX_SPANS: number = Math.floor(MAX_ZTOC_BYTES / 32785);

/**
 * Largest span (in layer bytes) that extraction holds in memory until its
 * digest is checked: 1 GiB. Spans are a little over the span size (4 MiB by
 * default); a zTOC whose spans are larger is refused by `get-file`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAX_SPAN_BYTES } from "./limits.ts";
 * // far above the default 4 MiB span
 * assert.ok(MAX_SPAN_BYTES >= 256 * 4 * 1048576);
 * ```
 */
export const MAX_SPAN_BYTES: number = 1 << 30;
