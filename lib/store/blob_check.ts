/**
 * The check both artifact stores make before staging a blob: the bytes are
 * the size and sha256 digest the caller expects (`putBlob(bytes, expected)`).
 *
 * @module
 */
import { BadInputError, UnsupportedError } from "../errors.ts";
import { parseDigest, sha256Digest } from "../oci/digest.ts";
import type { BlobInfo } from "./artifact_store.ts";

/**
 * Digest and size of `bytes`, checked against `expected` when given: a
 * malformed or non-sha256 digest, another size or another digest is an
 * error naming the blob, and nothing may be staged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkedBlob } from "./blob_check.ts";
 * const bytes = new TextEncoder().encode("{}");
 * const info = checkedBlob(bytes);
 * assert.equal(info.digest, "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
 * assert.deepEqual(checkedBlob(bytes, info), info);
 * assert.throws(() => checkedBlob(bytes, { ...info, size: 3 }), /size mismatch: expected 3 bytes, got 2/);
 * ```
 */
export function checkedBlob(bytes: Uint8Array, expected?: BlobInfo): BlobInfo {
  if (expected) {
    parseDigest(expected.digest);
    if (!expected.digest.startsWith("sha256:")) {
      throw new UnsupportedError(`blob ${expected.digest}: only sha256 digests can be stored`);
    }
    if (bytes.length !== expected.size) {
      throw new BadInputError(
        `blob ${expected.digest}: size mismatch: expected ${expected.size} bytes, got ${bytes.length}`,
      );
    }
  }
  const digest = sha256Digest(bytes);
  if (expected && expected.digest !== digest) {
    throw new BadInputError(`blob digest mismatch: expected ${expected.digest}, got ${digest}`);
  }
  return { digest, size: bytes.length };
}
