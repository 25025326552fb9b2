/**
 * Who made a lease, so that a later process can delete the leases of
 * processes that were killed (SIGKILL) instead of waiting for them to
 * expire: a lease label `<pid namespace>:<pid>` of the process that made it
 * (from `/proc/self/ns/pid`). A lease is known to be abandoned when its
 * owner ran in this process's pid namespace and `/proc/<pid>` is gone. All
 * of this needs leave to read `/proc` (asked without a prompt); without it,
 * no owner is recorded and no lease is taken for abandoned: they expire
 * (`containerd.io/gc.expire`).
 *
 * @module
 */

import { pidNamespace, processGone } from "../util/process.ts";

/** The lease label naming the process that made the lease. */
export const LEASE_OWNER_LABEL = "dev.soci-deno/owner";

/**
 * The owner label value of this process (`<pid namespace>:<pid>`), or
 * undefined when `/proc` cannot tell.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { leaseOwner } from "./lease_owner.ts";
 * const owner = leaseOwner();
 * if (owner !== undefined) assert.ok(owner.endsWith(`:${Deno.pid}`));
 * ```
 */
export function leaseOwner(): string | undefined {
  const ns = pidNamespace();
  return ns === undefined ? undefined : `${ns}:${Deno.pid}`;
}

/**
 * True when the process named by an owner label value is known to be gone:
 * it ran in this pid namespace, is not this process, and `/proc/<pid>` does
 * not exist. False when it lives or when this cannot be told.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { leaseOwner, ownerGone } from "./lease_owner.ts";
 * const me = leaseOwner();
 * if (me !== undefined) assert.equal(ownerGone(me), false);
 * assert.equal(ownerGone("pid:[1]:123"), false); // another pid namespace: cannot tell
 * assert.equal(ownerGone("not an owner"), false);
 * ```
 */
export function ownerGone(owner: string): boolean {
  const i = owner.lastIndexOf(":");
  const pid = Number(owner.slice(i + 1));
  if (i < 0 || !Number.isSafeInteger(pid) || pid <= 0 || pid === Deno.pid) return false;
  const ns = pidNamespace();
  if (ns === undefined || owner.slice(0, i) !== ns) return false;
  return processGone(pid) === true;
}
