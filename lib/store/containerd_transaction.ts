/**
 * A transaction of the containerd store: blobs written into containerd
 * inside a lease, DB rows, and what containerd must be told (labels, image
 * records, deletions), visible together once `commit()` has committed the
 * DB, or not at all (the protocol is described in `containerd_store.ts`).
 *
 * @module
 */
import { BadInputError, errorMessage, NotFoundError, SociError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { parseDigest } from "../oci/digest.ts";
import type { ContainerdClient } from "../containerd/client.ts";
import { ContainerdContent } from "../containerd/content.ts";
import {
  documentGcLabels,
  SOCI_INDEX_IMAGE_LABEL,
  sociIndexRefLabel,
} from "../containerd/gc_labels.ts";
import { ContainerdLeases, newLeaseId } from "../containerd/leases.ts";
import type {
  AddIndexOptions,
  ArtifactTransaction,
  BlobInfo,
  CommitStep,
  TagImageOptions,
  TransactionOptions,
} from "./artifact_store.ts";
import type { ArtifactRecord } from "./artifacts_db.ts";
import {
  applyOps,
  deleteLease,
  encodeOps,
  leaseEntry,
  newTxKey,
  opsKey,
  type PendingOp,
  type PendingTarget,
} from "./containerd_pending.ts";
import type { ContainerdStore } from "./containerd_store.ts";
import { checkedBlob } from "./blob_check.ts";

/** The label that names, on a lease, the transaction that made it. */
export const LEASE_TX_LABEL = "dev.soci-deno/transaction";

type Change =
  | { op: "put"; rec: ArtifactRecord }
  | { op: "delete"; digest: string }
  | { op: "index"; desc: Descriptor; image?: string }
  | { op: "remove"; digest: string }
  | {
    op: "image";
    name: string;
    target: Descriptor;
    annotations: Record<string, string>;
    upsert: boolean;
  };

/** The lease of a transaction and a client whose writes go into it. */
interface Lease {
  id: string;
  client: ContainerdClient;
}

/**
 * See the module documentation. Use {@linkcode ContainerdStore.begin}.
 *
 * ```ts ignore
 * import { ContainerdStore } from "./containerd_store.ts";
 * const store = ContainerdStore.open("/tmp/soci-root", { address: "/run/containerd/containerd.sock" });
 * {
 *   await using tx = store.begin();
 *   const blob = await tx.putBlob(new TextEncoder().encode("{}")); // in containerd, in the lease
 *   // … putRecord / addIndex …
 *   await tx.commit(); // DB rows, then labels; the lease is deleted
 * }
 * store.close();
 * ```
 */
export class ContainerdTransaction implements ArtifactTransaction {
  #store: ContainerdStore;
  #onStep?: (step: CommitStep) => void;
  #key = newTxKey();
  #lease?: Promise<Lease>;
  #writing = new Map<string, Promise<BlobInfo>>();
  #written = new Set<string>();
  #changes: Change[] = [];
  #state: "open" | "committing" | "done" = "open";
  #warnings: string[] = [];

  /** Use {@linkcode ContainerdStore.begin}. */
  constructor(store: ContainerdStore, options: TransactionOptions = {}) {
    this.#store = store;
    this.#onStep = options.onStep;
  }

  /** What failed after the commit point (the next writer catches up with it). */
  get warnings(): readonly string[] {
    return this.#warnings;
  }

  /** True until `commit()` or `abort()` has been called. */
  get open(): boolean {
    return this.#state === "open";
  }

  /** The transaction's key in the DB's `pending` table. */
  get key(): string {
    return this.#key;
  }

  #checkOpen(): void {
    if (this.#state !== "open") throw new SociError("store transaction is already finished");
  }

  #target(): PendingTarget {
    return { sock: this.#store.client.socket, ns: this.#store.client.namespace };
  }

  #writableDb(): void {
    const db = this.#store.db;
    if (db.readOnly) throw new SociError(`artifacts DB ${db.path} is open read-only`);
  }

  /** The lease, made on first use: recorded in the DB first, then created in containerd. */
  #leased(): Promise<Lease> {
    this.#lease ??= (async () => {
      this.#writableDb();
      const store = this.#store;
      await Deno.mkdir(store.root, { recursive: true, mode: 0o700 }); // the DB's folder
      const id = newLeaseId();
      const db = store.db;
      db.transaction(() => db.addPending(this.#key, [leaseEntry(this.#target(), id)]));
      try {
        await new ContainerdLeases(store.client).create({
          id,
          expireAfterMs: store.leaseExpiryMs,
          labels: { [LEASE_TX_LABEL]: this.#key },
        });
      } catch (e) {
        try {
          db.transaction(() => db.clearPending(this.#key));
        } catch {
          // left for the next writer's recovery
        }
        throw e;
      }
      return { id, client: store.client.withLease(id) };
    })();
    return this.#lease;
  }

  /**
   * Writes a blob into containerd, inside the transaction's lease (an
   * existing blob is added to the lease). A SOCI index gets its GC labels
   * (`config`, `ztoc.<i>`); another manifest or index that containerd did
   * not have gets the labels that keep its children (`config`, `l.<i>`,
   * `m.<i>`). With `expected`, the size and sha256 digest are verified
   * first (`BadInputError` on mismatch, nothing written).
   */
  async putBlob(bytes: Uint8Array, expected?: BlobInfo): Promise<BlobInfo> {
    this.#checkOpen();
    const info = checkedBlob(bytes, expected);
    const digest = info.digest;
    if (this.#written.has(digest)) return info;
    let pending = this.#writing.get(digest);
    if (!pending) {
      // Written before it stops being written: a call between the two would write it again.
      pending = this.#write(info, bytes)
        .then((r) => (this.#written.add(digest), r))
        .finally(() => this.#writing.delete(digest));
      this.#writing.set(digest, pending);
    }
    await pending;
    return info;
  }

  async #write(info: BlobInfo, bytes: Uint8Array): Promise<BlobInfo> {
    const lease = await this.#leased();
    const content = new ContainerdContent(lease.client);
    const { kind, labels } = documentGcLabels(bytes);
    if (kind === "soci-index") {
      await content.write(info, bytes, { labels });
    } else {
      const { existed } = await content.write(info, bytes);
      // Documents of others (an image's manifests) keep their labels as they are.
      if (!existed && Object.keys(labels).length > 0) {
        await content.updateLabels(info.digest, labels);
      }
    }
    return info;
  }

  /** The bytes of a blob written here or already in containerd. */
  async readBlob(digest: string): Promise<Uint8Array> {
    await this.#writing.get(digest);
    return await this.#store.readBlob(digest);
  }

  /**
   * Records a SOCI index whose blob is written here or already in
   * containerd: at commit, the image record `options.image` (when it is in
   * containerd with the index's image as target, or is made by this
   * transaction) gets the labels that keep the index; otherwise the index
   * becomes a GC root.
   */
  addIndex(desc: Descriptor, options: AddIndexOptions = {}): void {
    this.#checkOpen();
    checkDescriptor(desc);
    this.#changes.push({ op: "index", desc, image: options.image });
  }

  /**
   * Drops a SOCI index: its DB row goes at commit, then its blob is deleted
   * from containerd (upstream's real delete) and the labels of image
   * records that kept it are removed; containerd's GC collects the zTOCs
   * nothing else keeps.
   */
  removeIndex(digest: string): void {
    this.deleteRecord(digest);
    this.#changes.push({ op: "remove", digest });
  }

  /**
   * Names an image. With `options.upsert`, containerd's record `name` is
   * created, or moved to `target` (with `annotations` as labels; its other
   * labels are kept). Without it, no record is made or changed: this only
   * tells {@link addIndex} which target the image's record must have to
   * keep its indexes (an image that is not in containerd, e.g. indexed from
   * a registry, gets no invented record: its indexes are GC roots instead).
   */
  tagImage(
    name: string,
    target: Descriptor,
    annotations: Record<string, string> = {},
    options: TagImageOptions = {},
  ): void {
    this.#checkOpen();
    checkDescriptor(target);
    if (name === "" || [...name].some((c) => c.charCodeAt(0) < 0x20 || c === "\x7f")) {
      throw new BadInputError(`invalid image name ${JSON.stringify(name)}`);
    }
    const t: Descriptor = { mediaType: target.mediaType, digest: target.digest, size: target.size };
    this.#changes.push({
      op: "image",
      name,
      target: t,
      annotations: { ...annotations },
      upsert: options.upsert ?? false,
    });
  }

  /** Writes (upserts) a DB row at commit. */
  putRecord(rec: ArtifactRecord): void {
    this.#checkOpen();
    this.#writableDb();
    parseDigest(rec.digest);
    this.#changes.push({ op: "put", rec: { ...rec } });
  }

  /** Deletes a DB row at commit. */
  deleteRecord(digest: string): void {
    this.#checkOpen();
    this.#writableDb();
    this.#changes.push({ op: "delete", digest });
  }

  /** Waits for `putBlob` calls still writing (their errors went to their callers). */
  async #settle(): Promise<void> {
    while (this.#writing.size > 0) await Promise.allSettled([...this.#writing.values()]);
  }

  /**
   * Applies everything (see the module documentation of
   * `containerd_store.ts`). Every digest that a DB row, an index or an image
   * refers to, and every blob an index lists, must be written here or be in
   * containerd, otherwise nothing is applied (`NotFoundError`); so is
   * nothing when the namespace does not exist (`BadInputError`). On any
   * failure before the DB commits, the DB is left as it was, the lease is
   * deleted (containerd collects what only it held) and the error is
   * rethrown; after it, nothing fails the commit: what could not be told
   * to containerd is in {@link warnings} and the next writer catches up.
   */
  async commit(): Promise<void> {
    this.#checkOpen();
    this.#state = "committing";
    try {
      await this.#settle();
      if (this.#lease === undefined && this.#changes.length === 0) return;
      if (this.#changes.length > 0) this.#writableDb();
      await this.#store.withLock(() => this.#apply());
    } catch (e) {
      await this.#discard();
      throw e;
    } finally {
      this.#state = "done";
    }
  }

  /** Drops everything: the lease is deleted; the DB is not touched. */
  async abort(): Promise<void> {
    if (this.#state !== "open") return;
    this.#state = "done";
    await this.#settle();
    await this.#discard();
  }

  /** Aborts when the transaction was neither committed nor aborted. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.abort();
  }

  /** Deletes the lease (with `sync`: what only it held is collected now) and its entry. */
  async #discard(): Promise<void> {
    if (this.#lease === undefined) return;
    let lease: Lease;
    try {
      lease = await this.#lease;
    } catch {
      return; // never made (its entry was cleared then)
    }
    this.#lease = undefined;
    try {
      await deleteLease(this.#store.client, this.#store.client.namespace, lease.id, true);
      const db = this.#store.db;
      db.transaction(() => db.clearPending(this.#key));
    } catch {
      // left for the next writer's recovery (or the lease's expiry)
    }
  }

  async #apply(): Promise<void> {
    const store = this.#store;
    const db = store.db;
    const ops = await this.#plan();
    this.#onStep?.("pending");
    this.#onStep?.("blobs"); // (written into containerd already, held by the lease)

    // The DB rows and the operations that follow from them: the commit point.
    const hasRows = this.#changes.some((c) => c.op === "put" || c.op === "delete");
    if (hasRows || ops.length > 0) {
      db.transaction(() => {
        for (const c of this.#changes) {
          if (c.op === "put") db.put(c.rec);
          else if (c.op === "delete") db.delete(c.digest);
        }
        if (ops.length > 0) db.addPending(opsKey(this.#key), encodeOps(this.#target(), ops));
        this.#onStep?.("db");
      });
    }

    // After the commit point: failures are warnings; the next writer catches up.
    try {
      this.#onStep?.("committed");
      if (ops.length > 0) {
        await applyOps(store.client, ops);
        this.#onStep?.("index");
        db.transaction(() => db.clearPending(opsKey(this.#key)));
      } else this.#onStep?.("index");
    } catch (e) {
      this.#warnings.push(`updating containerd's labels and images failed: ${errorMessage(e)}`);
      return; // the lease stays until the recovery has applied the operations
    }
    if (this.#lease !== undefined) {
      try {
        const lease = await this.#lease;
        this.#lease = undefined;
        await deleteLease(store.client, store.client.namespace, lease.id, false);
        db.transaction(() => db.clearPending(this.#key));
      } catch (e) {
        this.#warnings.push(`deleting the lease of the commit failed: ${errorMessage(e)}`);
      }
    }
  }

  /**
   * Checks that everything referenced is there (adding what the indexes
   * list to the lease, so that it cannot be collected before the labels
   * hold it) and works out what containerd must be told.
   */
  async #plan(): Promise<PendingOp[]> {
    const store = this.#store;
    const refs = new Set<string>();
    const rows = new Map<string, ArtifactRecord>();
    const upserts = new Map<string, Change & { op: "image" }>();
    const added = new Set<string>();
    for (const c of this.#changes) {
      if (c.op === "put") {
        refs.add(c.rec.digest);
        rows.set(c.rec.digest, c.rec);
      } else if (c.op === "image") {
        refs.add(c.target.digest);
        if (c.upsert) upserts.set(c.name, c);
      } else if (c.op === "index") {
        refs.add(c.desc.digest);
        added.add(c.desc.digest);
      }
    }
    for (const d of refs) {
      if (!this.#written.has(d) && !(await store.has(d))) {
        throw new NotFoundError(`cannot record ${d}: the blob is not in ${store.location}`);
      }
    }
    // Nothing is committed to a namespace that does not exist (e.g. `index rm`
    // with a mistyped --namespace): the DB would lose rows for nothing.
    await store.requireNamespace();

    const ops: PendingOp[] = [];
    for (const c of this.#changes) {
      if (c.op !== "remove" || added.has(c.digest)) continue;
      ops.push({ op: "delete", digest: c.digest }, { op: "unref", digest: c.digest });
    }
    for (const c of upserts.values()) {
      ops.push({ op: "image", name: c.name, target: c.target, labels: c.annotations });
    }
    const imageLabels = new Map<string, Record<string, string>>();
    const now = rfc3339(new Date());
    for (const c of this.#changes) {
      if (c.op !== "index") continue;
      await this.#holdChildren(c.desc.digest);
      const holder = await this.#holder(c.image, rows.get(c.desc.digest), upserts);
      if (holder === undefined) {
        ops.push({ op: "root", digest: c.desc.digest, value: now });
        continue;
      }
      const labels = imageLabels.get(holder) ?? {};
      labels[SOCI_INDEX_IMAGE_LABEL] = c.desc.digest; // upstream's: the last one wins
      labels[sociIndexRefLabel(c.desc.digest)] = c.desc.digest;
      imageLabels.set(holder, labels);
    }
    for (const [image, labels] of imageLabels) ops.push({ op: "labels", image, labels });
    return ops;
  }

  /**
   * Adds the blobs a SOCI index lists (zTOCs reused from earlier runs, the
   * config) to the lease until the index's labels keep them; a missing one
   * fails the commit.
   */
  async #holdChildren(indexDigest: string): Promise<void> {
    const store = this.#store;
    const { labels } = documentGcLabels(await store.readBlob(indexDigest));
    const children = [...new Set(Object.values(labels))].filter((d) => !this.#written.has(d));
    if (children.length === 0) return;
    const lease = await this.#leased();
    const leases = new ContainerdLeases(store.client);
    for (const d of children) {
      if (!(await store.has(d))) {
        throw new NotFoundError(
          `blob ${d} listed by SOCI index ${indexDigest} is not in ${store.location} ` +
            "(collected meanwhile? run the command again)",
        );
      }
      await leases.addResource(lease.id, { id: d, type: "content" });
    }
  }

  /**
   * The image record that will keep an index of image `name`: one made or
   * moved by this transaction, or one containerd has whose target is the
   * index's image; `undefined` when there is none.
   */
  async #holder(
    name: string | undefined,
    row: ArtifactRecord | undefined,
    upserts: Map<string, unknown>,
  ): Promise<string | undefined> {
    if (name === undefined) return undefined;
    if (upserts.has(name)) return name;
    let rec;
    try {
      rec = await this.#store.record(name);
    } catch (e) {
      if (e instanceof NotFoundError) return undefined;
      throw e;
    }
    if (rec === undefined) return undefined;
    if (row !== undefined && row.imageDigest !== "" && row.imageDigest !== rec.target.digest) {
      return undefined;
    }
    return rec.name;
  }
}

function checkDescriptor(desc: Descriptor): void {
  parseDigest(desc.digest);
  if (!desc.mediaType) throw new BadInputError(`descriptor ${desc.digest} has no media type`);
  if (!Number.isSafeInteger(desc.size) || desc.size < 0) {
    throw new BadInputError(`descriptor ${desc.digest} has an invalid size ${desc.size}`);
  }
}

/** RFC 3339 in UTC with whole seconds (as `containerd.io/gc.root` values are written). */
function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}
