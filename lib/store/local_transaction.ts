/**
 * A transaction of the local store: blobs, named images and DB rows that
 * become visible together at `commit()`, or not at all (the protocol is
 * described in `local_store.ts`).
 *
 * @module
 */
import { dirname } from "node:path";
import { BadInputError, errorMessage, NotFoundError, SociError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { parseDigest } from "../oci/digest.ts";
import { syncDir } from "../util/atomic_file.ts";
import type {
  AddIndexOptions,
  ArtifactTransaction,
  BlobInfo,
  CommitStep,
  TransactionOptions,
} from "./artifact_store.ts";
import type { ArtifactRecord, StoredImage } from "./artifacts_db.ts";
import { exists, type StagedBlob, Staging } from "./ingest.ts";
import type { LocalStore } from "./local_store.ts";
import { checkedBlob } from "./blob_check.ts";

type Change =
  | { op: "put"; rec: ArtifactRecord }
  | { op: "delete"; digest: string }
  | { op: "image"; image: StoredImage }
  | { op: "index"; digest: string };

/**
 * See the module documentation. Use {@linkcode LocalStore.begin}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalStore } from "./local_store.ts";
 * const root = await Deno.makeTempDir();
 * const store = LocalStore.open(root);
 * const manifest = new TextEncoder().encode('{"schemaVersion":2}');
 * {
 *   await using tx = store.begin();
 *   const m = await tx.putBlob(manifest);
 *   tx.tagImage("app", { mediaType: "application/vnd.oci.image.manifest.v1+json", ...m });
 *   await tx.commit();
 * }
 * const tagged = await store.image("app");
 * assert.equal(tagged?.target.size, manifest.length);
 * {
 *   await using tx = store.begin();
 *   await tx.putBlob(new TextEncoder().encode("never committed"));
 *   // leaving the block without commit() aborts: nothing is stored
 * }
 * assert.deepEqual((await Array.fromAsync(store.listBlobs())).map((b) => b.digest), [
 *   tagged?.target.digest,
 * ]);
 * store.close();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export class LocalTransaction implements ArtifactTransaction {
  #store: LocalStore;
  #onStep?: (step: CommitStep) => void;
  #staging: Staging;
  #writing = new Map<string, Promise<StagedBlob>>();
  #staged = new Map<string, StagedBlob>();
  #changes: Change[] = [];
  #id = `${Deno.pid}-${crypto.randomUUID()}`;
  #state: "open" | "committing" | "done" = "open";
  #warnings: string[] = [];

  /** Use {@linkcode LocalStore.begin}. */
  constructor(store: LocalStore, options: TransactionOptions = {}) {
    this.#store = store;
    this.#onStep = options.onStep;
    this.#staging = new Staging(store.dir);
  }

  /** What failed after the commit point (the next writer catches up with it). */
  get warnings(): readonly string[] {
    return this.#warnings;
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
  async putBlob(bytes: Uint8Array, expected?: BlobInfo): Promise<BlobInfo> {
    this.#checkOpen();
    const info = checkedBlob(bytes, expected);
    const digest = info.digest;
    if (this.#staged.has(digest)) return info;
    let pending = this.#writing.get(digest);
    if (!pending) {
      // Staged before it stops being written: a call between the two would write it again.
      pending = this.#staging.write(digest, bytes)
        .then((s) => (this.#staged.set(digest, s), s))
        .finally(() => this.#writing.delete(digest));
      this.#writing.set(digest, pending);
    }
    await pending;
    return info;
  }

  /** A blob staged here or already stored. */
  async readBlob(digest: string): Promise<Uint8Array> {
    await this.#settle();
    const s = this.#staged.get(digest);
    if (s) return await Deno.readFile(s.path);
    return await this.#store.readBlob(digest);
  }

  /**
   * Records a SOCI index: the local store lists the index in `index.json`
   * through its DB row (`putRecord`), so this only checks that its blob is
   * there at commit.
   */
  addIndex(desc: Descriptor, _options?: AddIndexOptions): void {
    this.#checkOpen();
    checkDescriptor(desc);
    this.#changes.push({ op: "index", digest: desc.digest });
  }

  /** Drops a SOCI index: its DB row goes at commit; `gc` then removes what only it used. */
  removeIndex(digest: string): void {
    this.deleteRecord(digest);
  }

  /**
   * Names an image: one record per name (naming again replaces it), kept
   * in the DB and shown in `index.json` with `annotations` plus the ref name.
   */
  tagImage(name: string, target: Descriptor, annotations: Record<string, string> = {}): void {
    this.#checkOpen();
    checkDescriptor(target);
    if (name === "" || [...name].some((c) => c.charCodeAt(0) < 0x20 || c === "\x7f")) {
      throw new BadInputError(`invalid image name ${JSON.stringify(name)}`);
    }
    const t: Descriptor = { mediaType: target.mediaType, digest: target.digest, size: target.size };
    if (target.platform) t.platform = target.platform;
    if (target.artifactType) t.artifactType = target.artifactType;
    this.#changes.push({
      op: "image",
      image: { name, target: t, annotations: { ...annotations }, createdAt: new Date() },
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

  #writableDb(): void {
    const db = this.#store.db;
    if (db.readOnly) throw new SociError(`artifacts DB ${db.path} is open read-only`);
  }

  /** Waits for `putBlob` calls still writing (their errors went to their callers). */
  async #settle(): Promise<void> {
    while (this.#writing.size > 0) await Promise.allSettled([...this.#writing.values()]);
  }

  /**
   * Applies everything. Every digest that a DB row, an index or an image
   * refers to must be staged here or already stored, otherwise nothing is
   * applied (`NotFoundError`). On any failure before the DB commits, the
   * store and DB are left as they were and the error is rethrown; after it,
   * nothing can fail the commit (`index.json` and garbage are caught up
   * with by the next writer). The staging folder is removed in all cases.
   */
  async commit(): Promise<void> {
    this.#checkOpen();
    this.#state = "committing";
    try {
      await this.#settle();
      if (this.#staged.size === 0 && this.#changes.length === 0) return;
      this.#writableDb();
      await this.#store.withLock(() => this.#apply());
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
    const db = store.db;
    // Everything referenced must exist once the blobs are in.
    const refs = new Set<string>();
    let removes = false;
    for (const c of this.#changes) {
      if (c.op === "put") refs.add(c.rec.digest);
      else if (c.op === "image") refs.add(c.image.target.digest);
      else if (c.op === "index") refs.add(c.digest);
      else removes = true;
    }
    for (const d of refs) {
      if (!this.#staged.has(d) && !(await store.has(d))) {
        throw new NotFoundError(`cannot record ${d}: the blob is not in the local store`);
      }
    }

    const created = await store.ensureLayout();
    const added: string[] = []; // blob paths this commit moved into place
    const toAdd: Array<[string, StagedBlob]> = [];
    for (const [digest, s] of this.#staged) {
      if (!(await exists(store.blobPath(digest)))) toAdd.push([digest, s]);
    }
    // Blobs alone (nothing recorded) need no DB: if we die, they are as
    // unreferenced as they would be had we lived.
    const recording = this.#changes.length > 0;
    let committed = false;
    try {
      // 1. say which blobs may be left behind if we die before the DB commits
      if (recording && toAdd.length > 0) {
        db.transaction(() => db.addPending(this.#id, toAdd.map((a) => a[0])));
      }
      this.#onStep?.("pending");

      // 2. blobs
      const dirs = new Set<string>();
      for (const [digest, s] of toAdd) {
        const target = store.blobPath(digest);
        await Deno.chmod(s.path, 0o444);
        await Deno.rename(s.path, target);
        added.push(target);
        dirs.add(dirname(target));
      }
      for (const d of dirs) await syncDir(d);
      this.#onStep?.("blobs");

      // 3. the DB: the commit point
      if (!recording) {
        committed = true;
        await store.syncIndexJson().catch(() => {});
        return;
      }
      db.transaction(() => {
        for (const c of this.#changes) {
          if (c.op === "put") db.put(c.rec);
          else if (c.op === "delete") db.delete(c.digest);
          else if (c.op === "image") db.putImage(c.image);
        }
        // Blobs that only the removed rows reached are garbage now: if we
        // die before collecting them, the next writer does.
        if (removes) db.addPending(`${this.#id}-gc`, ["gc"]);
        db.clearPending(this.#id);
        this.#onStep?.("db");
      });
      committed = true;
    } catch (e) {
      if (!committed) {
        // Undo (best effort; the original error is what the caller needs).
        // We still hold the lock: no other writer touched these.
        for (const p of added.reverse()) await Deno.remove(p).catch(() => {});
        for (const p of created.reverse()) await Deno.remove(p).catch(() => {});
        if (recording) {
          try {
            db.transaction(() => db.clearPending(this.#id));
          } catch {
            // left for the next writer's recovery
          }
        }
      }
      throw e;
    }

    // 4. after the commit point: garbage and the index.json view. Failures
    // here are left to the next writer's recovery.
    try {
      this.#onStep?.("committed");
    } catch {
      // (a test's hook: the commit stands)
    }
    if (removes) {
      try {
        await store.sweep();
        db.transaction(() => db.clearPending(`${this.#id}-gc`));
      } catch (e) {
        this.#warnings.push(`removing unreferenced blobs failed: ${errorMessage(e)}`);
      }
    }
    try {
      await store.syncIndexJson();
      this.#onStep?.("index");
    } catch (e) {
      this.#warnings.push(`updating ${store.indexPath} failed: ${errorMessage(e)}`);
    }
  }

  async #cleanup(): Promise<void> {
    await this.#settle();
    await this.#staging.remove();
  }
}

function checkDescriptor(desc: Descriptor): void {
  parseDigest(desc.digest);
  if (!desc.mediaType) throw new BadInputError(`descriptor ${desc.digest} has no media type`);
  if (!Number.isSafeInteger(desc.size) || desc.size < 0) {
    throw new BadInputError(`descriptor ${desc.digest} has an invalid size ${desc.size}`);
  }
}
