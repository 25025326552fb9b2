/**
 * The bookkeeping of containerd-store transactions in the artifacts DB's
 * `pending` table, and the recovery that the next writer runs with it
 * (`containerd_store.ts` describes the protocol).
 *
 * Two kinds of entries, each a JSON text in the table's `digest` column,
 * under transaction keys that start with {@link CONTAINERD_TX_PREFIX} (the
 * local store, which shares the DB, leaves them alone):
 *
 * - `<tx>` → `lease:{sock, ns, id}`: the lease that holds what the
 *   transaction wrote. Written before the lease is made; removed once the
 *   lease is deleted.
 * - `<tx>/ops` → `op:<seq>:{sock, ns, op, …}`: what containerd must be told
 *   once the DB has committed (image labels, GC roots, image records, blob
 *   deletions). Written in the same SQLite transaction as the DB rows, so
 *   they exist exactly when the commit happened; removed once applied.
 *
 * Every operation is idempotent, so applying one twice (a commit that died
 * after it applied some) does no harm.
 *
 * @module
 */
import { NotFoundError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import type { ContainerdClient } from "../containerd/client.ts";
import { ContainerdContent } from "../containerd/content.ts";
import {
  GC_ROOT_LABEL,
  SOCI_INDEX_IMAGE_LABEL,
  sociIndexRefLabel,
} from "../containerd/gc_labels.ts";
import { ContainerdImages } from "../containerd/images.ts";
import { ContainerdLeases, DEFAULT_LEASE_EXPIRY_MS } from "../containerd/leases.ts";
import type { ArtifactsDb } from "./artifacts_db.ts";
import { processGone } from "../util/process.ts";

/** Transaction keys of the containerd store start with this. */
export const CONTAINERD_TX_PREFIX = "ctrd-";
const OPS_SUFFIX = "/ops";

/** One thing to tell containerd after the DB committed. */
export type PendingOp =
  /** Set (string) or remove (`null`) labels of an image record. */
  | { op: "labels"; image: string; labels: Record<string, string | null> }
  /** Make a blob a GC root (`containerd.io/gc.root` = `value`). */
  | { op: "root"; digest: string; value: string }
  /** Create the image record, or move it to `target` (labels set, others kept). */
  | { op: "image"; name: string; target: Descriptor; labels: Record<string, string> }
  /** Delete a blob (an index that `index rm` removed). */
  | { op: "delete"; digest: string }
  /** Drop, from every image record, the labels that keep the index `digest`. */
  | { op: "unref"; digest: string };

/** Where an entry applies: a containerd socket and namespace. */
export interface PendingTarget {
  /** The socket path. */
  sock: string;
  /** The namespace. */
  ns: string;
}

/**
 * A fresh transaction key: `ctrd-<time>-<pid>-<random>` (the pid and time
 * tell the recovery whether its owner is gone).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { newTxKey } from "./containerd_pending.ts";
 * assert.match(newTxKey(), new RegExp(`^ctrd-[0-9a-z]+-${Deno.pid}-[0-9a-f]{8}$`));
 * ```
 */
export function newTxKey(): string {
  const rnd = crypto.getRandomValues(new Uint32Array(1))[0].toString(16).padStart(8, "0");
  return `${CONTAINERD_TX_PREFIX}${Date.now().toString(36)}-${Deno.pid}-${rnd}`;
}

/**
 * The key of the operations of transaction `tx`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { opsKey } from "./containerd_pending.ts";
 * assert.equal(opsKey("ctrd-1-2-3"), "ctrd-1-2-3/ops");
 * ```
 */
export function opsKey(tx: string): string {
  return tx + OPS_SUFFIX;
}

/**
 * The entry that names the lease of a transaction.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { leaseEntry } from "./containerd_pending.ts";
 * assert.equal(leaseEntry({ sock: "/s", ns: "default" }, "l1"),
 *   'lease:{"sock":"/s","ns":"default","id":"l1"}');
 * ```
 */
export function leaseEntry(target: PendingTarget, id: string): string {
  return `lease:${JSON.stringify({ sock: target.sock, ns: target.ns, id })}`;
}

/**
 * The entries of `ops`, in order (the sequence number keeps the order in
 * the table, which lists entries sorted).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeOps, encodeOps } from "./containerd_pending.ts";
 * const t = { sock: "/s", ns: "default" };
 * const ops = [{ op: "delete" as const, digest: "sha256:b" }, { op: "unref" as const, digest: "sha256:a" }];
 * const entries = encodeOps(t, ops);
 * assert.deepEqual(decodeOps([...entries].reverse()), ops.map((o) => ({ ...t, ...o })));
 * ```
 */
export function encodeOps(target: PendingTarget, ops: PendingOp[]): string[] {
  return ops.map((op, i) =>
    `op:${String(i).padStart(6, "0")}:${
      JSON.stringify({ sock: target.sock, ns: target.ns, ...op })
    }`
  );
}

/** The operations of entries made by {@link encodeOps}, in order; other entries are ignored. */
export function decodeOps(entries: string[]): Array<PendingOp & PendingTarget> {
  return entries.filter((e) => e.startsWith("op:")).sort()
    .map((e) => JSON.parse(e.slice("op:000000:".length)) as PendingOp & PendingTarget);
}

/**
 * Tells containerd (through `client`, whose namespace is replaced by each
 * operation's) what `ops` say. Idempotent; a record or blob that is gone
 * meanwhile is skipped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ContainerdClient } from "../containerd/client.ts";
 * import { applyOps } from "./containerd_pending.ts";
 * const client = new ContainerdClient({ address: "/nonexistent/containerd.sock" });
 * await applyOps(client, []); // nothing to tell: nothing is asked
 * await assert.rejects(applyOps(client, [{ op: "delete", digest: "sha256:" + "0".repeat(64) }]),
 *   /is containerd running/);
 * client.close();
 * ```
 */
export async function applyOps(
  client: ContainerdClient,
  ops: Array<PendingOp & { ns?: string }>,
): Promise<void> {
  for (const o of ops) {
    const c = o.ns === undefined || o.ns === client.namespace ? client : client.withNamespace(o.ns);
    const images = new ContainerdImages(c);
    const content = new ContainerdContent(c);
    try {
      switch (o.op) {
        case "labels":
          await images.updateLabels(o.image, o.labels);
          break;
        case "root":
          await content.updateLabels(o.digest, { [GC_ROOT_LABEL]: o.value });
          break;
        case "image":
          await images.put(o.name, o.target, o.labels);
          break;
        case "delete":
          await content.delete(o.digest);
          break;
        case "unref": {
          const key = sociIndexRefLabel(o.digest);
          for (const img of await images.list()) {
            const drop: Record<string, null> = {};
            if (key in img.labels) drop[key] = null;
            if (img.labels[SOCI_INDEX_IMAGE_LABEL] === o.digest) {
              drop[SOCI_INDEX_IMAGE_LABEL] = null;
            }
            if (Object.keys(drop).length > 0) {
              await images.updateLabels(img.name, drop).catch((e) => {
                if (!(e instanceof NotFoundError)) throw e;
              });
            }
          }
          break;
        }
      }
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
    }
  }
}

/** The owner of a transaction key: its pid and when it began (ms). */
function ownerOf(tx: string): { pid: number; created: number } | undefined {
  const m = /^ctrd-([0-9a-z]+)-([0-9]+)-[0-9a-f]+$/.exec(tx);
  return m ? { pid: Number(m[2]), created: parseInt(m[1], 36) } : undefined;
}

/**
 * Whether the process that began transaction `tx` is gone: `/proc/<pid>`
 * is missing (when this process may look at `/proc`, asked without a
 * prompt), or else the transaction is older than a lease lives.
 */
function ownerGone(tx: string, now = Date.now()): boolean {
  const owner = ownerOf(tx);
  if (owner === undefined) return true; // not a key we make
  if (owner.pid === Deno.pid) return false; // a transaction of ours may be open
  return processGone(owner.pid) ?? now - owner.created > DEFAULT_LEASE_EXPIRY_MS;
}

/**
 * The recovery of the containerd store, run holding the root lock before
 * any write: operations of transactions that committed their DB changes
 * are applied (again), and the leases of transactions that are over
 * (committed, or whose process is gone) are deleted with `sync`, so that
 * containerd collects what they alone held before the caller goes on.
 * Entries made for another containerd socket are left for a command that
 * talks to it.
 *
 * @param db the artifacts DB (nothing is done when it is read-only)
 * @param client a client of the store's containerd
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ArtifactsDb } from "./artifacts_db.ts";
 * import { ContainerdClient } from "../containerd/client.ts";
 * import { recoverContainerd } from "./containerd_pending.ts";
 * const db = ArtifactsDb.open(":memory:");
 * const client = new ContainerdClient({ address: "/nonexistent/containerd.sock" });
 * // An entry of another containerd is left for a command that talks to it.
 * const entry = 'lease:{"sock":"/other.sock","ns":"default","id":"l1"}';
 * db.addPending("ctrd-1-4194305-00000000", [entry]);
 * await recoverContainerd(db, client);
 * assert.deepEqual([...db.listPending().values()], [[entry]]);
 * client.close();
 * db.close();
 * ```
 */
export async function recoverContainerd(db: ArtifactsDb, client: ContainerdClient): Promise<void> {
  if (db.readOnly) return;
  const pending = db.listPending();
  const committed = new Set<string>();
  for (const [key, entries] of pending) {
    if (!key.startsWith(CONTAINERD_TX_PREFIX) || !key.endsWith(OPS_SUFFIX)) continue;
    const ops = decodeOps(entries);
    if (ops.some((o) => o.sock !== client.socket)) continue;
    await applyOps(client, ops);
    db.transaction(() => db.clearPending(key));
    committed.add(key.slice(0, -OPS_SUFFIX.length));
  }
  for (const [key, entries] of pending) {
    if (!key.startsWith(CONTAINERD_TX_PREFIX) || key.endsWith(OPS_SUFFIX)) continue;
    if (pending.has(opsKey(key)) && !committed.has(key)) continue; // its operations wait
    if (!committed.has(key) && !ownerGone(key)) continue;
    const leases = entries.filter((e) => e.startsWith("lease:"))
      .map((e) => JSON.parse(e.slice("lease:".length)) as PendingTarget & { id: string });
    if (leases.some((l) => l.sock !== client.socket)) continue;
    for (const l of leases) {
      await deleteLease(client, l.ns, l.id, true);
    }
    db.transaction(() => db.clearPending(key));
  }
}

/**
 * Deletes a lease (a missing one is fine); with `sync`, containerd collects
 * what only it held before answering.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ContainerdClient } from "../containerd/client.ts";
 * import { deleteLease } from "./containerd_pending.ts";
 * const client = new ContainerdClient({ address: "/nonexistent/containerd.sock" });
 * await assert.rejects(deleteLease(client, "default", "l1", true), /is containerd running/);
 * client.close();
 * ```
 */
export async function deleteLease(
  client: ContainerdClient,
  ns: string,
  id: string,
  sync: boolean,
): Promise<void> {
  const c = ns === client.namespace ? client : client.withNamespace(ns);
  try {
    await new ContainerdLeases(c).delete(id, { sync });
  } catch (e) {
    if (!(e instanceof NotFoundError)) throw e;
  }
}
