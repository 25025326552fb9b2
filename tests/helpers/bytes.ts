/**
 * The test kit's byte tools, shared by every test and benchmark: a seeded
 * PRNG (mulberry32), deterministic random and text bytes, sha256 and hex
 * (through `node:crypto`, independent of the library's own `Sha256`), and
 * concatenation.
 *
 * @module
 */
import { createHash } from "node:crypto";

/**
 * A seeded PRNG (mulberry32) giving floats in [0, 1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { prng } from "./bytes.ts";
 * const a = prng(7), b = prng(7);
 * assert.equal(a(), b());
 * ```
 */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random integer in [lo, hi] from `rnd`. */
export function randInt(rnd: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rnd() * (hi - lo + 1));
}

/**
 * `n` incompressible, deterministic bytes (xorshift32 words) for `seed`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { randomBytes } from "./bytes.ts";
 * assert.deepEqual(randomBytes(5, 1), randomBytes(5, 1));
 * assert.notDeepEqual(randomBytes(5, 1), randomBytes(5, 2));
 * ```
 */
export function randomBytes(n: number, seed: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(n / 4));
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return new Uint8Array(words.buffer, 0, n);
}

/** `n` bytes of compressible pseudo-text (deflate makes a mix of block kinds from it). */
export function textBytes(n: number, seed: number): Uint8Array {
  const words = ["soci", "span", "zinfo", "layer", "gzip", "tar", "window", "\n", "checkpoint"];
  const rnd = prng(seed);
  const out = new Uint8Array(n);
  const enc = new TextEncoder();
  let at = 0;
  while (at < n) {
    const w = enc.encode(`${words[Math.floor(rnd() * words.length)]}${Math.floor(rnd() * 500)} `);
    out.set(w.subarray(0, n - at), at);
    at += w.length;
  }
  return out;
}

/** Lower-case hex of bytes. */
export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * `sha256:<hex>` of bytes or text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sha256 } from "./bytes.ts";
 * assert.equal(sha256("{}"),
 *   "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
 * ```
 */
export function sha256(bytes: Uint8Array | string): string {
  return "sha256:" + createHash("sha256").update(bytes).digest("hex");
}

/** The parts, one after the other. */
export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * xorshift32: a generator of the same 32-bit numbers for `seed` on every
 * machine.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { xorshift32 } from "./bytes.ts";
 * const a = xorshift32(7), b = xorshift32(7);
 * assert.equal(a(), b());
 * ```
 */
export function xorshift32(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}
