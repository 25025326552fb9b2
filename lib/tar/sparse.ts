/**
 * GNU sparse file maps as Go's `archive/tar` reader reads them: the old GNU
 * `S` header entries (plus extension blocks), PAX sparse 0.0/0.1 records and
 * the PAX sparse 1.0 map stored at the start of the entry data. Only the
 * map's validity and the number of blocks it occupies matter for the TOC;
 * the map itself is not reported.
 *
 * @module
 */

import { parseNumeric } from "./header.ts";
import { latin1, parseDecimal, type PaxRecords, paxString } from "./pax.ts";

/** One data fragment of a sparse file: `length` bytes at logical `offset`. */
export interface SparseEntry {
  /** Logical offset of the fragment. */
  offset: bigint;
  /** Fragment length in bytes. */
  length: bigint;
}

const MAX_INT64 = (1n << 63n) - 1n;

/**
 * Reads old-GNU sparse entries (12-byte offset + 12-byte length each) from
 * `b` at `start`, at most `count` of them, stopping at the first entry whose
 * offset field starts with NUL. Appends to `out`; returns false when a
 * number is malformed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readOldGnuSparseEntries, type SparseEntry } from "./sparse.ts";
 * const b = new Uint8Array(24 * 4);
 * b.set(new TextEncoder().encode("00000000000\u000000000001000"), 0);
 * const out: SparseEntry[] = [];
 * assert.ok(readOldGnuSparseEntries(b, 0, 4, out) && out.length === 1);
 * assert.ok(out[0].length === 512n);
 * ```
 */
export function readOldGnuSparseEntries(
  b: Uint8Array,
  start: number,
  count: number,
  out: SparseEntry[],
): boolean {
  for (let i = 0; i < count; i++) {
    const at = start + i * 24;
    if (b[at] === 0) break;
    const offset = parseNumeric(b, at, 12);
    const length = parseNumeric(b, at + 12, 12);
    if (Number.isNaN(offset) || Number.isNaN(length)) return false;
    out.push({ offset: BigInt(offset), length: BigInt(length) });
  }
  return true;
}

/**
 * Which PAX GNU sparse format the records of an entry use, decided like
 * Go's reader: `GNU.sparse.major`/`minor` 0.0 or 0.1 → `0.x`, 1.0 → `1.0`,
 * other versions → `""` (not sparse), no version but a non-empty
 * `GNU.sparse.map` → `0.x`, else `""`. `get` returns a record's value
 * (`""` when absent).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gnuSparseKind } from "./sparse.ts";
 * const recs: Record<string, string> = { "GNU.sparse.major": "1", "GNU.sparse.minor": "0" };
 * assert.equal(gnuSparseKind((k) => recs[k] ?? ""), "1.0");
 * assert.equal(gnuSparseKind(() => ""), "");
 * ```
 */
export function gnuSparseKind(get: (key: string) => string): "0.x" | "1.0" | "" {
  const major = get("GNU.sparse.major");
  const minor = get("GNU.sparse.minor");
  if (major === "0" && (minor === "0" || minor === "1")) return "0.x";
  if (major === "1" && minor === "0") return "1.0";
  if (major !== "" || minor !== "") return "";
  return get("GNU.sparse.map") !== "" ? "0.x" : "";
}

function parseCount(s: string): number | undefined {
  const n = parseDecimal(s);
  // Go also rejects counts whose double overflows an int64.
  if (n === undefined || n < 0n || 2n * n > MAX_INT64) return undefined;
  return Number(n);
}

/**
 * Sparse map of PAX sparse 0.0/0.1 (`GNU.sparse.numblocks` and the
 * comma-separated `GNU.sparse.map`), as Go's `readGNUSparseMap0x1`. Returns
 * undefined when Go reports an invalid header.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePaxRecords } from "./pax.ts";
 * import { parseSparseMap0x1 } from "./sparse.ts";
 * const recs = parsePaxRecords(new TextEncoder().encode(
 *   "26 GNU.sparse.numblocks=1\n24 GNU.sparse.map=0,512\n",
 * ));
 * assert.ok(parseSparseMap0x1(recs)?.length === 1);
 * ```
 */
