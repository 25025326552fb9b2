/**
 * The local content store: an OCI image layout at `<root>/content`
 * (`oci-layout`, `index.json`, `blobs/sha256/<hex>`), readable by skopeo,
 * umoci and oras, written only through atomic transactions
 * (`soci-format.md` §10.2, design §5).
 *
 * Writers serialize on an exclusive `flock` of the root directory.
 *
 * Layout of a root:
 *
 * ```text
 * <root>/content/oci-layout    {"imageLayoutVersion":"1.0.0"}
 * <root>/content/index.json    SOCI indexes (with artifactType) and image tags (ref.name)
 * <root>/content/blobs/sha256/ blobs, mode 0444
 * <root>/content/ingest/<id>/  staging of open transactions
 * ```
 *
 * @module
 */
import { dirname, join } from "node:path";
import { BadInputError, NotFoundError, SociError, UnsupportedError } from "../errors.ts";
import type { Descriptor, ImageIndex } from "../oci/descriptor.ts";
import { parseDigest, sha256Digest } from "../oci/digest.ts";
import { decodeIndex } from "../oci/json_decode.ts";
import { encodeIndex } from "../oci/json_encode.ts";
import { ANNOTATION_REF_NAME, OCI_INDEX } from "../oci/media_types.ts";
import { syncDir, writeFileAtomic } from "../util/atomic_file.ts";
import type { ArtifactRecord, ArtifactsDb } from "./artifacts_db.ts";
import { contentDir } from "./root.ts";

/** Digest and size of a blob. */
export interface BlobInfo {
  /** `sha256:<hex>`. */
  digest: string;
  /** Size in bytes. */
  size: number;
}

/** Steps of a commit, reported to {@linkcode TransactionOptions.onStep}. */
export type CommitStep = "blobs" | "index" | "db";

/** Options of {@linkcode ContentStore.begin}. */
export interface TransactionOptions {
  /** The artifacts DB that `putRecord`/`deleteRecord` changes go to. */
  db?: ArtifactsDb;
  /**
   * Called synchronously after each commit step has been applied (for
   * `"db"`: inside the SQLite transaction, before it commits). Throwing
   * makes the commit fail and roll back; tests use it to inject failures.
   */
  onStep?: (step: CommitStep) => void;
}

const OCI_LAYOUT_BYTES = new TextEncoder().encode('{"imageLayoutVersion":"1.0.0"}');
/** JSON documents larger than this are not followed by `gc` (no manifest is this big). */
const MAX_GC_DOCUMENT = 16 * 1024 * 1024;
/** Staging folders of processes we cannot check are removed after this long. */
const STALE_INGEST_MS = 60 * 60 * 1000;
const HEX_LENGTHS: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

