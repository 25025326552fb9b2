/**
 * The artifacts DB: one row per SOCI artifact (index, zTOC, prefetch blob)
 * known to the local store, with the logical schema of `soci-format.md` §9,
 * plus the images named in the local store and the bookkeeping of store
 * commits, kept in SQLite (`node:sqlite`, WAL mode) at
 * `<root>/artifacts.sqlite`. Opening the file is `sqlite.ts`'s job.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { SociError } from "../errors.ts";
import type { Descriptor, Platform } from "../oci/descriptor.ts";
import { type ArtifactRecord, type ArtifactType, checkRecord } from "./artifact_record.ts";
import {
  DEFAULT_BUSY_TIMEOUT_MS,
  emptyView,
  fileExists,
  isDamage,
  META_IMPORT_TAGS,
  notAvailable,
  openReader,
  openWriter,
  userVersion,
} from "./sqlite.ts";

export type { ArtifactRecord, ArtifactType } from "./artifact_record.ts";

/** Options of {@linkcode ArtifactsDb.open}. */
export interface ArtifactsDbOptions {
  /**
   * Open without writing: no file is created when the DB is missing (the
   * DB is then empty), and every write throws. See
   * {@linkcode ArtifactsDb.open} for what this leaves on disk.
   */
  readOnly?: boolean;
  /** How long to wait for another process's lock, in ms (default 30000). */
  busyTimeoutMs?: number;
  /**
   * When a writable DB whose file is missing is created: `"eager"` (the
   * default) at `open`; `"lazy"` at the first write (`put`, `delete`,
   * `transaction`). Until then reads see an empty DB, or the file once
   * another process has created it. A command that fails before writing
   * thus leaves no DB file, and no one ever has to delete one.
   */
  create?: "eager" | "lazy";
}

const COLUMNS = "digest, size, location, original_digest, image_digest, platform, type, " +
  "media_type, artifact_type, span_size, created_at_us";

type Row = Record<string, unknown>;

/** A prepared statement as the queries use it (see `ArtifactsDb.#guard`). */
interface Query {
  get(...params: (string | number)[]): unknown;
  all(...params: (string | number)[]): unknown[];
  run(...params: (string | number)[]): { changes: number | bigint };
}

const IMAGE_COLUMNS =
  "name, media_type, digest, size, platform, artifact_type, annotations, created_at_us";

/** An image named in the local store: its name, target and annotations. */
export interface StoredImage {
  /** The name (`app:1`, `127.0.0.1:5000/repo:tag`). */
  name: string;
  /** The image's target (manifest or index): media type, digest, size, and platform/artifact type when known. */
  target: Descriptor;
  /** Annotations recorded with the name (e.g. where the image came from). */
  annotations: Record<string, string>;
  /** When the name was (last) recorded. */
  createdAt: Date;
}

