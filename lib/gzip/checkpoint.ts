/**
 * The gzip checkpoint: the decompressor state at the start of a span
 * (`soci-format.md` §5.1).
 *
 * @module
 */

/**
 * Size of a deflate window, and of every checkpoint window.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WINDOW_SIZE } from "./checkpoint.ts";
 * import { CheckpointInflater } from "./inflater.ts";
 * import { gzipSync } from "node:zlib";
 * // every checkpoint carries a window of exactly this size (deflate reaches back 32 KiB)
 * const inf = new CheckpointInflater(1 << 20, { data: () => {} });
 * inf.push(gzipSync(new Uint8Array(1000)));
 * assert.ok(inf.end().checkpoints.every((cp) => cp.window.length === WINDOW_SIZE));
 * ```
 */
export const WINDOW_SIZE = 32768;

/**
 * Where a span starts, and what is needed to resume inflating there.
 *
 * * `in`: index of the first whole compressed byte after the boundary;
 * * `out`: uncompressed offset of the boundary;
 * * `bits`: number of bits (0–7) of the byte at `in − 1` that belong to
 *   the span (0 = byte aligned);
 * * `window`: the 32 KiB of output before `out`, oldest first, zero-padded
 *   at the front when `out < 32768`.
 */
export interface Checkpoint {
  /** First whole compressed byte after the boundary. */
  in: number;
  /** Uncompressed offset of the boundary. */
  out: number;
  /** Bits (0–7) of the byte at `in − 1` that belong to the span. */
  bits: number;
  /** The 32 KiB of output before `out`, zero-padded at the front. */
  window: Uint8Array;
}
