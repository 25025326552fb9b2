/**
 * The artifacts DB: one row per SOCI artifact (index, zTOC, prefetch blob)
 * known to the local store, with the logical schema of `soci-format.md` §9,
 * kept in SQLite (`node:sqlite`, WAL mode) at `<root>/artifacts.sqlite`.
 *
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { SociError } from "../errors.ts";
import { OCI_MANIFEST, ZTOC_MEDIA_TYPE } from "../oci/media_types.ts";

/** Kind of an artifact row (F§9 `type`). */
export type ArtifactType = "soci_index" | "soci_layer" | "soci_prefetch";

/**
 * One artifact (F§9). For an index: `location` and `originalDigest` = image
 * manifest digest, `imageDigest` = image target digest, `platform`
 * `os/arch[/variant]`, `artifactType` v1/v2. For a zTOC (`soci_layer`):
 * `location` and `originalDigest` = layer digest, `spanSize`. Strings not
 * used by a kind are `""`, numbers `0`.
 */
export interface ArtifactRecord {
  /** Digest of the artifact blob (the key). */
  digest: string;
  /** Size of the blob in bytes. */
  size: number;
  /** Index: image manifest digest at build time; zTOC: layer digest; prefetch: `""`. */
  location: string;
  /** Index: image manifest digest (updated by convert); zTOC/prefetch: layer digest. */
  originalDigest: string;
  /** Index: digest of the image target (manifest or index); others `""`. */
  imageDigest: string;
  /** Index: `os/arch[/variant]`; others `""`. */
  platform: string;
  /** Kind of artifact. */
  type: ArtifactType;
  /** Media type of the artifact blob. */
  mediaType: string;
  /** Index: its artifact type (config media type); others `""`. */
  artifactType: string;
  /** zTOC: span size it was built with; others `0`. */
  spanSize: number;
  /** When the artifact was recorded (stored in microseconds). */
  createdAt: Date;
}

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

