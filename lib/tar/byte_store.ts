/**
 * Compact storage for the many small byte strings a tar TOC keeps (names,
 * owner names, PAX keys and values): copies are packed into shared 64 KiB
 * slabs instead of one ArrayBuffer each (an ArrayBuffer costs far more
 * memory than a 10-byte name), and strings that repeat (owner names, PAX
 * keys) are stored once.
 *
 * @module
 */

const SLAB_SIZE = 64 * 1024;
/** Strings longer than this get their own buffer. */
const MAX_PACKED = 2048;
/** Strings {@link ByteStore.intern} compares in place before looking them up. */
const RECENT = 4;
/** Distinct strings remembered for {@link ByteStore.intern}. */
const MAX_INTERNED = 4096;
const EMPTY: Uint8Array = new Uint8Array(0);

function latin1Key(b: Uint8Array): string {
  return String.fromCharCode.apply(null, b as unknown as number[]);
}

/**
 * The first of `known` whose bytes are `src[at, at + n)`, compared in
 * place (no view or key is made), or undefined.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findBytes } from "./byte_store.ts";
 * const b = (s: string) => new TextEncoder().encode(s);
 * const root = b("root");
 * assert.ok(findBytes([b("bin"), root], b("xroot"), 1, 4) === root);
 * assert.equal(findBytes([root], b("roo"), 0, 3), undefined);
 * ```
 */
export function findBytes(
  known: readonly Uint8Array[],
  src: Uint8Array,
  at: number,
  n: number,
): Uint8Array | undefined {
  for (let k = 0; k < known.length; k++) {
    const candidate = known[k];
    if (candidate.length !== n) continue;
    let j = 0;
    while (j < n && candidate[j] === src[at + j]) j++;
    if (j === n) return candidate;
  }
  return undefined;
}

/**
 * Packs byte strings into shared slabs. The views it returns are stable
 * (never overwritten) and independent of the source bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ByteStore } from "./byte_store.ts";
 * const store = new ByteStore();
 * const src = new TextEncoder().encode("etc/hosts");
 * const a = store.copy(src);
 * src.fill(0);
 * assert.equal(new TextDecoder().decode(a), "etc/hosts");
 * const r1 = store.intern(new TextEncoder().encode("root"));
 * const r2 = store.intern(new TextEncoder().encode("root"));
 * assert.ok(r1 === r2);
 * assert.ok(store.copy(new Uint8Array(5)).buffer === a.buffer);
 * ```
 */
export class ByteStore {
  #slab: Uint8Array = new Uint8Array(0);
  #used = 0;
  readonly #interned = new Map<string, Uint8Array>();
  /** The last few strings {@link ByteStore.intern} returned. */
  readonly #recent: Uint8Array[] = [];
  #next = 0;

  /** A stable copy of `src[start, end)` (default: all of it). */
  copy(src: Uint8Array, start = 0, end: number = src.length): Uint8Array {
    const n = end - start;
    if (n <= 0) return EMPTY;
    // A copy even of a Node Buffer (whose slice() is a view).
    if (n > MAX_PACKED) return new Uint8Array(src.subarray(start, end));
    if (this.#used + n > this.#slab.length) {
      this.#slab = new Uint8Array(SLAB_SIZE);
      this.#used = 0;
    }
    const at = this.#used;
    const out = this.#slab.subarray(at, at + n);
    out.set(n === src.length ? src : src.subarray(start, end));
    this.#used = at + n;
    return out;
  }

  /**
   * Like {@link copy}, but a short string seen before is returned as the
   * same view (for values that repeat across entries: owner names, PAX
   * keys). The caller must not modify the result.
   */
  intern(src: Uint8Array, start = 0, end: number = src.length): Uint8Array {
    const n = end - start;
    if (n <= 0) return EMPTY;
    if (n > 64) return this.copy(src, start, end);
    // The last strings returned are compared in place first: owner names
    // repeat entry after entry, and a byte compare costs far less than
    // making the key.
    const recent = this.#recent;
    const seen = findBytes(recent, src, start, n);
    if (seen !== undefined) return seen;
    const view = start === 0 && end === src.length ? src : src.subarray(start, end);
    const key = latin1Key(view);
    let out = this.#interned.get(key);
    if (out === undefined) {
      out = this.copy(view);
      if (this.#interned.size < MAX_INTERNED) this.#interned.set(key, out);
    }
    recent[this.#next] = out;
    this.#next = (this.#next + 1) % RECENT;
    return out;
  }
}
