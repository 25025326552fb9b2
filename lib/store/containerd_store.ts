/**
 * The containerd artifact store (`--content-store containerd`): SOCI
 * artifacts live in containerd's content store, in one namespace, kept
 * from its garbage collector by upstream's labels (`soci-format.md` §10.3);
 * images are containerd's image records; the artifacts DB is the root's
 * (`<root>/artifacts.sqlite`, shared with the local store, as upstream
 * keeps one `artifacts.db` for both stores).
 *
 * What keeps what (containerd's GC follows `containerd.io/gc.ref.content.*`
 * labels from image records and roots):
 *
 * ```text
 * image record ──soci-index.<hex>──▶ SOCI index ──config──▶ {}
 *   (and upstream's soci-index =      (one label     └─ztoc.<i>──▶ zTOCs, prefetch blobs
 *    the index built last)             per index)
 * ```
 *
 * An index whose image has no record in containerd (e.g. `create
 * docker://…` into this store: no record is invented for it) is a GC root
 * (`containerd.io/gc.root`) instead. `index rm` deletes the index blob (as
 * upstream does) and its labels on image records; the GC then collects the
 * zTOCs nothing else references. Deleting the image (`ctr images rm`) lets
 * the GC collect its indexes and zTOCs.
 *
 * **One commit point: the DB.** A transaction writes its blobs into
 * containerd as it goes, inside a lease of its own (with
 * `containerd.io/gc.expire`, 24 h), recorded in the DB's `pending` table
 * before the lease is made; SOCI indexes and other documents get their GC
 * labels as they are written. Nothing is visible yet: no DB row, no label
 * on anything that is kept. `commit()`, holding the root lock, checks that
 * everything referenced is there (adding reused blobs to the lease), works
 * out what containerd must be told (labels on image records, GC roots,
 * image records to create or move, blobs to delete) and commits the DB rows
 * together with that list, in one SQLite transaction: the change happens
 * there. Then it tells containerd, clears the list and deletes the lease.
 *
 * A process killed before the DB commit leaves a lease whose owner is
 * gone: the next writer (every commit and `rebuild-db` start with the
 * recovery, `containerd_pending.ts`) deletes it with `sync`, and containerd
 * collects what only it held; if no writer comes, the lease expires. Killed
 * after the DB commit, the list is still there: the next writer applies it
 * and deletes the lease. So once the next writer has run, a transaction is
 * visible whole or not at all, and no lease is left holding its content.
 *
 * **A namespace that does not exist** is an error (`containerd namespace
 * <ns> does not exist (set --namespace or CONTAINERD_NAMESPACE)`, see
 * {@linkcode ContainerdStore.requireNamespace}) before anything is read
 * from it, listed or committed to it (so `rebuild-db` or `index rm` with a
 * mistyped `--namespace` change nothing), and before any call of a store
 * whose DB is read-only. Writes are allowed into a new namespace
 * (containerd makes it on the first write, so a commit's own writes have
 * made it by the time it commits).
 *
 * @module
 */
import { BadInputError, NotFoundError } from "../errors.ts";
import { ContainerdClient, type ContainerdClientOptions } from "../containerd/client.ts";
import { ContainerdContent, type ContentInfo, eagerStream } from "../containerd/content.ts";
import { ContainerdImages, type ImageRecord } from "../containerd/images.ts";
import { ContainerdNamespaces, namespaceMissing } from "../containerd/namespaces.ts";
import { normalizeImageName } from "../containerd/names.ts";
import type {
  ArtifactStore,
  ArtifactTransaction,
  BlobInfo,
  ContentStoreKind,
  TransactionOptions,
} from "./artifact_store.ts";
import { ArtifactsDb, type StoredImage } from "./artifacts_db.ts";
import { recoverContainerd } from "./containerd_pending.ts";
import { ContainerdTransaction } from "./containerd_transaction.ts";
import { artifactsDbPath } from "./root.ts";
import { withRootLock } from "./root_lock.ts";

/** Options of {@linkcode ContainerdStore.open}. */
export interface ContainerdStoreOptions extends ContainerdClientOptions {
  /** A client to use (its socket and namespace); the store does not close it. */
  client?: ContainerdClient;
  /** Open the DB read-only: nothing is created; writes fail. */
  readOnly?: boolean;
  /** An already open artifacts DB (default: `<root>/artifacts.sqlite`, created on first write). */
  db?: ArtifactsDb;
  /** How long the lease of a transaction lives if nobody deletes it (default 24 h). */
  leaseExpiryMs?: number;
}

