/**
 * Seeded byte mutations for the fuzz tests: bit flips, random and
 * "interesting" bytes, little-endian integers set to boundary values,
 * insertions, deletions, duplications, splices from another input and
 * truncation. Deterministic for a given PRNG state.
 *
 * @module
 */

/** A PRNG returning floats in [0, 1) (the `prng` of `ztoc_e2e_tools.ts`). */
export type Rnd = () => number;

/** A random integer in [0, n). */
export function below(rnd: Rnd, n: number): number {
  return Math.floor(rnd() * n);
}

/** A random element of `items`. */
export function pick<T>(rnd: Rnd, items: readonly T[]): T {
  return items[below(rnd, items.length)];
}

const INTERESTING_BYTES = [0x00, 0x01, 0x07, 0x0a, 0x20, 0x30, 0x37, 0x7f, 0x80, 0xff];
const INTERESTING_INTS: bigint[] = [
  0n,
  1n,
  7n,
  0x7fn,
  0xffn,
  511n,
  512n,
  32767n,
  32768n,
  32785n,
  65535n,
  0x7fffffffn,
  0x80000000n,
  0xffffffffn,
  1n << 32n,
  1n << 40n,
  (1n << 53n) - 1n,
  (1n << 63n) - 1n,
  -1n,
  -512n,
];

/** `bytes` with `add` inserted at `at`. */
function insert(bytes: Uint8Array, at: number, add: Uint8Array): Uint8Array {
  return cat(bytes.subarray(0, at), add, bytes.subarray(at));
}

/** The parts one after the other, in a new array. */
export function cat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * A mutated copy of `input`: 1–4 random operations; `other` (another
 * input of the same kind) is used for splices. Never returns more than
 * `maxLength` bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mutate } from "./mutate.ts";
 * import { prng } from "./ztoc_e2e_tools.ts";
 * const a = mutate(new Uint8Array(64), prng(1));
 * const b = mutate(new Uint8Array(64), prng(1));
 * assert.deepEqual(a, b);
 * ```
 */
export function mutate(
  input: Uint8Array,
  rnd: Rnd,
  other?: Uint8Array,
  maxLength = 1 << 22,
): Uint8Array {
  // new Uint8Array copies; a Node Buffer's slice() would be a view.
  let b: Uint8Array = new Uint8Array(input);
  const ops = 1 + below(rnd, 4);
  for (let k = 0; k < ops; k++) {
    const n = b.length;
    const at = n === 0 ? 0 : below(rnd, n);
    switch (below(rnd, 12)) {
      case 0:
      case 1:
        if (n > 0) b[at] ^= 1 << below(rnd, 8);
        break;
      case 2:
        if (n > 0) b[at] = below(rnd, 256);
        break;
      case 3:
        if (n > 0) b[at] = pick(rnd, INTERESTING_BYTES);
        break;
      case 4:
      case 5: {
        // A little-endian integer of 1, 2, 4 or 8 bytes set to a boundary value.
        const width = pick(rnd, [1, 2, 4, 8]);
        if (n < width) break;
        const pos = below(rnd, n - width + 1);
        let v = BigInt.asUintN(64, pick(rnd, INTERESTING_INTS));
        for (let i = 0; i < width; i++) {
          b[pos + i] = Number(v & 0xffn);
          v >>= 8n;
        }
        break;
      }
      case 6: {
        const add = new Uint8Array(1 + below(rnd, 16));
        for (let i = 0; i < add.length; i++) add[i] = below(rnd, 256);
        b = insert(b, at, add);
        break;
      }
      case 7: {
        const len = 1 + below(rnd, Math.min(n, 1024) + 1);
        b = cat(b.subarray(0, at), b.subarray(Math.min(n, at + len)));
        break;
      }
      case 8: {
        // Duplicate a range (a repeated block, header or record).
        const len = 1 + below(rnd, Math.min(n, 1024) + 1);
        b = insert(b, at, b.slice(at, Math.min(n, at + len)));
        break;
      }
      case 9:
        b = b.slice(0, at);
        break;
      case 10: {
        if (other === undefined || other.length === 0) break;
        const from = below(rnd, other.length);
        const len = 1 + below(rnd, Math.min(other.length - from, 4096));
        const piece = other.subarray(from, from + len);
        b = insert(b, at, piece);
        break;
      }
      case 11: {
        // A run of one byte value (zero blocks, 0xff fill).
        const len = 1 + below(rnd, 600);
        const v = pick(rnd, INTERESTING_BYTES);
        for (let i = at; i < Math.min(n, at + len); i++) b[i] = v;
        break;
      }
    }
    if (b.length > maxLength) b = b.slice(0, maxLength);
  }
  return b;
}

/**
 * `bytes` cut into chunks of random sizes (1 byte to 64 KiB, often small;
 * chunks of a few bytes only for inputs up to 8 KiB, to keep cases fast).
 */
export function randomChunks(bytes: Uint8Array, rnd: Rnd): Uint8Array[] {
  const out: Uint8Array[] = [];
  const style = below(rnd, 4);
  for (let at = 0; at < bytes.length;) {
    const size = style === 0
      ? bytes.length
      : style === 1
      ? 1 + below(rnd, bytes.length <= 8192 ? 16 : 1024)
      : style === 2
      ? pick(rnd, [511, 512, 513, 4096])
      : 1 + below(rnd, 65536);
    out.push(bytes.subarray(at, Math.min(bytes.length, at + size)));
    at += size;
  }
  return out;
}