/**
 * The OCI-layout content store under a soci root. Opening it touches
 * nothing on disk; reads of a missing store see an empty store; the
 * layout is created by the first commit that writes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ContentStore } from "./content_store.ts";
 * const root = await Deno.makeTempDir();
 * const store = ContentStore.open(root);
 * const tx = store.begin();
 * const { digest } = await tx.putBlob(new TextEncoder().encode("{}"));
 * await tx.commit();
 * assert.equal(new TextDecoder().decode(await store.readBlob(digest)), "{}");
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export class ContentStore {
  /** The soci root directory. */
  readonly root: string;
  /** The OCI layout directory, `<root>/content`. */
  readonly dir: string;

  private constructor(root: string) {
    this.root = root;
    this.dir = contentDir(root);
  }

  /** Opens the store of `root` (nothing is read or created yet). */
  static open(root: string): ContentStore {
    return new ContentStore(root);
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
   * import { ContentStore } from "./content_store.ts";
   * const d = "sha256:" + "ab".repeat(32);
   * assert.equal(ContentStore.open("/r").blobPath(d), "/r/content/blobs/sha256/" + "ab".repeat(32));
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
   * The parsed `index.json`; an empty index when the store does not exist
   * yet. `BadInputError` when the file is not an OCI index.
   */
  async readIndexJson(): Promise<ImageIndex> {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(this.indexPath);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return emptyIndex();
      throw e;
    }
    return parseIndexJson(bytes, this.indexPath);
  }

  /**
   * The `index.json` entry tagged `name` (annotation
   * `org.opencontainers.image.ref.name`), or `undefined`.
   */
  async resolveTag(name: string): Promise<Descriptor | undefined> {
    const index = await this.readIndexJson();
    return index.manifests.find((d) => d.annotations?.[ANNOTATION_REF_NAME] === name);
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
        if (info.isFile) yield { digest: `${alg}:${name}`, size: info.size };
      }
    }
  }

  /**
   * Starts a transaction: blobs, `index.json` edits and DB changes that
   * become visible together at `commit()`, or not at all.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { ContentStore } from "./content_store.ts";
   * import { ArtifactsDb } from "./artifacts_db.ts";
   * const root = await Deno.makeTempDir();
   * const store = ContentStore.open(root);
   * const db = ArtifactsDb.open(root + "/artifacts.sqlite");
   * const tx = store.begin({ db });
   * const z = await tx.putBlob(new Uint8Array([1, 2, 3]));
   * tx.putRecord({ ...z, type: "soci_layer", location: "", originalDigest: "",
   *   imageDigest: "", platform: "", mediaType: "application/octet-stream",
   *   artifactType: "", spanSize: 4194304, createdAt: new Date() });
   * await tx.commit();
   * assert.equal(db.get(z.digest)?.size, 3);
   * assert.equal(await store.has(z.digest), true);
   * db.close();
   * await Deno.remove(root, { recursive: true });
   * ```
   */
  begin(options: TransactionOptions = {}): StoreTransaction {
    return new StoreTransaction(this, options);
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
   * import { ContentStore } from "./content_store.ts";
   * const root = await Deno.makeTempDir();
   * const store = ContentStore.open(root);
   * const tx = store.begin();
   * const json = await tx.putBlob(new TextEncoder().encode('\n {"a":1}'));
   * const binary = await tx.putBlob(new Uint8Array([0x1c, 0x00, 0x7b]));
   * await tx.commit();
   * assert.equal(new TextDecoder().decode(await store.readJsonCandidate(json.digest)), '\n {"a":1}');
   * assert.equal(await store.readJsonCandidate(binary.digest), undefined);
   * assert.equal(await store.readJsonCandidate(json.digest, 5), undefined);
   * await Deno.remove(root, { recursive: true });
   * ```
   */
  async readJsonCandidate(
    digest: string,
    maxSize = Number.MAX_SAFE_INTEGER,
  ): Promise<Uint8Array | undefined> {
    const info = await this.stat(digest);
    if (!info || info.size < 2 || info.size > maxSize) return undefined;
    const first = (await this.readRange(digest, 0, 1))[0];
    // "{" or JSON whitespace (space, tab, LF, CR).
    if (first !== 0x7b && first !== 0x20 && first !== 0x09 && first !== 0x0a && first !== 0x0d) {
      return undefined;
    }
    return await this.readBlob(digest);
  }

  /**
   * Removes every blob reachable neither from `index.json` nor from the
   * DB, and returns their digests (digest order). Roots are the
   * `index.json` entries and every DB row (its digest; for indexes also its
   * manifest and image digests); from a root, the descriptors of JSON
   * documents (`config`, `layers`, `manifests`, `subject`) are followed.
   * So after `index rm`, the index blob goes (and its subject manifest and
   * `{}` config when nothing else uses them), while zTOCs, which keep their
   * DB rows, stay for reuse. Runs under the store lock.
   */
  async gc(db: ArtifactsDb): Promise<string[]> {
    if (!(await exists(this.dir))) return [];
    return await this.withLock(async () => {
      const index = await this.readIndexJson();
      const pending: string[] = index.manifests.map((d) => d.digest);
      for (const r of db.all()) {
        pending.push(r.digest);
        if (r.type === "soci_index") pending.push(r.location, r.originalDigest, r.imageDigest);
      }
      const reachable = new Set<string>();
      while (pending.length > 0) {
        const d = pending.pop()!;
        if (reachable.has(d) || !isDigest(d)) continue;
        reachable.add(d);
        for (const child of await this.#children(d)) pending.push(child);
      }
      const removed: string[] = [];
      for await (const b of this.listBlobs()) {
        if (reachable.has(b.digest)) continue;
        try {
          await Deno.remove(this.blobPath(b.digest));
          removed.push(b.digest);
        } catch (e) {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
        }
      }
      return removed;
    });
  }

  /** Digests referenced by a stored JSON document (none for other blobs). */
  async #children(digest: string): Promise<string[]> {
    const bytes = await this.readJsonCandidate(digest, MAX_GC_DOCUMENT);
    if (bytes === undefined) return [];
    let doc: unknown;
    try {
      doc = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      return [];
    }
    if (typeof doc !== "object" || doc === null) return [];
    const o = doc as Record<string, unknown>;
    const out: string[] = [];
    const take = (v: unknown) => {
      if (typeof v === "object" && v !== null) {
        const d = (v as Record<string, unknown>).digest;
        if (typeof d === "string") out.push(d);
      }
    };
    take(o.config);
    take(o.subject);
    for (const key of ["layers", "manifests", "blobs"]) {
      const list = o[key];
      if (Array.isArray(list)) list.forEach(take);
    }
    return out;
  }

  /**
   * Runs `fn` holding the store's exclusive lock, which serializes commits,
   * `gc` and `rebuildDb` across processes and within one.
   * The lock is `Deno.FsFile.lock` (flock) on the root directory itself, so
   * locking leaves no file behind. Creates the root (0700) if needed.
   */
  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    await Deno.mkdir(this.root, { recursive: true, mode: 0o700 });
    const f = await Deno.open(this.root, { read: true });
    try {
      await f.lock(true);
      return await fn();
    } finally {
      f.close(); // closing releases the lock
    }
  }

  #mapNotFound(e: unknown, digest: string): unknown {
    if (e instanceof Deno.errors.NotFound) {
      return new NotFoundError(`blob ${digest} is not in the local store`, { cause: e });
    }
    return e;
  }
}

type IndexEdit =
  | { op: "add"; desc: Descriptor }
  | { op: "remove"; digest: string }
  | { op: "tag"; name: string; desc: Descriptor };

type DbChange = { op: "put"; rec: ArtifactRecord } | { op: "delete"; digest: string };

interface Staged {
  path: string;
  size: number;
}

/**
 * A set of store and DB changes applied together by `commit()`: staged
 * blobs are moved into place (mode 0444; ones already present are
 * skipped), then `index.json` is rewritten under the store lock (re-read,
 * this transaction's edits applied, written atomically), then the DB
 * changes run in one SQLite transaction. A failure at any step undoes the
 * earlier ones (blobs this commit added are removed, `index.json` is put
 * back), so a failed command leaves store and DB as they were. Use
 * `await using tx = store.begin(...)` to abort automatically.
 *
 * Taking the store lock to commit also removes the staging folders that
 * crashed processes left in `ingest/`: those of processes that no longer
 * exist (`/proc/<pid>`), or, where `/proc` cannot tell, those older than an
 * hour.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ContentStore } from "./content_store.ts";
 * const root = await Deno.makeTempDir();
 * const store = ContentStore.open(root);
 * const manifest = new TextEncoder().encode('{"schemaVersion":2}');
 * {
 *   await using tx = store.begin();
 *   const m = await tx.putBlob(manifest);
 *   tx.tag("app", { mediaType: "application/vnd.oci.image.manifest.v1+json", ...m });
 *   await tx.commit();
 * }
 * const tagged = await store.resolveTag("app");
 * assert.equal(tagged?.size, manifest.length);
 * {
 *   await using tx = store.begin();
 *   await tx.putBlob(new TextEncoder().encode("never committed"));
 *   // leaving the block without commit() aborts: nothing is stored
 * }
 * assert.deepEqual((await Array.fromAsync(store.listBlobs())).map((b) => b.digest), [
 *   tagged?.digest,
 * ]);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export class StoreTransaction {
  #store: ContentStore;
  #db?: ArtifactsDb;
  #onStep?: (step: CommitStep) => void;
  #stagingDir?: Promise<string>;
  #writing = new Map<string, Promise<void>>();
  #createdContentDir = false;
  #staged = new Map<string, Staged>();
  #edits: IndexEdit[] = [];
  #changes: DbChange[] = [];
  #state: "open" | "committing" | "done" = "open";

  /** Use {@linkcode ContentStore.begin}. */
  constructor(store: ContentStore, options: TransactionOptions = {}) {
    this.#store = store;
    this.#db = options.db;
    this.#onStep = options.onStep;
  }

  /** True until `commit()` or `abort()` has been called. */
  get open(): boolean {
    return this.#state === "open";
  }

  #checkOpen(): void {
    if (this.#state !== "open") throw new SociError("store transaction is already finished");
  }

  /**
   * Stages a blob (written under `<root>/content/ingest/<id>/` and
   * fsynced) and returns its digest and size. With `expected`, the size and
   * sha256 digest are verified first (`BadInputError` on mismatch, nothing
   * staged).
   */
  async putBlob(bytes: Uint8Array, expected?: { digest: string; size: number }): Promise<BlobInfo> {
    this.#checkOpen();
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
    const info = { digest, size: bytes.length };
    if (this.#staged.has(digest)) return info;
    let pending = this.#writing.get(digest);
    if (!pending) {
      pending = this.#stage(digest, bytes).finally(() => this.#writing.delete(digest));
      this.#writing.set(digest, pending);
    }
    await pending;
    return info;
  }

  async #stage(digest: string, bytes: Uint8Array): Promise<void> {
    const dir = await this.#staging();
    const path = join(dir, digest.slice("sha256:".length));
    const f = await Deno.open(path, { write: true, createNew: true, mode: 0o644 });
    try {
      await writeAll(f, bytes);
      await f.sync();
    } finally {
      f.close();
    }
    this.#staged.set(digest, { path, size: bytes.length });
  }

  /** Waits for `putBlob` calls still writing (their errors went to their callers). */
  async #settle(): Promise<void> {
    while (this.#writing.size > 0) await Promise.allSettled([...this.#writing.values()]);
  }

  /**
   * Lists a SOCI index in `index.json` as `{mediaType, digest, size,
   * artifactType}` (other members of `desc` are not written). An untagged
   * entry with the same digest is replaced in place, so it is listed once.
   */
  addIndexEntry(desc: Descriptor): void {
    this.#checkOpen();
    checkDescriptor(desc);
    const entry: Descriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
    if (desc.artifactType) entry.artifactType = desc.artifactType;
    this.#edits.push({ op: "add", desc: entry });
  }

  /** Removes the untagged `index.json` entries of `digest` (tags are kept). */
  removeIndexEntry(digest: string): void {
    this.#checkOpen();
    parseDigest(digest);
    this.#edits.push({ op: "remove", digest });
  }

  /**
   * Tags an image manifest or index as `name` in `index.json`: one entry
   * per name (retagging replaces the old entry in place), written as
   * `{mediaType, digest, size, annotations, platform?, artifactType?}`
   * where annotations are `annotations` plus the ref name.
   */
  tag(name: string, desc: Descriptor, annotations: Record<string, string> = {}): void {
    this.#checkOpen();
    checkDescriptor(desc);
    if (name === "" || [...name].some((c) => c.charCodeAt(0) < 0x20 || c === "\x7f")) {
      throw new BadInputError(`invalid tag name ${JSON.stringify(name)}`);
    }
    const entry: Descriptor = {
      mediaType: desc.mediaType,
      digest: desc.digest,
      size: desc.size,
      annotations: { ...annotations, [ANNOTATION_REF_NAME]: name },
    };
    if (desc.platform) entry.platform = desc.platform;
    if (desc.artifactType) entry.artifactType = desc.artifactType;
    this.#edits.push({ op: "tag", name, desc: entry });
  }

  /** Writes (upserts) a DB row at commit. Needs `begin({ db })`. */
  putRecord(rec: ArtifactRecord): void {
    this.#checkOpen();
    this.#needDb();
    parseDigest(rec.digest);
    this.#changes.push({ op: "put", rec: { ...rec } });
  }

  /** Deletes a DB row at commit. Needs `begin({ db })`. */
  deleteRecord(digest: string): void {
    this.#checkOpen();
    this.#needDb();
    this.#changes.push({ op: "delete", digest });
  }

  #needDb(): ArtifactsDb {
    if (!this.#db) throw new SociError("store transaction has no artifacts DB (begin({ db }))");
    if (this.#db.readOnly) throw new SociError(`artifacts DB ${this.#db.path} is open read-only`);
    return this.#db;
  }

  /**
   * Applies everything (see the class documentation). Every digest that a
   * DB row, an index entry or a tag refers to must be staged here or
   * already stored, otherwise nothing is applied (`NotFoundError`). On any
   * failure the store and DB are left as they were and the error is
   * rethrown. The staging dir is removed in all cases.
   */
  async commit(): Promise<void> {
    this.#checkOpen();
    this.#state = "committing";
    try {
      await this.#settle();
      if (this.#staged.size === 0 && this.#edits.length === 0 && this.#changes.length === 0) {
        return;
      }
      await this.#store.withLock(async () => {
        await removeStaleIngest(this.#store.dir);
        await this.#apply();
      });
    } finally {
      this.#state = "done";
      await this.#cleanup();
    }
  }

  /** Drops everything staged; the store and DB are not touched. */
  async abort(): Promise<void> {
    if (this.#state !== "open") return;
    this.#state = "done";
    await this.#cleanup();
  }

  /** Aborts when the transaction was neither committed nor aborted. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.abort();
  }

  async #apply(): Promise<void> {
    const store = this.#store;
    const created: string[] = []; // layout paths this commit created (undo in reverse)
    const added: string[] = []; // blob paths this commit moved into place
    let oldIndex: Uint8Array | undefined;
    let indexWritten = false;
    try {
      // Everything referenced must exist once the blobs are in.
      const refs = new Set<string>();
      for (const c of this.#changes) if (c.op === "put") refs.add(c.rec.digest);
      for (const e of this.#edits) if (e.op === "add" || e.op === "tag") refs.add(e.desc.digest);
      for (const d of refs) {
        if (!this.#staged.has(d) && !(await store.has(d))) {
          throw new NotFoundError(`cannot record ${d}: the blob is not in the local store`);
        }
      }

      if (this.#staged.size > 0 || this.#edits.length > 0) await this.#ensureLayout(created);

      // 1. blobs
      if (this.#staged.size > 0) {
        const dirs = new Set<string>();
        for (const [digest, s] of this.#staged) {
          const target = store.blobPath(digest);
          if (await exists(target)) continue;
          await Deno.chmod(s.path, 0o444);
          await Deno.rename(s.path, target);
          added.push(target);
          dirs.add(dirname(target));
        }
        for (const d of dirs) await syncDir(d);
      }
      this.#onStep?.("blobs");

      // 2. index.json
      if (this.#edits.length > 0) {
        oldIndex = await Deno.readFile(store.indexPath);
        const index = parseIndexJson(oldIndex, store.indexPath);
        // A copy: a decoded `null` list must encode as a list once edited.
        index.manifests = [...index.manifests];
        for (const e of this.#edits) applyEdit(index.manifests, e);
        const bytes = encodeIndex(index);
        if (!sameBytes(bytes, oldIndex)) {
          await writeFileAtomic(store.indexPath, [bytes]);
          indexWritten = true;
        }
      }
      this.#onStep?.("index");

      // 3. DB
      if (this.#changes.length > 0) {
        const db = this.#needDb();
        db.transaction(() => {
          for (const c of this.#changes) {
            if (c.op === "put") db.put(c.rec);
            else db.delete(c.digest);
          }
          this.#onStep?.("db");
        });
      } else {
        this.#onStep?.("db");
      }
    } catch (e) {
      // Undo in reverse order (best effort; the original error is what the
      // caller needs). We still hold the lock: no other writer touched these.
      if (indexWritten && oldIndex) {
        await writeFileAtomic(store.indexPath, [oldIndex]).catch(() => {});
      }
      for (const p of added.reverse()) await Deno.remove(p).catch(() => {});
      for (const p of created.reverse()) await Deno.remove(p).catch(() => {});
      throw e;
    }
  }

  async #ensureLayout(created: string[]): Promise<void> {
    const dir = this.#store.dir;
    const blobs = join(dir, "blobs");
    const sha = join(blobs, "sha256");
    for (const d of [dir, blobs, sha]) if (!(await exists(d))) created.push(d);
    // One recursive mkdir: also survives a concurrent abort removing an empty content/.
    await Deno.mkdir(sha, { recursive: true, mode: 0o755 });
    const layout = join(dir, "oci-layout");
    if (!(await exists(layout))) {
      await writeFileAtomic(layout, [OCI_LAYOUT_BYTES]);
      created.push(layout);
    }
    if (!(await exists(this.#store.indexPath))) {
      await writeFileAtomic(this.#store.indexPath, [encodeIndex(emptyIndex())]);
      created.push(this.#store.indexPath);
    }
  }

  #staging(): Promise<string> {
    this.#stagingDir ??= this.#makeStaging().catch((e) => {
      this.#stagingDir = undefined; // let a later putBlob try again
      throw e;
    });
    return this.#stagingDir;
  }

  async #makeStaging(): Promise<string> {
    const contentExisted = await exists(this.#store.dir);
    const id = `${Date.now().toString(36)}-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
    const dir = join(this.#store.dir, "ingest", id);
    // Retry: a concurrent abort may remove an empty ingest/ between our mkdirs.
    for (let attempt = 0;; attempt++) {
      try {
        await Deno.mkdir(dirname(dir), { recursive: true, mode: 0o755 });
        await Deno.mkdir(dir, { mode: 0o700 });
        break;
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound) || attempt >= 5) {
          throw new SociError(
            `cannot write to the local store ${this.#store.dir}: ${(e as Error).message}`,
            { cause: e },
          );
        }
      }
    }
    this.#createdContentDir = !contentExisted;
    return dir;
  }

  async #cleanup(): Promise<void> {
    await this.#settle();
    if (!this.#stagingDir) return;
    let dir: string;
    try {
      dir = await this.#stagingDir;
    } catch {
      return; // it was never created
    } finally {
      this.#stagingDir = undefined;
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    // Leave no empty dirs behind that this transaction made (fails harmlessly if not empty).
    await Deno.remove(dirname(dir)).catch(() => {});
    if (this.#createdContentDir) await Deno.remove(this.#store.dir).catch(() => {});
  }
}

/**
 * Removes the staging folders `<dir>/ingest/<time>-<pid>-<random>` of other
 * processes that are gone: `/proc/<pid>` does not exist, or, when `/proc`
 * cannot tell (not Linux, no permission), the folder is older than
 * {@linkcode STALE_INGEST_MS}. Folders of this process are left alone (a
 * transaction of ours may be open), and so are names we did not make. Best
 * effort: errors are ignored. Called holding the store lock.
 */
async function removeStaleIngest(dir: string): Promise<void> {
  const ingest = join(dir, "ingest");
  let names: string[];
  try {
    names = await readDirNames(ingest);
  } catch {
    return;
  }
  const now = Date.now();
  let removed = false;
  for (const name of names) {
    const m = /^([0-9a-z]+)-([0-9]+)-[0-9a-f]+$/.exec(name);
    if (!m) continue;
    const pid = Number(m[2]);
    if (pid === Deno.pid || !(await ownerGone(pid, parseInt(m[1], 36), now))) continue;
    try {
      await Deno.remove(join(ingest, name), { recursive: true });
      removed = true;
    } catch {
      // someone else removed it, or we may not: leave it
    }
  }
  if (removed) await Deno.remove(ingest).catch(() => {}); // only when now empty
}

/** Whether the process `pid` that made a staging folder at `created` (ms) is gone. */
async function ownerGone(pid: number, created: number, now: number): Promise<boolean> {
  try {
    await Deno.stat(`/proc/${pid}`);
    return false;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound && await procWorks()) return true;
  }
  return Number.isFinite(created) && now - created > STALE_INGEST_MS;
}

