/**
 * The one interface every artifact store implements: where SOCI artifacts
 * (indexes, zTOCs, prefetch blobs, the `{}` config) and the documents of
 * the images they index are kept, next to the artifacts DB that records
 * them (`soci-format.md` §9–§10). Two stores implement it: the local OCI
 * layout under the soci root (`--content-store soci`, `local_store.ts`) and
 * containerd's content store (`--content-store containerd`).
 *
 * Writes go through a {@link ArtifactTransaction}: everything it stages
 * becomes visible together at `commit()`, or not at all, in the store and
 * in the DB alike.
 *
 * @module
 */
import type { Descriptor } from "../oci/descriptor.ts";
import type { ArtifactRecord, ArtifactsDb, StoredImage } from "./artifacts_db.ts";

/** Digest and size of a blob. */
export interface BlobInfo {
  /** `sha256:<hex>`. */
  digest: string;
  /** Size in bytes. */
  size: number;
  /** When the blob was written, where the store knows (listings). */
  createdAt?: Date;
}

/** Which store (`--content-store`). */
export type ContentStoreKind = "soci" | "containerd";

/** Options of {@linkcode ArtifactStore.begin}. */
export interface TransactionOptions {
  /**
   * Called after each commit step has been applied (for `"db"`: inside the
   * SQLite transaction, before it commits). Throwing makes the commit fail
   * and roll back; tests use it to inject failures and kills.
   */
  onStep?: (step: CommitStep) => void;
}

/**
 * Steps of a commit, reported to {@linkcode TransactionOptions.onStep}:
 * `pending` (the blobs about to be added are noted), `blobs` (they are in
 * place), `db` (inside the DB transaction, before it commits), `committed`
 * (the commit point has passed), `index` (views such as `index.json` are
 * up to date).
 */
export type CommitStep = "pending" | "blobs" | "db" | "committed" | "index";

/** Where SOCI artifacts are kept (see the module documentation). */
export interface ArtifactStore {
  /** `soci` or `containerd`. */
  readonly kind: ContentStoreKind;
  /** Where the store is, for messages (a directory, or a socket and namespace). */
  readonly location: string;
  /** The artifacts DB that records what the store holds. */
  readonly db: ArtifactsDb;
  /** Digest and size of a stored blob, or `undefined` when it is absent. */
  stat(digest: string): Promise<BlobInfo | undefined>;
  /** True when the blob is stored. */
  has(digest: string): Promise<boolean>;
  /** The bytes of a blob; `NotFoundError` when it is absent. */
  readBlob(digest: string): Promise<Uint8Array>;
  /** A stream of a blob's bytes; `NotFoundError` when it is absent. */
  openBlob(digest: string): Promise<ReadableStream<Uint8Array>>;
  /** Bytes `[start, end)` of a blob. */
  readRange(digest: string, start: number, end: number): Promise<Uint8Array>;
  /** Every blob of the store, in digest order. */
  listBlobs(): AsyncIterable<BlobInfo>;
  /** The image named `name` in the store, or `undefined`. */
  image(name: string): Promise<StoredImage | undefined>;
  /** Every image named in the store. */
  images(): Promise<StoredImage[]>;
  /** Starts a transaction. */
  begin(options?: TransactionOptions): ArtifactTransaction;
  /**
   * Runs `fn` holding the root's exclusive lock (serializes commits,
   * garbage collection and `rebuild-db` across processes).
   */
  withLock<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * Brings what the store derives from the DB (the local store's
   * `index.json`) in line with it, for callers that changed the DB
   * directly (`rebuild-db`). Call holding the lock.
   */
  syncViews(): Promise<void>;
  /**
   * Removes what nothing records any more (blobs no DB row, image or index
   * reaches) and returns their digests. Stores that collect garbage
   * themselves (containerd) return what they were asked to drop.
   */
  gc(): Promise<string[]>;
  /** Releases the DB and connections. */
  close(): void;
}

/** The options of {@linkcode ArtifactTransaction.tagImage}. */
export interface TagImageOptions {
  /**
   * Make the name point at the target in a store that keeps its own image
   * records (containerd): the record is created, or moved to `target` when
   * it exists (`convert`'s destination). Without it, the containerd store
   * never makes or changes an image record: a name it does not have with
   * that target is not recorded there, and the image's indexes are kept by
   * a GC root label instead. The local store always records the name.
   */
  upsert?: boolean;
}

/** The options of {@linkcode ArtifactTransaction.addIndex}. */
export interface AddIndexOptions {
  /** The image (by its store name) the index belongs to: stores keep the index while it exists. */
  image?: string;
}

/**
 * Changes to a store and its DB that become visible together at
 * `commit()`, or not at all. Use `await using tx = store.begin()` to abort
 * automatically when not committed.
 */
export interface ArtifactTransaction extends AsyncDisposable {
  /**
   * What went wrong after the commit point without undoing the commit
   * (e.g. `removing unreferenced blobs failed: …`); the store catches up
   * later. Empty until `commit()` returns.
   */
  readonly warnings: readonly string[];
  /**
   * Stages a blob. With `expected`, the size and sha256 digest are verified
   * first (`BadInputError` on mismatch, nothing staged).
   */
  putBlob(bytes: Uint8Array, expected?: BlobInfo): Promise<BlobInfo>;
  /**
   * The bytes of a blob staged in this transaction or already stored
   * (`NotFoundError` otherwise).
   */
  readBlob(digest: string): Promise<Uint8Array>;
  /**
   * Records a SOCI index whose blob is staged here or stored: listed by the
   * store, kept (with what it references) while its image exists.
   */
  addIndex(desc: Descriptor, options?: AddIndexOptions): void;
  /**
   * Drops a SOCI index: no longer listed; its blob and what only it
   * references become garbage for {@linkcode ArtifactStore.gc} (the
   * containerd store deletes the blob at commit, and containerd's GC
   * collects what only it referenced).
   */
  removeIndex(digest: string): void;
  /**
   * Names an image (its target must be staged here or stored). In the
   * containerd store, `annotations` become the record's labels when it is
   * created or moved (see {@linkcode TagImageOptions.upsert}).
   */
  tagImage(
    name: string,
    target: Descriptor,
    annotations?: Record<string, string>,
    options?: TagImageOptions,
  ): void;
  /** Writes (upserts) a DB row at commit. */
  putRecord(rec: ArtifactRecord): void;
  /** Deletes a DB row at commit. */
  deleteRecord(digest: string): void;
  /** Applies everything, or nothing (the error is rethrown). */
  commit(): Promise<void>;
  /** Drops everything staged; the store and DB are not touched. */
  abort(): Promise<void>;
}
