/**
 * The transport part of an image reference, told from its prefix alone
 * (nothing is loaded or opened: the command table uses it).
 *
 * @module
 */

/**
 * The transport of a reference: `oci`, `oci-archive`, `docker`,
 * `containerd`, or `store` for a bare name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { transportOf } from "./transport.ts";
 * assert.ok(transportOf("oci:./layout:app") === "oci");
 * assert.ok(transportOf("docker://127.0.0.1:5000/app:1") === "docker");
 * assert.ok(transportOf("app:1") === "store");
 * ```
 */
export function transportOf(reference: string): string {
  if (reference.startsWith("docker://")) return "docker";
  const m = /^([a-z-]+):/.exec(reference);
  if (m && ["oci", "oci-archive", "containerd", "docker-archive", "docker-daemon"].includes(m[1])) {
    return m[1];
  }
  return "store";
}