/** True when `/proc` lists processes (our own entry is there). */
async function procWorks(): Promise<boolean> {
  try {
    await Deno.stat(`/proc/${Deno.pid}`);
    return true;
  } catch {
    return false;
  }
}

function applyEdit(list: Descriptor[], e: IndexEdit): void {
  const untagged = (d: Descriptor) => d.annotations?.[ANNOTATION_REF_NAME] === undefined;
  switch (e.op) {
    case "add": {
      const i = list.findIndex((d) => untagged(d) && d.digest === e.desc.digest);
      if (i >= 0) list[i] = e.desc;
      else list.push(e.desc);
      break;
    }
    case "remove": {
      for (let i = list.length - 1; i >= 0; i--) {
        if (untagged(list[i]) && list[i].digest === e.digest) list.splice(i, 1);
      }
      break;
    }
    case "tag": {
      const same = (d: Descriptor) => d.annotations?.[ANNOTATION_REF_NAME] === e.name;
      const i = list.findIndex(same);
      if (i >= 0) {
        list[i] = e.desc;
        for (let j = list.length - 1; j > i; j--) if (same(list[j])) list.splice(j, 1);
      } else {
        list.push(e.desc);
      }
      break;
    }
  }
}

function checkDescriptor(desc: Descriptor): void {
  parseDigest(desc.digest);
  if (!desc.mediaType) throw new BadInputError(`descriptor ${desc.digest} has no media type`);
  if (!Number.isSafeInteger(desc.size) || desc.size < 0) {
    throw new BadInputError(`descriptor ${desc.digest} has an invalid size ${desc.size}`);
  }
}

function emptyIndex(): ImageIndex {
  return { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
}

function parseIndexJson(bytes: Uint8Array, path: string): ImageIndex {
  try {
    return decodeIndex(bytes);
  } catch (e) {
    throw new BadInputError(`${path}: ${(e as Error).message}`, { cause: e });
  }
}

function isDigest(d: string): boolean {
  try {
    parseDigest(d);
    return true;
  } catch {
    return false;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
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

async function writeAll(f: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await f.write(bytes.subarray(off));
}
