/**
 * The local artifact store (`--content-store soci`): an OCI image layout
 * at `<root>/content` (`oci-layout`, `index.json`, `blobs/sha256/<hex>`),
 * readable by skopeo, umoci and oras, and the artifacts DB at
 * `<root>/artifacts.sqlite` that records what it holds
 * (`soci-format.md` §9, §10.2; design §5).
 *
 * Layout of a root:
 *
 * ```text
 * <root>/artifacts.sqlite      artifacts, named images, commit bookkeeping (SQLite, WAL)
 * <root>/content/oci-layout    {"imageLayoutVersion":"1.0.0"}
 * <root>/content/index.json    a view of the DB: named images (ref.name), then SOCI indexes
 * <root>/content/blobs/sha256/ blobs, mode 0444
 * <root>/content/ingest/<id>/  staging of open transactions
 * ```
 *
 * **One commit point.** A transaction stages its blobs, then, holding the
 * root's lock: records in the DB which blobs it is about to add, moves them
 * into place, and commits its DB changes (rows, images) in one SQLite
 * transaction — that commit is the moment the change happens. `index.json`
 * is rewritten from the DB afterwards. Readers read the DB, so they see a
 * change whole or not at all. A process killed mid-commit leaves at most
 * blobs that nothing records and a stale `index.json`; the next writer
 * (every commit, `gc` and `rebuild-db` start with a recovery) removes the
 * former and rewrites the latter.
 *
 * @module
 */
import { join } from "node:path";
import { BadInputError, NotFoundError } from "../errors.ts";
import { parseDigest } from "../oci/digest.ts";
import { syncDir, writeFileAtomic } from "../util/atomic_file.ts";
import type {
  ArtifactStore,
  ArtifactTransaction,
  BlobInfo,
  ContentStoreKind,
  TransactionOptions,
} from "./artifact_store.ts";
import { ArtifactsDb, type StoredImage } from "./artifacts_db.ts";
import { exists, removeStaleIngest } from "./ingest.ts";
import { emptyIndex, layoutIndexOf, taggedImages } from "./layout_index.ts";
import { encodeIndex } from "../oci/json_encode.ts";
import { LocalTransaction } from "./local_transaction.ts";
import {
  dbRoots,
  documentChildren,
  MAX_DOCUMENT_SIZE,
  reachable,
  readJsonCandidate,
} from "./reachability.ts";
import { artifactsDbPath, contentDir } from "./root.ts";
import { CONTAINERD_TX_PREFIX } from "./containerd_pending.ts";
import { withRootLock } from "./root_lock.ts";
import { META_IMPORT_TAGS } from "./sqlite.ts";

const OCI_LAYOUT_BYTES = new TextEncoder().encode('{"imageLayoutVersion":"1.0.0"}');
const HEX_LENGTHS: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

/** Options of {@linkcode LocalStore.open}. */
export interface LocalStoreOptions {
  /** Open the DB read-only: nothing is created; writes fail. */
  readOnly?: boolean;
  /** An already open artifacts DB (default: `<root>/artifacts.sqlite`, created on first write). */
  db?: ArtifactsDb;
}

