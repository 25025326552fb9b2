/**
 * Digests: sha256 of bytes and streams, parsing and validation of the
 * `sha256:<hex>` text form with upstream's error messages.
 *
 * @module
 */
import type { Hash } from "node:crypto";
import { BadInputError } from "../errors.ts";

type NodeCrypto = typeof import("node:crypto");
let nodeCrypto: NodeCrypto | undefined;

/**
 * `node:crypto`'s `createHash`, with `node:crypto` loaded on first use
 * (`process.getBuiltinModule`) rather than when this module is: loading it
 * costs a CLI command that never hashes (`soci index list`, `--help`) a
 * third of its start-up.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHash } from "./digest.ts";
 * assert.equal(
 *   createHash("sha256").update("abc").digest("hex"),
 *   "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
 * );
 * ```
 */
export function createHash(algorithm: string): Hash {
  nodeCrypto ??= (globalThis as unknown as {
    process: { getBuiltinModule(id: "node:crypto"): NodeCrypto };
  }).process.getBuiltinModule("node:crypto");
  return nodeCrypto.createHash(algorithm);
}

/**
 * The sha256 digest of some bytes, as `sha256:<64 hex>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sha256Digest } from "./digest.ts";
 * assert.ok(sha256Digest(new TextEncoder().encode("{}")) ===
 *   "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
 * ```
 */
export function sha256Digest(bytes: Uint8Array): string {
  return "sha256:" + createHash("sha256").update(bytes).digest("hex");
}

/**
 * An incremental sha256: feed chunks with `update`, read `digest()` once.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Sha256 } from "./digest.ts";
 * const h = new Sha256();
 * h.update(new Uint8Array([0x7b]));
 * h.update(new Uint8Array([0x7d]));
 * assert.ok(h.digest().startsWith("sha256:44136fa3"));
 * ```
 */
export class Sha256 {
  #h: Hash = createHash("sha256");
  /** Bytes fed so far. */
  size = 0;
  /** Adds bytes to the hash. */
  update(bytes: Uint8Array): void {
    this.#h.update(bytes);
    this.size += bytes.length;
  }
  /** The digest text `sha256:<hex>`; the hash cannot be used afterwards. */
  digest(): string {
    return "sha256:" + this.#h.digest("hex");
  }
}

const ALGORITHMS: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

/**
 * Validates a digest string the way upstream's `digest.Parse` does and
 * returns it. Errors: `invalid checksum digest format`, `invalid checksum
 * digest length`, `unsupported digest algorithm`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDigest } from "./digest.ts";
 * parseDigest("sha256:" + "a".repeat(64));
 * let failed = false;
 * try { parseDigest("sha256:hello"); } catch { failed = true; }
 * assert.ok(failed);
 * ```
 */
export function parseDigest(text: string): string {
  const i = text.indexOf(":");
  if (i <= 0 || i + 1 >= text.length) throw new BadInputError("invalid checksum digest format");
  const alg = text.slice(0, i);
  const hex = text.slice(i + 1);
  if (!/^[a-z0-9]+(?:[.+_-][a-z0-9]+)*$/.test(alg)) {
    throw new BadInputError("invalid checksum digest format");
  }
  const len = ALGORITHMS[alg];
  if (len === undefined) throw new BadInputError("unsupported digest algorithm");
  if (hex.length !== len) throw new BadInputError("invalid checksum digest length");
  if (!/^[a-f0-9]+$/.test(hex)) throw new BadInputError("invalid checksum digest format");
  return text;
}

/**
 * The hex part of a digest (`sha256:ab…` → `ab…`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { digestHex } from "./digest.ts";
 * assert.ok(digestHex("sha256:abc") === "abc");
 * ```
 */
export function digestHex(digest: string): string {
  return digest.slice(digest.indexOf(":") + 1);
}