/**
 * The candidate record names of `name`: normalized as containerd and
 * nerdctl normalize names (`app:1` → `docker.io/library/app:1`), then as
 * written (`ctr images import` makes names like `import-2024-01-01:tag`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { recordNames } from "./containerd_store.ts";
 * assert.deepEqual(recordNames("app:1"), ["docker.io/library/app:1", "app:1"]);
 * assert.deepEqual(recordNames("docker.io/library/app:1"), ["docker.io/library/app:1"]);
 * assert.deepEqual(recordNames("Not A Name"), ["Not A Name"]);
 * ```
 */
export function recordNames(name: string): string[] {
  let normalized: string | undefined;
  try {
    normalized = normalizeImageName(name);
  } catch {
    // not a name containerd could normalize: only the exact name can match
  }
  return [...new Set([normalized, name].filter((n): n is string => n !== undefined))];
}

function toStoredImage(rec: ImageRecord): StoredImage {
  const { mediaType, digest, size } = rec.target;
  return {
    name: rec.name,
    target: { mediaType, digest, size },
    annotations: { ...rec.labels },
    createdAt: rec.createdAt ?? new Date(0),
  };
}

/**
 * The containerd store of a soci root (see the module documentation).
 * Opening it connects to nothing; the first call does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ContainerdStore } from "./containerd_store.ts";
 * const root = await Deno.makeTempDir();
 * const store = ContainerdStore.open(root, { address: "/nonexistent/containerd.sock" });
 * assert.equal(store.kind, "containerd");
 * assert.equal(store.location, "containerd namespace default (/nonexistent/containerd.sock)");
 * await assert.rejects(store.stat("sha256:" + "0".repeat(64)), /is containerd running/);
 * store.close();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export class ContainerdStore implements ArtifactStore {
  /** `containerd`. */
  readonly kind: ContentStoreKind = "containerd";
  /** The soci root (artifacts DB, lock). */
  readonly root: string;
  /** The artifacts DB. */
  readonly db: ArtifactsDb;
  /** The client every call goes through (socket and namespace). */
  readonly client: ContainerdClient;
  /** containerd's content store in the namespace. */
  readonly content: ContainerdContent;
  /** containerd's image records in the namespace. */
  readonly imageRecords: ContainerdImages;
  /** How long transaction leases live when nobody deletes them. */
  readonly leaseExpiryMs?: number;
  readonly #ownsClient: boolean;
  /** Set once containerd listed the namespace (it cannot go away while in use). */
  #namespaceSeen = false;

  private constructor(
    root: string,
    db: ArtifactsDb,
    client: ContainerdClient,
    owns: boolean,
    leaseExpiryMs?: number,
  ) {
    this.root = root;
    this.db = db;
    this.client = client;
    this.#ownsClient = owns;
    this.leaseExpiryMs = leaseExpiryMs;
    this.content = new ContainerdContent(client);
    this.imageRecords = new ContainerdImages(client);
  }

  /** Opens the store of `root` on containerd at `options.address`, namespace `options.namespace`. */
  static open(root: string, options: ContainerdStoreOptions = {}): ContainerdStore {
    const db = options.db ?? ArtifactsDb.open(artifactsDbPath(root), {
      readOnly: options.readOnly,
      create: "lazy",
    });
    const owns = options.client === undefined;
    let client: ContainerdClient;
    try {
      client = options.client ?? new ContainerdClient(options);
    } catch (e) {
      if (options.db === undefined) db.close();
      throw e;
    }
    return new ContainerdStore(root, db, client, owns, options.leaseExpiryMs);
  }

  /** `containerd namespace <ns> (<socket>)`, for messages. */
  get location(): string {
    return `containerd namespace ${this.client.namespace} (${this.client.socket})`;
  }

  /**
   * Throws `containerd namespace <ns> does not exist (set --namespace or
   * CONTAINERD_NAMESPACE)` when containerd does not list the store's
   * namespace: a `BadInputError` (the flag is wrong), so that callers which
   * turn a `NotFoundError` of a read into "the blob is missing (try
   * rebuild-db)" pass it on as it is. Once the namespace was seen, no call
   * is made.
   */
  async requireNamespace(): Promise<void> {
    if (this.#namespaceSeen) return;
    const ns = this.client.namespace;
    if (!(await new ContainerdNamespaces(this.client).exists(ns))) {
      throw new BadInputError(namespaceMissing(ns));
    }
    this.#namespaceSeen = true;
  }

  /** {@link requireNamespace} when the DB is read-only (such a store never makes the namespace). */
  async #requireIfReadOnly(): Promise<void> {
    if (this.db.readOnly) await this.requireNamespace();
  }

  /**
   * Digest, size and creation time of a blob, or `undefined` when the
   * namespace lacks it (read-only: a `BadInputError` when the namespace
   * does not exist, see {@link requireNamespace}).
   */
  async stat(digest: string): Promise<BlobInfo | undefined> {
    await this.#requireIfReadOnly();
    let info: ContentInfo;
    try {
      info = await this.content.info(digest);
    } catch (e) {
      if (e instanceof NotFoundError) return undefined;
      throw e;
    }
    return { digest: info.digest, size: info.size, createdAt: info.createdAt };
  }

  /** True when the namespace holds the blob. */
  async has(digest: string): Promise<boolean> {
    return (await this.stat(digest)) !== undefined;
  }

  /**
   * A blob's bytes; `NotFoundError` (`blob <d> not found in containerd
   * namespace <ns>`), or a `BadInputError` when the namespace does not exist.
   */
  async readBlob(digest: string): Promise<Uint8Array> {
    await this.requireNamespace();
    return await this.content.readBytes(digest);
  }

  /** A stream of a blob's bytes; a missing blob is a `NotFoundError` from this call. */
  async openBlob(digest: string): Promise<ReadableStream<Uint8Array>> {
    await this.requireNamespace();
    return await eagerStream(this.content.read(digest));
  }

  /**
   * Bytes `[start, end)` of a blob. `NotFoundError` when it is absent,
   * `BadInputError` when the range is not inside the blob.
   */
  async readRange(digest: string, start: number, end: number): Promise<Uint8Array> {
    if (
      !(Number.isSafeInteger(start) && Number.isSafeInteger(end)) || start < 0 || end < start
    ) {
      throw new BadInputError(`invalid range [${start}, ${end}) of blob ${digest}`);
    }
    await this.requireNamespace();
    if (start === end) {
      if (!(await this.has(digest))) await this.content.info(digest); // its NotFoundError
      return new Uint8Array(0);
    }
    const bytes = await this.content.readBytes(digest, { offset: start, size: end - start });
    if (bytes.length !== end - start) {
      throw new BadInputError(
        `range [${start}, ${end}) is outside blob ${digest} (${start + bytes.length} bytes)`,
      );
    }
    return bytes;
  }

  /** Every blob of the namespace, in digest order (a namespace that does not exist is an error). */
  async *listBlobs(): AsyncIterable<BlobInfo> {
    await this.requireNamespace();
    const all = await this.content.list();
    all.sort((a, b) => a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0);
    for (const b of all) yield { digest: b.digest, size: b.size, createdAt: b.createdAt };
  }

  /**
   * The image record named `name` (normalized first, then as written; see
   * {@link recordNames}), or `undefined`. A namespace that does not exist
   * is a `NotFoundError` saying so.
   */
  async image(name: string): Promise<StoredImage | undefined> {
    const rec = await this.record(name);
    return rec && toStoredImage(rec);
  }

  /** The containerd record of {@link image}, with its labels. */
  async record(name: string): Promise<ImageRecord | undefined> {
    for (const n of recordNames(name)) {
      try {
        return await this.imageRecords.get(n);
      } catch (e) {
        if (!(e instanceof NotFoundError)) throw e;
        if (/^containerd namespace .* does not exist/.test(e.message)) throw e;
      }
    }
    return undefined;
  }

  /**
   * Every image record of the namespace, by name (labels as annotations).
   * Read-only, a namespace that does not exist is an error.
   */
  async images(): Promise<StoredImage[]> {
    await this.#requireIfReadOnly();
    const all = (await this.imageRecords.list()).map(toStoredImage);
    return all.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  }

  /** Starts a transaction (see the module documentation). */
  begin(options: TransactionOptions = {}): ArtifactTransaction {
    return new ContainerdTransaction(this, options);
  }

  /**
   * Runs `fn` holding the root's exclusive lock (the local store's lock:
   * one DB, one lock), after the recovery of transactions that died (see
   * the module documentation).
   */
  withLock<T>(fn: () => Promise<T>): Promise<T> {
    return withRootLock(this.root, async () => {
      await recoverContainerd(this.db, this.client);
      return await fn();
    });
  }

  /** Nothing to do: containerd keeps no view of the DB. */
  syncViews(): Promise<void> {
    return Promise.resolve();
  }

  /** Nothing to do: containerd collects garbage itself (see the module documentation). */
  gc(): Promise<string[]> {
    return Promise.resolve([]);
  }

  /** Closes the DB, and the client when the store made it. */
  close(): void {
    this.db.close();
    if (this.#ownsClient) this.client.close();
  }

  /** {@link close} (`using store = ContainerdStore.open(…)`). */
  [Symbol.dispose](): void {
    this.close();
  }
}