export function parseSparseMap0x1(recs: PaxRecords): SparseEntry[] | undefined {
  const n = parseCount(paxString(recs, "GNU.sparse.numblocks"));
  if (n === undefined) return undefined;
  const text = paxString(recs, "GNU.sparse.map");
  const parts = text === "" ? [] : text.split(",");
  if (parts.length !== 2 * n) return undefined;
  const out: SparseEntry[] = [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const offset = parseDecimal(parts[i]);
    const length = parseDecimal(parts[i + 1]);
    if (offset === undefined || length === undefined) return undefined;
    out.push({ offset, length });
  }
  return out;
}

/**
 * Incremental reader of the PAX sparse 1.0 map, which sits in 512-byte
 * blocks at the start of the entry data: a newline-terminated entry count,
 * then offset and length per entry, each newline-terminated. Feed whole
 * blocks; Go reads exactly as many blocks as hold the needed newlines.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SparseMap1x0 } from "./sparse.ts";
 * const block = new Uint8Array(512);
 * block.set(new TextEncoder().encode("1\n0\n5\n"));
 * const r = new SparseMap1x0();
 * assert.ok(r.push(block)?.[0].length === 5n);
 * ```
 */
export class SparseMap1x0 {
  #chunks: Uint8Array[] = [];
  #newlines = 0;
  #count = -1;

  /**
   * Adds one 512-byte block (copied). Returns the entries once enough
   * blocks were read, null when more are needed; throws an Error with the
   * reason when the map is malformed.
   */
  push(block: Uint8Array): SparseEntry[] | null {
    this.#chunks.push(new Uint8Array(block.subarray(0, 512)));
    for (let i = 0; i < 512; i++) if (block[i] === 0x0a) this.#newlines++;
    if (this.#newlines === 0) return null;
    if (this.#count < 0) {
      const first = latin1(concat(this.#chunks)).split("\n", 1)[0];
      const n = parseCount(first);
      if (n === undefined) throw new Error("bad entry count in the GNU sparse 1.0 map");
      this.#count = n;
    }
    if (this.#newlines < 1 + 2 * this.#count) return null;
    const tokens = latin1(concat(this.#chunks)).split("\n");
    const out: SparseEntry[] = [];
    for (let i = 0; i < this.#count; i++) {
      const offset = parseDecimal(tokens[1 + 2 * i]);
      const length = parseDecimal(tokens[2 + 2 * i]);
      if (offset === undefined || length === undefined) {
        throw new Error("bad number in the GNU sparse 1.0 map");
      }
      out.push({ offset, length });
    }
    return out;
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(chunks.length * 512);
  chunks.forEach((c, i) => out.set(c, i * 512));
  return out;
}

/**
 * Go's `validateSparseEntries`: non-negative fragments, in order, not
 * overlapping, inside the logical `size`, without int64 overflow.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateSparseEntries } from "./sparse.ts";
 * assert.ok(validateSparseEntries([{ offset: 0n, length: 5n }], 5));
 * assert.ok(!validateSparseEntries([{ offset: 2n, length: 5n }], 5));
 * ```
 */
export function validateSparseEntries(entries: SparseEntry[], size: number): boolean {
  if (size < 0) return false;
  const total = BigInt(size);
  let preEnd = 0n;
  for (const cur of entries) {
    if (cur.offset < 0n || cur.length < 0n) return false;
    if (cur.offset > MAX_INT64 - cur.length) return false;
    const end = cur.offset + cur.length;
    if (end > total) return false;
    if (preEnd > cur.offset) return false;
    preEnd = end;
  }
  return true;
}
