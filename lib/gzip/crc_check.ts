/**
 * The gzip CRC-32 and length checks, done natively (`node:zlib` `crc32`)
 * outside WASM zlib: on the inflate thread ({@link nativeCrc32} given to
 * `CheckpointInflater`), or on another thread that sees the same
 * uncompressed bytes ({@link GzipCheck}, fed the trailers the inflater
 * reports with `check: "caller"`). Messages are zlib's.
 *
 * @module
 */
import { crc32 } from "node:zlib";
import { BadInputError } from "../errors.ts";
import type { Crc32, MemberEnd } from "./inflater.ts";

/**
 * CRC-32 (gzip's) of `bytes`, continuing `crc`, computed natively.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nativeCrc32 } from "./crc_check.ts";
 * const hello = new TextEncoder().encode("hello");
 * assert.equal(nativeCrc32(hello, 0), 0x3610a686);
 * assert.equal(nativeCrc32(hello.subarray(2), nativeCrc32(hello.subarray(0, 2), 0)), 0x3610a686);
 * ```
 */
export const nativeCrc32: Crc32 = (bytes, crc) => crc32(bytes, crc);

/**
 * Checks the CRC-32 and length of every gzip member against its trailer,
 * given the uncompressed bytes in order ({@link GzipCheck.data}) and the
 * member ends in order ({@link GzipCheck.member}); a member end must be
 * given before any byte past it (it may come before the bytes that reach it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gzipSync } from "node:zlib";
 * import { CheckpointInflater, type MemberEnd } from "./inflater.ts";
 * import { GzipCheck } from "./crc_check.ts";
 * const gz = gzipSync(new TextEncoder().encode("hello"));
 * gz[gz.length - 8] ^= 1; // a wrong CRC-32 in the trailer
 * const check = new GzipCheck();
 * const inf = new CheckpointInflater(1 << 20, {
 *   data: (b) => check.data(b),
 *   member: (m: MemberEnd) => check.member(m),
 * }, { check: "caller" });
 * inf.push(gz);
 * inf.end(); // the inflater itself checks nothing
 * assert.throws(() => check.end(), /incorrect data check/);
 * ```
 */
export class GzipCheck {
  /** Member ends not yet reached by the bytes. */
  readonly #ends: MemberEnd[] = [];
  #out = 0;
  #crc = 0;
  #size = 0;
  #error: BadInputError | undefined;

  /** The first mismatch found, if any. */
  get error(): BadInputError | undefined {
    return this.#error;
  }

  /** The next uncompressed bytes. */
  data(bytes: Uint8Array): void {
    let at = 0;
    while (at < bytes.length && this.#error === undefined) {
      const end = this.#ends[0];
      if (end !== undefined && end.out < this.#out) {
        throw new Error("GzipCheck: a member end was given after bytes past it");
      }
      const n = end === undefined
        ? bytes.length - at
        : Math.min(bytes.length - at, end.out - this.#out);
      if (n > 0) {
        this.#crc = crc32(
          at === 0 && n === bytes.length ? bytes : bytes.subarray(at, at + n),
          this.#crc,
        );
        this.#size = (this.#size + n) % 0x100000000;
        this.#out += n;
        at += n;
      }
      if (end !== undefined && this.#out === end.out) this.#close();
    }
  }

  /** The next member end. */
  member(m: MemberEnd): void {
    this.#ends.push(m);
    if (this.#ends.length === 1 && this.#out === m.out) this.#close();
  }

  #close(): void {
    while (this.#ends.length > 0 && this.#ends[0].out === this.#out && this.#error === undefined) {
      const m = this.#ends.shift()!;
      if (m.crc !== this.#crc >>> 0) {
        this.#error = new BadInputError(
          `gzip data is corrupt at byte ${m.in - 4}: incorrect data check`,
        );
      } else if (m.size !== this.#size) {
        this.#error = new BadInputError(
          `gzip data is corrupt at byte ${m.in}: incorrect length check`,
        );
      }
      this.#crc = 0;
      this.#size = 0;
    }
  }

  /** Throws the first mismatch, if any. */
  end(): void {
    if (this.#error) throw this.#error;
  }
}
