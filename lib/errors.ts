/**
 * Error classes shared by the library and the CLI. Every failure a user can
 * cause (bad input, missing things, registry trouble, unsupported content)
 * is one of these, with a message that can be printed as one line.
 *
 * @module
 */

/** Base class of every error soci-deno raises on purpose. */
export class SociError extends Error {
  /** Short machine-readable kind, stable across versions. */
  readonly kind: string = "soci";
  /** An error with a one-line message; `options.cause` keeps the underlying error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * Input that cannot be used: corrupt gzip, truncated or malformed tar,
 * digest or size mismatch, malformed JSON or zTOC, bad flag values.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BadInputError } from "./errors.ts";
 * const e = new BadInputError("gzip data is corrupt at byte 12");
 * assert.ok(e.kind === "bad-input");
 * ```
 */
export class BadInputError extends SociError {
  /** Always `bad-input`. */
  override readonly kind = "bad-input";
}

/**
 * Something that was asked for does not exist: an image, a tag, a blob, a
 * file in a zTOC, an artifact in the store.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NotFoundError } from "./errors.ts";
 * assert.ok(new NotFoundError("image app: not found").kind === "not-found");
 * ```
 */
export class NotFoundError extends SociError {
  /** Always `not-found`. */
  override readonly kind = "not-found";
}

/**
 * Content that is valid but that SOCI cannot handle (zstd layers, unknown
 * media types, tar entry types upstream rejects).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { UnsupportedError } from "./errors.ts";
 * assert.ok(new UnsupportedError("unsupported input tar entry 'g'").kind === "unsupported");
 * ```
 */
export class UnsupportedError extends SociError {
  /** Always `unsupported`. */
  override readonly kind = "unsupported";
}

/**
 * A registry could not be reached or answered with an error (auth, HTTP
 * status, protocol).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RegistryError } from "./errors.ts";
 * const e = new RegistryError("127.0.0.1:5000: unauthorized", { status: 401 });
 * assert.ok(e.status === 401);
 * ```
 */
export class RegistryError extends SociError {
  /** Always `registry`. */
  override readonly kind = "registry";
  /** HTTP status of the failing response, when there was one. */
  readonly status?: number;
  /** OCI error code (`MANIFEST_UNKNOWN`, `NAME_UNKNOWN`, …), when the body had one. */
  readonly code?: string;
  /** A registry error; `status` and `code` describe the failing response. */
  constructor(message: string, options?: ErrorOptions & { status?: number; code?: string }) {
    super(message, options);
    this.status = options?.status;
    this.code = options?.code;
  }
}

/**
 * Wrong command-line usage: unknown flags, missing arguments, bad values.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { UsageError } from "./errors.ts";
 * assert.ok(new UsageError("flag provided but not defined: -x").kind === "usage");
 * ```
 */
export class UsageError extends SociError {
  /** Always `usage`. */
  override readonly kind = "usage";
}

/**
 * The message of a thrown value: an `Error`'s message, anything else as a
 * string.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { errorMessage } from "./errors.ts";
 * assert.equal(errorMessage(new Error("disk full")), "disk full");
 * assert.equal(errorMessage(42), "42");
 * ```
 */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * The same error with `prefix: ` before its message (same class when it is
 * a SociError, else a SociError), the original kept as `cause`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BadInputError, withContext } from "./errors.ts";
 * const e = withContext(new BadInputError("gzip data is corrupt"), "layer sha256:ab");
 * assert.ok(e instanceof BadInputError && e.message === "layer sha256:ab: gzip data is corrupt");
 * ```
 */
export function withContext(e: unknown, prefix: string): Error {
  const message = `${prefix}: ${errorMessage(e)}`;
  if (e instanceof RegistryError) {
    return new RegistryError(message, { cause: e, status: e.status, code: e.code });
  }
  if (e instanceof SociError) {
    const Kind = e.constructor as new (m: string, o?: ErrorOptions) => SociError;
    return new Kind(message, { cause: e });
  }
  return new SociError(message, { cause: e });
}