/**
 * The local store of a soci root. Opening it touches nothing on disk;
 * reads of a missing store see an empty store; the layout and the DB are
 * created by the first commit that writes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalStore } from "./local_store.ts";
 * const root = await Deno.makeTempDir();
 * const store = LocalStore.open(root);
 * const tx = store.begin();
 * const { digest } = await tx.putBlob(new TextEncoder().encode("{}"));
 * tx.tagImage("empty", { mediaType: "application/vnd.oci.image.manifest.v1+json", digest,
 *   size: 2 });
 * await tx.commit();
 * assert.equal(new TextDecoder().decode(await store.readBlob(digest)), "{}");
 * assert.equal((await store.image("empty"))?.target.digest, digest);
 * store.close();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export class LocalStore implements ArtifactStore {
  /** `soci`. */
  readonly kind: ContentStoreKind = "soci";
  /** The soci root directory. */
  readonly root: string;
  /** The OCI layout directory, `<root>/content`. */
  readonly dir: string;
  /** The artifacts DB. */
  readonly db: ArtifactsDb;

  private constructor(root: string, db: ArtifactsDb) {
    this.root = root;
    this.dir = contentDir(root);
    this.db = db;
  }

  /** Opens the store of `root` (nothing is read or created yet). */
  static open(root: string, options: LocalStoreOptions = {}): LocalStore {
    const db = options.db ?? ArtifactsDb.open(artifactsDbPath(root), {
      readOnly: options.readOnly,
      create: "lazy",
    });
    return new LocalStore(root, db);
  }

  /** The layout directory, for messages. */
  get location(): string {
    return this.dir;
  }

  /** Path of `index.json`. */
  get indexPath(): string {
    return join(this.dir, "index.json");
  }

  /**
   * Path of a blob: `<root>/content/blobs/<alg>/<hex>`. Throws
   * `BadInputError` for a malformed digest.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { LocalStore } from "./local_store.ts";
   * const d = "sha256:" + "ab".repeat(32);
   * const store = LocalStore.open("/r", { readOnly: true });
   * assert.equal(store.blobPath(d), "/r/content/blobs/sha256/" + "ab".repeat(32));
   * assert.throws(() => store.blobPath("sha256:xyz"), /invalid checksum digest/);
   * ```
   */
  blobPath(digest: string): string {
    parseDigest(digest);
    const i = digest.indexOf(":");
    return join(this.dir, "blobs", digest.slice(0, i), digest.slice(i + 1));
  }

  /** True when the blob is in the store. */
  async has(digest: string): Promise<boolean> {
    return (await this.stat(digest)) !== undefined;
  }

  /** Digest and size of a stored blob, or `undefined` when it is absent. */
  async stat(digest: string): Promise<BlobInfo | undefined> {
    try {
      const info = await Deno.stat(this.blobPath(digest));
      return info.isFile ? { digest, size: info.size } : undefined;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    }
  }

  /** The bytes of a blob; `NotFoundError` when it is absent. */
  async readBlob(digest: string): Promise<Uint8Array> {
    try {
      return await Deno.readFile(this.blobPath(digest));
    } catch (e) {
      throw this.#mapNotFound(e, digest);
    }
  }

  /** A stream of a blob's bytes; `NotFoundError` when it is absent. */
  async openBlob(digest: string): Promise<ReadableStream<Uint8Array>> {
    try {
      const f = await Deno.open(this.blobPath(digest), { read: true });
      return f.readable;
    } catch (e) {
      throw this.#mapNotFound(e, digest);
    }
  }

  /**
   * Bytes `[start, end)` of a blob. `NotFoundError` when it is absent,
   * `BadInputError` when the range is not inside the blob.
   */
  async readRange(digest: string, start: number, end: number): Promise<Uint8Array> {
    let f: Deno.FsFile;
    try {
      f = await Deno.open(this.blobPath(digest), { read: true });
    } catch (e) {
      throw this.#mapNotFound(e, digest);
    }
    try {
      const size = (await f.stat()).size;
      if (
        !(Number.isSafeInteger(start) && Number.isSafeInteger(end)) || start < 0 ||
        end < start || end > size
      ) {
        throw new BadInputError(
          `range [${start}, ${end}) is outside blob ${digest} (${size} bytes)`,
        );
      }
      const out = new Uint8Array(end - start);
      await f.seek(start, Deno.SeekMode.Start);
      let off = 0;
      while (off < out.length) {
        const n = await f.read(out.subarray(off));
        if (n === null) throw new BadInputError(`blob ${digest} shrank while being read`);
        off += n;
      }
      return out;
    } finally {
      f.close();
    }
  }

  /**
   * Every blob of the store (`blobs/<alg>/<hex>` regular files with a
   * well-formed name), in digest order.
   */
  async *listBlobs(): AsyncIterable<BlobInfo> {
    const blobsDir = join(this.dir, "blobs");
    const algs = (await readDirNames(blobsDir)).filter((a) => HEX_LENGTHS[a] !== undefined)
      .sort();
    for (const alg of algs) {
      const names = (await readDirNames(join(blobsDir, alg)))
        .filter((n) => n.length === HEX_LENGTHS[alg] && /^[0-9a-f]+$/.test(n)).sort();
      for (const name of names) {
        let info: Deno.FileInfo;
        try {
          info = await Deno.stat(join(blobsDir, alg, name));
        } catch (e) {
          if (e instanceof Deno.errors.NotFound) continue;
          throw e;
        }
        if (info.isFile) {
          yield { digest: `${alg}:${name}`, size: info.size, createdAt: info.mtime ?? undefined };
        }
      }
    }
  }

  /**
   * The image named `name`, or `undefined`. (A store made before the DB
   * named images, or whose DB file was deleted, keeps its names in
   * `index.json` until the next write imports them: they are read from
   * there meanwhile.)
   */
  async image(name: string): Promise<StoredImage | undefined> {
    const found = this.db.getImage(name);
    if (found !== undefined || !this.#namesInIndexJson()) return found;
    return (await this.#legacyTags()).find((i) => i.name === name);
  }

  /** Every image named in the store, by name. */
  async images(): Promise<StoredImage[]> {
    const named = this.db.listImages();
    if (!this.#namesInIndexJson()) return named;
    const have = new Set(named.map((i) => i.name));
    const legacy = (await this.#legacyTags()).filter((i) => !have.has(i.name));
    return [...named, ...legacy].sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  }

  /** True while image names may still be only in index.json (see `image`). */
  #namesInIndexJson(): boolean {
    return !this.db.hasFile || this.db.getMeta(META_IMPORT_TAGS) !== undefined;
  }

  async #legacyTags(): Promise<StoredImage[]> {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(this.indexPath);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return [];
      throw e;
    }
    return taggedImages(bytes, this.indexPath);
  }

  /** Starts a transaction (see the module documentation for what commit does). */
  begin(options: TransactionOptions = {}): ArtifactTransaction {
    return new LocalTransaction(this, options);
  }

  /**
   * Runs `fn` holding the root's exclusive lock, which serializes commits,
   * `gc` and `rebuild-db` across processes and within one. The lock is a
   * `flock` of the root directory itself, so locking leaves no file behind.
   * Creates the root (0700) if needed. With `recover` (the default), the
   * store is first brought back to what the DB records (see the module
   * documentation).
   */
  withLock<T>(fn: () => Promise<T>, options: { recover?: boolean } = {}): Promise<T> {
    return withRootLock(this.root, async () => {
      if (options.recover ?? true) await this.#recover();
      return await fn();
    });
  }

  /**
   * Brings the store in line with the DB after a process died mid-commit:
   * stale staging folders go, blobs that a dead transaction moved in but
   * never recorded go, images of a pre-DB store are imported, and
   * `index.json` is rewritten when it differs from the DB. Holding the lock.
   */
  async #recover(): Promise<void> {
    if (this.db.readOnly) return;
    await removeStaleIngest(this.dir);
    // Names kept only in index.json: by a store made before the DB named
    // images, or when the DB file was deleted (rebuild-db brings the rest back).
    const imported = this.db.getMeta(META_IMPORT_TAGS) !== undefined;
    const lostDb = !this.db.hasFile || this.db.isEmpty();
    if (imported || lostDb) {
      const legacy = await this.#legacyTags();
      if (imported || legacy.length > 0) {
        this.db.transaction(() => {
          for (const img of legacy) if (!this.db.getImage(img.name)) this.db.putImage(img);
          if (imported) this.db.setMeta(META_IMPORT_TAGS, undefined);
        });
      }
      // Without its DB, index.json is all that is left: keep it for rebuild-db.
      if (lostDb) return;
    }
    // (Entries of the containerd store's transactions, which share the DB, are its own.)
    const pending = new Map(
      [...this.db.listPending()].filter(([tx]) => !tx.startsWith(CONTAINERD_TX_PREFIX)),
    );
    if (pending.size > 0) {
      await this.sweep();
      this.db.transaction(() => {
        for (const tx of pending.keys()) this.db.clearPending(tx);
      });
    }
    await this.syncIndexJson();
  }

  /** {@linkcode syncIndexJson}, for `rebuild-db`. Holding the lock. */
  syncViews(): Promise<void> {
    return this.syncIndexJson();
  }

  /**
   * Rewrites `index.json` from the DB when it differs (and writes the
   * layout's `oci-layout` when missing). Only once the store exists.
   * Holding the lock.
   */
  async syncIndexJson(): Promise<void> {
    // No layout yet, or no DB (deleted: index.json is all that is left of it).
    if (!(await exists(this.dir)) || !this.db.hasFile) return;
    if (this.db.isEmpty() && (await this.#legacyTags()).length > 0) return;
    const bytes = layoutIndexOf(this.db);
    let old: Uint8Array | undefined;
    try {
      old = await Deno.readFile(this.indexPath);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    if (old === undefined || !sameBytes(old, bytes)) {
      await writeFileAtomic(this.indexPath, [bytes]);
    }
    const layout = join(this.dir, "oci-layout");
    if (!(await exists(layout))) await writeFileAtomic(layout, [OCI_LAYOUT_BYTES]);
  }

  /**
   * Creates the layout (`content/`, `blobs/sha256/`, `oci-layout`) and
   * returns the paths it created (for undo). Holding the lock.
   */
  async ensureLayout(): Promise<string[]> {
    const created: string[] = [];
    const blobs = join(this.dir, "blobs");
    const sha = join(blobs, "sha256");
    for (const d of [this.dir, blobs, sha]) if (!(await exists(d))) created.push(d);
    await Deno.mkdir(sha, { recursive: true, mode: 0o755 });
    const layout = join(this.dir, "oci-layout");
    if (!(await exists(layout))) {
      await writeFileAtomic(layout, [OCI_LAYOUT_BYTES]);
      created.push(layout);
    }
    if (!(await exists(this.indexPath))) {
      await writeFileAtomic(this.indexPath, [encodeIndex(emptyIndex())]);
      created.push(this.indexPath);
    }
    return created;
  }

  /**
   * Removes every blob the DB does not reach (see `reachability.ts`): after
   * `index rm`, the index blob goes (and its image's documents when
   * nothing else uses them), while zTOCs, which keep their DB rows, stay
   * for reuse. Returns the removed digests (digest order). Takes the lock.
   */
  async gc(): Promise<string[]> {
    if (!(await exists(this.dir))) return [];
    return await this.withLock(() => this.sweep());
  }

  /** {@linkcode gc}'s work, for callers that already hold the lock (`withLock`). */
  async sweep(): Promise<string[]> {
    const keep = await reachable(dbRoots(this.db), (d) => this.#children(d));
    const removed: string[] = [];
    const dirs = new Set<string>();
    for await (const b of this.listBlobs()) {
      if (keep.has(b.digest)) continue;
      try {
        const path = this.blobPath(b.digest);
        await Deno.remove(path);
        removed.push(b.digest);
        dirs.add(join(path, ".."));
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    }
    for (const d of dirs) await syncDir(d);
    return removed;
  }

  /** Digests referenced by a stored JSON document (none for other blobs). */
  async #children(digest: string): Promise<string[]> {
    const bytes = await this.readJsonCandidate(digest, MAX_DOCUMENT_SIZE);
    return bytes === undefined ? [] : documentChildren(bytes);
  }

  /**
   * The bytes of a stored blob that may be a JSON document (an object,
   * possibly after JSON whitespace), read only after a look at its first
   * byte, so that big binary blobs (zTOCs) are not read; `undefined` for
   * other blobs, missing ones, and ones larger than `maxSize` bytes.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { LocalStore } from "./local_store.ts";
   * const root = await Deno.makeTempDir();
   * const store = LocalStore.open(root);
   * const tx = store.begin();
   * const json = await tx.putBlob(new TextEncoder().encode('\n {"a":1}'));
   * const binary = await tx.putBlob(new Uint8Array([0x1c, 0x00, 0x7b]));
   * tx.tagImage("j", { mediaType: "x", ...json });
   * tx.tagImage("b", { mediaType: "x", ...binary });
   * await tx.commit();
   * assert.equal(new TextDecoder().decode(await store.readJsonCandidate(json.digest)), '\n {"a":1}');
   * assert.equal(await store.readJsonCandidate(binary.digest), undefined);
   * assert.equal(await store.readJsonCandidate(json.digest, 5), undefined);
   * store.close();
   * await Deno.remove(root, { recursive: true });
   * ```
   */
  readJsonCandidate(
    digest: string,
    maxSize = Number.MAX_SAFE_INTEGER,
  ): Promise<Uint8Array | undefined> {
    return readJsonCandidate(this, digest, maxSize);
  }

  /** Closes the DB. */
  close(): void {
    this.db.close();
  }

  /** Closes the DB (`using store = LocalStore.open(…)`). */
  [Symbol.dispose](): void {
    this.close();
  }

  #mapNotFound(e: unknown, digest: string): unknown {
    if (e instanceof Deno.errors.NotFound) {
      return new NotFoundError(`blob ${digest} is not in the local store`, { cause: e });
    }
    return e;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

async function readDirNames(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) out.push(e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  return out;
}