/** Schema version stored in `PRAGMA user_version`. */
export const ARTIFACTS_DB_SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS artifacts (
  digest          TEXT PRIMARY KEY NOT NULL,
  size            INTEGER NOT NULL,
  location        TEXT NOT NULL DEFAULT '',
  original_digest TEXT NOT NULL DEFAULT '',
  image_digest    TEXT NOT NULL DEFAULT '',
  platform        TEXT NOT NULL DEFAULT '',
  type            TEXT NOT NULL CHECK (type IN ('soci_index', 'soci_layer', 'soci_prefetch')),
  media_type      TEXT NOT NULL DEFAULT '',
  artifact_type   TEXT NOT NULL DEFAULT '',
  span_size       INTEGER NOT NULL DEFAULT 0,
  created_at_us   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS artifacts_by_original
  ON artifacts (type, original_digest, span_size, digest);
CREATE INDEX IF NOT EXISTS artifacts_by_image ON artifacts (type, image_digest, digest);
CREATE INDEX IF NOT EXISTS artifacts_by_created ON artifacts (type, created_at_us DESC, digest);
`;

const COLUMNS = "digest, size, location, original_digest, image_digest, platform, type, " +
  "media_type, artifact_type, span_size, created_at_us";

const TYPES = new Set<string>(["soci_index", "soci_layer", "soci_prefetch"]);

type Row = Record<string, unknown>;

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
  #stmts = new Map<string, StatementSync>();
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
   * or was written by a newer schema version.
   *
   * Read-only on a missing or empty file gives an empty DB and creates
   * nothing. On an existing file, leaving the root as it was takes care: a
   * read-only SQLite connection to a WAL database creates `-wal` and `-shm`
   * files that only a writer may remove. So when we may write the file, it
   * is opened writable with writes forbidden (`PRAGMA query_only`), and
   * closing removes them. When we may not (no write permission on the file,
   * or the directory), and there is no `-wal` file (so no writer has the
   * DB open), it is opened `immutable` (a `file:` URI): nothing is created,
   * and a writer that starts while we read may make our reads fail or see
   * a torn state. When there is a `-wal` file it is opened read-only, which
   * may create a `-shm` file that stays behind.
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
    const timeout = options.busyTimeoutMs ?? 30000;
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

  #stmt(sql: string): StatementSync {
    const db = this.#conn();
    let s = this.#stmts.get(sql);
    if (!s) {
      s = db.prepare(sql);
      this.#stmts.set(sql, s);
    }
    return s;
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
    this.#db.exec(nested ? "SAVEPOINT soci_tx" : "BEGIN IMMEDIATE");
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
    this.#db.exec(nested ? "RELEASE soci_tx" : "COMMIT");
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

  /** Closes the DB. */
  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  #all(sql: string, ...params: (string | number)[]): ArtifactRecord[] {
    return (this.#stmt(sql).all(...params) as Row[]).map(toRecord);
  }
}

function userVersion(db: DatabaseSync): number {
  const row = db.prepare("PRAGMA user_version").get() as Row;
  return Number(row.user_version);
}

function fileExists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    return true; // let opening it report the real problem
  }
}

/** An empty in-memory DB with the schema, for reads of a DB that has no file. */
function emptyView(): DatabaseSync {
  const mem = new DatabaseSync(":memory:");
  mem.exec(SCHEMA);
  mem.exec("PRAGMA query_only = 1");
  return mem;
}

function notAvailable(path: string, e: unknown): SociError {
  const msg = e instanceof Error ? e.message : String(e);
  return new SociError(`artifacts DB ${path} is not available: ${msg}`, { cause: e });
}

/** Opens (creating it with mode 0600 when missing) and migrates a writable DB. */
function openWriter(path: string, timeout: number): DatabaseSync {
  const memory = path === ":memory:";
  if (!memory) {
    try {
      Deno.openSync(path, { write: true, createNew: true, mode: 0o600 }).close();
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
  }
  const db = new DatabaseSync(path);
  try {
    db.exec(`PRAGMA busy_timeout = ${timeout}`);
    if (!memory) setWal(db, timeout);
    db.exec("PRAGMA synchronous = NORMAL");
    migrate(db);
  } catch (e) {
    db.close();
    throw e;
  }
  return db;
}

/**
 * A read-only connection to the existing DB file at `path` that leaves no
 * file behind when it can (see `ArtifactsDb.open`), or `undefined` when the
 * file has no schema yet. Throws when the schema is too new.
 */
function openReader(path: string, timeout: number): DatabaseSync | undefined {
  let db: DatabaseSync | undefined;
  if (mayWrite(path)) {
    try {
      db = new DatabaseSync(path);
      db.exec(`PRAGMA busy_timeout = ${timeout}`);
      db.exec("PRAGMA query_only = 1");
      userVersion(db); // the first read: fails when the -wal/-shm files cannot be made
    } catch {
      closeQuietly(db);
      db = undefined;
    }
  }
  if (db === undefined && !fileExists(`${path}-wal`)) {
    // Nothing to replay: read the file as it is, without locks or side files.
    // (Deno only accepts the URI form with -A; under scoped permissions it
    // takes it for a relative path and fails, and the plain path is used:
    // SQLite may then leave its empty -wal/-shm side files, as any reader
    // without write access to a WAL database does.)
    try {
      db = new DatabaseSync(immutableUri(path), { readOnly: true });
      userVersion(db);
    } catch {
      closeQuietly(db);
      db = undefined;
    }
  }
  if (db === undefined) {
    db = new DatabaseSync(path, { readOnly: true });
    db.exec(`PRAGMA busy_timeout = ${timeout}`);
  }
  try {
    const version = userVersion(db);
    if (version > ARTIFACTS_DB_SCHEMA_VERSION) throw tooNew(version);
    if (version === ARTIFACTS_DB_SCHEMA_VERSION) return db;
  } catch (e) {
    closeQuietly(db);
    throw e;
  }
  db.close(); // an empty file: no schema yet, same as missing
  return undefined;
}

/**
 * True when the file at `path` can be opened for writing. SQLite itself
 * silently falls back to a read-only connection when it cannot, which is
 * the case we must tell apart.
 */
function mayWrite(path: string): boolean {
  try {
    Deno.openSync(path, { read: true, write: true }).close();
    return true;
  } catch {
    return false;
  }
}

/** A `file:` URI opening `path` read-only with SQLite's `immutable` flag (no locks, no files). */
function immutableUri(path: string): string {
  const escaped = path.replace(/[%?#]/g, (c) => "%" + c.charCodeAt(0).toString(16));
  return `file:${escaped}?immutable=1`;
}

function closeQuietly(db: DatabaseSync | undefined): void {
  try {
    if (db?.isOpen) db.close();
  } catch {
    // nothing more to release
  }
}

function tooNew(version: number): SociError {
  return new SociError(
    `schema version ${version} is newer than this soci understands ` +
      `(${ARTIFACTS_DB_SCHEMA_VERSION}); use a newer soci or run rebuild-db on a fresh root`,
  );
}

function setWal(db: DatabaseSync, timeoutMs: number): void {
  // Switching to WAL needs a moment of exclusive access; it is persistent,
  // so it only matters for the first open of a new file. Retry on BUSY.
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      const row = db.prepare("PRAGMA journal_mode = WAL").get() as Row;
      if (String(row.journal_mode).toLowerCase() === "wal") return;
      throw new SociError(`cannot switch to WAL mode (got ${String(row.journal_mode)})`);
    } catch (e) {
      if (!isBusy(e) || Date.now() > until) throw e;
    }
    sleepSync(20);
  }
}

function migrate(db: DatabaseSync): void {
  let version = userVersion(db);
  if (version === ARTIFACTS_DB_SCHEMA_VERSION) return;
  if (version > ARTIFACTS_DB_SCHEMA_VERSION) throw tooNew(version);
  db.exec("BEGIN IMMEDIATE");
  try {
    version = userVersion(db); // another process may have migrated meanwhile
    if (version > ARTIFACTS_DB_SCHEMA_VERSION) throw tooNew(version);
    if (version < ARTIFACTS_DB_SCHEMA_VERSION) {
      db.exec(SCHEMA);
      db.exec(`PRAGMA user_version = ${ARTIFACTS_DB_SCHEMA_VERSION}`);
    }
    db.exec("COMMIT");
  } catch (e) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw e;
  }
}

function isBusy(e: unknown): boolean {
  const msg = e instanceof Error ? e.message : "";
  return /database is locked|busy/i.test(msg);
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function checkRecord(rec: ArtifactRecord): void {
  if (!TYPES.has(rec.type)) throw new SociError(`unknown artifact type ${rec.type}`);
  if (!(rec.createdAt instanceof Date) || Number.isNaN(rec.createdAt.getTime())) {
    throw new SociError(`artifact ${rec.digest}: invalid creation time`);
  }
  if (!Number.isSafeInteger(rec.size) || rec.size < 0) {
    throw new SociError(`artifact ${rec.digest}: invalid size ${rec.size}`);
  }
  if (!Number.isSafeInteger(rec.spanSize)) {
    throw new SociError(`artifact ${rec.digest}: invalid span size ${rec.spanSize}`);
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

/**
 * The DB record of a zTOC (F§9: `soci_layer`, location and original digest
 * = the layer digest).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ztocRecord } from "./artifacts_db.ts";
 * const r = ztocRecord("sha256:" + "a".repeat(64), 10, "sha256:" + "b".repeat(64), 4194304);
 * assert.equal(r.type, "soci_layer");
 * assert.equal(r.originalDigest, r.location);
 * ```
 */
export function ztocRecord(
  digest: string,
  size: number,
  layerDigest: string,
  spanSize: number,
  createdAt: Date = new Date(),
): ArtifactRecord {
  return {
    digest,
    size,
    location: layerDigest,
    originalDigest: layerDigest,
    imageDigest: "",
    platform: "",
    type: "soci_layer",
    mediaType: ZTOC_MEDIA_TYPE,
    artifactType: "",
    spanSize,
    createdAt,
  };
}

/**
 * The DB record of a SOCI index (F§9: `soci_index`, location and original
 * digest = the image manifest, image digest = the image's target).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { indexRecord } from "./artifacts_db.ts";
 * const d = "sha256:" + "c".repeat(64);
 * const r = indexRecord(d, 10, d, d, "linux/amd64", "application/vnd.amazon.soci.index.v1+json");
 * assert.equal(r.type, "soci_index");
 * assert.equal(r.spanSize, 0);
 * ```
 */
export function indexRecord(
  digest: string,
  size: number,
  manifestDigest: string,
  imageDigest: string,
  platform: string,
  artifactType: string,
  createdAt: Date = new Date(),
): ArtifactRecord {
  return {
    digest,
    size,
    location: manifestDigest,
    originalDigest: manifestDigest,
    imageDigest,
    platform,
    type: "soci_index",
    mediaType: OCI_MANIFEST,
    artifactType,
    spanSize: 0,
    createdAt,
  };
}