/**
 * The artifacts DB. Every method is synchronous (SQLite is local and
 * fast); concurrent processes are serialized by SQLite's locks with a busy
 * timeout, and readers never block writers (WAL).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ArtifactsDb } from "./artifacts_db.ts";
 * const dir = await Deno.makeTempDir();
 * const db = ArtifactsDb.open(dir + "/artifacts.sqlite");
 * db.put({
 *   digest: "sha256:" + "1".repeat(64), size: 100, type: "soci_layer",
 *   location: "sha256:" + "a".repeat(64), originalDigest: "sha256:" + "a".repeat(64),
 *   imageDigest: "", platform: "", mediaType: "application/octet-stream",
 *   artifactType: "", spanSize: 4194304, createdAt: new Date(),
 * });
 * assert.equal(db.findZtoc("sha256:" + "a".repeat(64), 4194304)?.size, 100);
 * db.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class ArtifactsDb {
  /** Path of the DB file as given to `open` (`:memory:` for an empty read-only DB). */
  readonly path: string;
  /** True when opened read-only. */
  readonly readOnly: boolean;
  #db: DatabaseSync;
  #stmts = new Map<string, Query>();
  /** Set while a lazily created DB has no file yet: the busy timeout to open it with. */
  #pending?: number;

  private constructor(path: string, db: DatabaseSync, readOnly: boolean, pending?: number) {
    this.path = path;
    this.#db = db;
    this.readOnly = readOnly;
    this.#pending = pending;
  }

  /**
   * Opens the DB at `path`. Writable (the default), the file is created
   * with mode 0600 (at once, or at the first write with `create: "lazy"`)
   * and migrated to the current schema. Throws `SociError` `artifacts DB
   * <path> is not available: …` when the file cannot be opened or created,
   * or was written by a newer schema version. A damaged file (not SQLite,
   * cut short, a page overwritten) throws a `BadInputError` whose message
   * ends with a hint to run `soci rebuild-db`, here or at the first query
   * that meets the damage.
   *
   * Read-only on a missing or empty file gives an empty DB and creates
   * nothing. On an existing file, leaving the root as it was takes care: a
   * read-only SQLite connection to a WAL database creates `-wal` and `-shm`
   * files that only a writer may remove. So when we may write the file, it
   * is opened writable with writes forbidden (`PRAGMA query_only`), and
   * closing removes them. When we may not (no write permission on the file,
   * or the directory), and there is no `-wal` file (so no writer has the
   * DB open and every commit is in the main file), the file is read into
   * memory and queried there: nothing is created. When there is a `-wal`
   * file it is opened read-only, which may create a `-shm` file that stays
   * behind.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { ArtifactsDb } from "./artifacts_db.ts";
   * const db = ArtifactsDb.open("/nonexistent/artifacts.sqlite", { readOnly: true });
   * assert.deepEqual(db.all(), []);
   * db.close();
   *
   * const dir = await Deno.makeTempDir();
   * const lazy = ArtifactsDb.open(dir + "/artifacts.sqlite", { create: "lazy" });
   * assert.deepEqual(lazy.all(), []);
   * assert.deepEqual([...Deno.readDirSync(dir)], []); // no file until the first write
   * lazy.close();
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  static open(path: string, options: ArtifactsDbOptions = {}): ArtifactsDb {
    const readOnly = options.readOnly ?? false;
    const timeout = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
    try {
      if (readOnly) {
        const db = fileExists(path) ? openReader(path, timeout) : undefined;
        if (db !== undefined) return new ArtifactsDb(path, db, true);
        return new ArtifactsDb(":memory:", emptyView(), true);
      }
      if (options.create === "lazy" && path !== ":memory:" && !fileExists(path)) {
        return new ArtifactsDb(path, emptyView(), false, timeout);
      }
      return new ArtifactsDb(path, openWriter(path, timeout), false);
    } catch (e) {
      throw notAvailable(path, e);
    }
  }

  /** The connection; a lazily created DB switches to its file once someone created it. */
  #conn(): DatabaseSync {
    if (this.#pending !== undefined && fileExists(this.path)) this.#materialize();
    return this.#db;
  }

  /** Opens (creating it when needed) the file of a lazily created DB. */
  #materialize(): void {
    let db: DatabaseSync;
    try {
      db = openWriter(this.path, this.#pending!);
    } catch (e) {
      throw notAvailable(this.path, e);
    }
    this.#stmts.clear();
    this.#db.close();
    this.#db = db;
    this.#pending = undefined;
  }

  #stmt(sql: string): Query {
    const db = this.#conn();
    let q = this.#stmts.get(sql);
    if (!q) {
      const s = this.#guard(() => db.prepare(sql));
      q = {
        get: (...p) => this.#guard(() => s.get(...p)),
        all: (...p) => this.#guard(() => s.all(...p)),
        run: (...p) => this.#guard(() => s.run(...p)),
      };
      this.#stmts.set(sql, q);
    }
    return q;
  }

  /**
   * Runs `fn` on the connection. A damaged file shows itself only when a
   * query reaches a bad page, so SQLite's report of it becomes
   * {@linkcode notAvailable}'s error, which names the file and `rebuild-db`.
   */
  #guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw isDamage(e) ? notAvailable(this.path, e) : e;
    }
  }

  /** Refuses writes to a read-only DB; creates the file of a lazily created one. */
  #writable(): void {
    if (this.readOnly) throw new SociError(`artifacts DB ${this.path} is open read-only`);
    if (this.#pending !== undefined) this.#materialize();
  }

  /**
   * The row of `digest`, or `undefined`.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { ArtifactsDb } from "./artifacts_db.ts";
   * const db = ArtifactsDb.open(":memory:");
   * assert.equal(db.get("sha256:" + "0".repeat(64)), undefined);
   * db.close();
   * ```
   */
  get(digest: string): ArtifactRecord | undefined {
    const row = this.#stmt(`SELECT ${COLUMNS} FROM artifacts WHERE digest = ?`).get(digest);
    return row ? toRecord(row as Row) : undefined;
  }

  /**
   * The digests of the rows that start with `prefix` (`sha256:` plus hex
   * digits), at most `limit` of them, in digest order.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { ArtifactsDb } from "./artifacts_db.ts";
   * import { ztocRecord } from "./artifact_record.ts";
   * const db = ArtifactsDb.open(":memory:");
   * db.put(ztocRecord("sha256:ab" + "0".repeat(62), 1, "sha256:" + "1".repeat(64), 1));
   * assert.deepEqual(db.digestsStartingWith("sha256:ab"), ["sha256:ab" + "0".repeat(62)]);
   * assert.deepEqual(db.digestsStartingWith("sha256:ac"), []);
   * db.close();
   * ```
   */
  digestsStartingWith(prefix: string, limit = 10): string[] {
    if (!/^[a-z0-9]+:[0-9a-f]*$/.test(prefix)) return [];
    // A range scan: every digest d with prefix <= d < prefix + "~" ("~" sorts after hex digits).
    return (this.#stmt(
      "SELECT digest FROM artifacts WHERE digest >= ? AND digest < ? ORDER BY digest LIMIT ?",
    ).all(prefix, prefix + "~", limit) as Row[]).map((r) => String(r.digest));
  }

  /** Inserts `rec`, or replaces every field of the row with the same digest. */
  put(rec: ArtifactRecord): void {
    checkRecord(rec);
    this.#writable();
    this.#stmt(
      `INSERT INTO artifacts (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (digest) DO UPDATE SET size = excluded.size, location = excluded.location,
         original_digest = excluded.original_digest, image_digest = excluded.image_digest,
         platform = excluded.platform, type = excluded.type, media_type = excluded.media_type,
         artifact_type = excluded.artifact_type, span_size = excluded.span_size,
         created_at_us = excluded.created_at_us`,
    ).run(
      rec.digest,
      rec.size,
      rec.location,
      rec.originalDigest,
      rec.imageDigest,
      rec.platform,
      rec.type,
      rec.mediaType,
      rec.artifactType,
      rec.spanSize,
      Math.round(rec.createdAt.getTime() * 1000),
    );
  }

  /** Deletes the row of `digest`; true when there was one. */
  delete(digest: string): boolean {
    // Nothing to delete from a lazily created DB that has no file yet.
    if (!this.readOnly && this.#pending !== undefined && !fileExists(this.path)) return false;
    this.#writable();
    const r = this.#stmt("DELETE FROM artifacts WHERE digest = ?").run(digest);
    return Number(r.changes) > 0;
  }

  /**
   * Runs `fn` in one SQLite transaction (`BEGIN IMMEDIATE`, so the write
   * lock is taken up front): all its changes are committed together, or
   * none when it throws. Nested calls use savepoints. `fn` must be
   * synchronous.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { ArtifactsDb } from "./artifacts_db.ts";
   * const db = ArtifactsDb.open(":memory:");
   * try {
   *   db.transaction(() => {
   *     db.put({ digest: "sha256:" + "1".repeat(64), size: 1, type: "soci_layer", location: "",
   *       originalDigest: "", imageDigest: "", platform: "", mediaType: "", artifactType: "",
   *       spanSize: 0, createdAt: new Date() });
   *     throw new Error("changed my mind");
   *   });
   * } catch {
   *   // rolled back
   * }
   * assert.deepEqual(db.all(), []);
   * db.close();
   * ```
   */
  transaction<T>(fn: () => T): T {
    this.#writable();
    const nested = this.#db.isTransaction;
    this.#guard(() => this.#db.exec(nested ? "SAVEPOINT soci_tx" : "BEGIN IMMEDIATE"));
    let result: T;
    try {
      result = fn();
      if (result instanceof Promise) {
        throw new SociError("artifacts DB transaction callbacks must be synchronous");
      }
    } catch (e) {
      if (nested) this.#db.exec("ROLLBACK TO soci_tx; RELEASE soci_tx");
      else if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw e;
    }
    this.#guard(() => this.#db.exec(nested ? "RELEASE soci_tx" : "COMMIT"));
    return result;
  }

  /**
   * The zTOC built for `layerDigest` with `spanSize`: the first matching
   * `soci_layer` row in digest order (F§9), or `undefined`.
   */
  findZtoc(layerDigest: string, spanSize: number): ArtifactRecord | undefined {
    const row = this.#stmt(
      `SELECT ${COLUMNS} FROM artifacts WHERE type = 'soci_layer' AND original_digest = ?
       AND span_size = ? ORDER BY digest LIMIT 1`,
    ).get(layerDigest, spanSize);
    return row ? toRecord(row as Row) : undefined;
  }

  /** `soci_index` rows whose original digest is the image manifest `digest`, digest order. */
  indexesByManifest(digest: string): ArtifactRecord[] {
    return this.#all(
      `SELECT ${COLUMNS} FROM artifacts WHERE type = 'soci_index' AND original_digest = ?
       ORDER BY digest`,
      digest,
    );
  }

  /** `soci_index` rows whose image digest is the image target `digest`, digest order. */
  indexesByImage(digest: string): ArtifactRecord[] {
    return this.#all(
      `SELECT ${COLUMNS} FROM artifacts WHERE type = 'soci_index' AND image_digest = ?
       ORDER BY digest`,
      digest,
    );
  }

  /**
   * `soci_index` rows, newest first (ties in creation time by digest
   * order); only those whose platform string equals `platform` when given.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { ArtifactsDb } from "./artifacts_db.ts";
   * const db = ArtifactsDb.open(":memory:");
   * assert.deepEqual(db.listIndexes({ platform: "linux/amd64" }), []);
   * db.close();
   * ```
   */
  listIndexes(options: { platform?: string } = {}): ArtifactRecord[] {
    if (options.platform !== undefined) {
      return this.#all(
        `SELECT ${COLUMNS} FROM artifacts WHERE type = 'soci_index' AND platform = ?
         ORDER BY created_at_us DESC, digest`,
        options.platform,
      );
    }
    return this.#all(
      `SELECT ${COLUMNS} FROM artifacts WHERE type = 'soci_index'
       ORDER BY created_at_us DESC, digest`,
    );
  }

  /** `soci_layer` (zTOC) rows in digest order. */
  listZtocs(): ArtifactRecord[] {
    return this.#all(
      `SELECT ${COLUMNS} FROM artifacts WHERE type = 'soci_layer' ORDER BY digest`,
    );
  }

  /** Every row, in digest order. */
  all(): ArtifactRecord[] {
    return this.#all(`SELECT ${COLUMNS} FROM artifacts ORDER BY digest`);
  }

  /** False for a DB opened with `create: "lazy"` (or read-only) whose file does not exist. */
  get hasFile(): boolean {
    if (this.path === ":memory:") return this.#pending === undefined && !this.readOnly;
    return fileExists(this.path);
  }

  /** True when the DB holds no artifact and no image (missing, new, or emptied). */
  isEmpty(): boolean {
    if (this.#stmt("SELECT 1 FROM artifacts LIMIT 1").get() !== undefined) return false;
    return this.listImages().length === 0;
  }

  /** The schema version of the open file (`0` for a DB that has no file yet). */
  get schemaVersion(): number {
    return this.#guard(() => userVersion(this.#conn()));
  }

  /** True when the tables of schema 2 (images, pending, meta) are there to be read. */
  #hasV2(): boolean {
    return this.schemaVersion >= 2;
  }

  /**
   * The image named `name` in the local store, or `undefined`.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { ArtifactsDb } from "./artifacts_db.ts";
   * const db = ArtifactsDb.open(":memory:");
   * const target = { mediaType: "application/vnd.oci.image.manifest.v1+json",
   *   digest: "sha256:" + "1".repeat(64), size: 10 };
   * db.putImage({ name: "app:1", target, annotations: { from: "oci:x" }, createdAt: new Date() });
   * assert.deepEqual(db.getImage("app:1")?.target, target);
   * assert.equal(db.getImage("app:2"), undefined);
   * db.close();
   * ```
   */
  getImage(name: string): StoredImage | undefined {
    if (!this.#hasV2()) return undefined;
    const row = this.#stmt(`SELECT ${IMAGE_COLUMNS} FROM images WHERE name = ?`).get(name);
    return row ? toImage(row as Row) : undefined;
  }

  /** Every image named in the store, by name. */
  listImages(): StoredImage[] {
    if (!this.#hasV2()) return [];
    return (this.#stmt(`SELECT ${IMAGE_COLUMNS} FROM images ORDER BY name`).all() as Row[])
      .map(toImage);
  }

  /** Names an image (replacing an earlier record of the same name). */
  putImage(image: StoredImage): void {
    this.#writable();
    const t = image.target;
    if (!Number.isSafeInteger(t.size) || t.size < 0) {
      throw new SociError(`image ${image.name}: invalid size ${t.size}`);
    }
    this.#stmt(
      `INSERT OR REPLACE INTO images (${IMAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      image.name,
      t.mediaType,
      t.digest,
      t.size,
      t.platform ? JSON.stringify(t.platform) : "",
      t.artifactType ?? "",
      JSON.stringify(image.annotations),
      Math.round(image.createdAt.getTime() * 1000),
    );
  }

  /** Forgets an image name; true when there was one. */
  deleteImage(name: string): boolean {
    if (!this.readOnly && this.#pending !== undefined && !fileExists(this.path)) return false;
    this.#writable();
    return Number(this.#stmt("DELETE FROM images WHERE name = ?").run(name).changes) > 0;
  }

  /**
   * Records that store transaction `tx` is about to add or drop the blobs
   * `digests`: if it dies before it commits, the next writer knows which
   * blobs to look at (see the store's recovery).
   */
  addPending(tx: string, digests: Iterable<string>): void {
    this.#writable();
    const stmt = this.#stmt("INSERT OR IGNORE INTO pending (tx, digest) VALUES (?, ?)");
    for (const d of digests) stmt.run(tx, d);
  }

  /** Every pending entry, by transaction. */
  listPending(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    if (!this.#hasV2()) return out;
    for (const row of this.#stmt("SELECT tx, digest FROM pending ORDER BY tx, digest").all()) {
      const r = row as Row;
      const tx = String(r.tx);
      out.set(tx, [...(out.get(tx) ?? []), String(r.digest)]);
    }
    return out;
  }

  /** Drops the pending entries of `tx` (it committed, or was recovered). */
  clearPending(tx: string): void {
    if (!this.readOnly && this.#pending !== undefined && !fileExists(this.path)) return;
    this.#writable();
    this.#stmt("DELETE FROM pending WHERE tx = ?").run(tx);
  }

  /** A setting, or `undefined`. */
  getMeta(key: string): string | undefined {
    if (!this.#hasV2()) {
      // A v1 file read without migrating it: its images are named in index.json.
      return key === META_IMPORT_TAGS && this.schemaVersion === 1 ? "1" : undefined;
    }
    const row = this.#stmt("SELECT value FROM meta WHERE key = ?").get(key) as Row | undefined;
    return row ? String(row.value) : undefined;
  }

  /** Sets (or with `undefined` removes) a setting. */
  setMeta(key: string, value: string | undefined): void {
    this.#writable();
    if (value === undefined) this.#stmt("DELETE FROM meta WHERE key = ?").run(key);
    else this.#stmt("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)").run(key, value);
  }

  /** Closes the DB. */
  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  #all(sql: string, ...params: (string | number)[]): ArtifactRecord[] {
    return (this.#stmt(sql).all(...params) as Row[]).map(toRecord);
  }
}

function toRecord(row: Row): ArtifactRecord {
  return {
    digest: String(row.digest),
    size: Number(row.size),
    location: String(row.location),
    originalDigest: String(row.original_digest),
    imageDigest: String(row.image_digest),
    platform: String(row.platform),
    type: String(row.type) as ArtifactType,
    mediaType: String(row.media_type),
    artifactType: String(row.artifact_type),
    spanSize: Number(row.span_size),
    createdAt: new Date(Number(row.created_at_us) / 1000),
  };
}

function toImage(row: Row): StoredImage {
  const target: Descriptor = {
    mediaType: String(row.media_type),
    digest: String(row.digest),
    size: Number(row.size),
  };
  const platform = String(row.platform);
  if (platform !== "") target.platform = JSON.parse(platform) as Platform;
  const artifactType = String(row.artifact_type);
  if (artifactType !== "") target.artifactType = artifactType;
  return {
    name: String(row.name),
    target,
    annotations: JSON.parse(String(row.annotations)) as Record<string, string>,
    createdAt: new Date(Number(row.created_at_us) / 1000),
  };
}
