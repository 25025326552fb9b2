/**
 * Opening the artifacts DB's SQLite file: created with mode 0600, WAL mode,
 * migrated to the current schema; read-only opens that leave no side files
 * behind where SQLite allows it; telling a damaged file from other failures.
 * The queries live in `artifacts_db.ts`.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { BadInputError, errorMessage, SociError } from "../errors.ts";

/** Schema version stored in `PRAGMA user_version`. */
export const ARTIFACTS_DB_SCHEMA_VERSION = 2;

/** How long to wait for another process's lock on the DB, in ms, unless told. */
export const DEFAULT_BUSY_TIMEOUT_MS = 30000;

/** Tables of schema version 1. */
const SCHEMA_V1 = `
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

/**
 * Tables added by schema version 2: the images named in the local store
 * (before, their tags lived only in `index.json`), the blobs a store
 * transaction may leave behind if it dies mid-commit, and settings.
 */
const SCHEMA_V2 = `
CREATE TABLE IF NOT EXISTS images (
  name           TEXT PRIMARY KEY NOT NULL,
  media_type     TEXT NOT NULL,
  digest         TEXT NOT NULL,
  size           INTEGER NOT NULL,
  platform       TEXT NOT NULL DEFAULT '',
  artifact_type  TEXT NOT NULL DEFAULT '',
  annotations    TEXT NOT NULL DEFAULT '{}',
  created_at_us  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pending (
  tx     TEXT NOT NULL,
  digest TEXT NOT NULL,
  PRIMARY KEY (tx, digest)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
) WITHOUT ROWID;
`;

/** The whole current schema (for empty in-memory views). */
const SCHEMA = SCHEMA_V1 + SCHEMA_V2;

/** Meta key set when a v1 DB was migrated: its image tags are still in `index.json`. */
export const META_IMPORT_TAGS = "import_tags";

type Row = Record<string, unknown>;

/** The schema version of a connection (`PRAGMA user_version`). */
export function userVersion(db: DatabaseSync): number {
  const row = db.prepare("PRAGMA user_version").get() as Row;
  return Number(row.user_version);
}

/** True when something is at `path` (or it cannot be told: opening it will report the problem). */
export function fileExists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    return true; // let opening it report the real problem
  }
}

/** An empty in-memory DB with the schema, for reads of a DB that has no file. */
export function emptyView(): DatabaseSync {
  const mem = new DatabaseSync(":memory:");
  mem.exec(SCHEMA);
  mem.exec(`PRAGMA user_version = ${ARTIFACTS_DB_SCHEMA_VERSION}`);
  mem.exec("PRAGMA query_only = 1");
  return mem;
}

/**
 * The error for a DB that cannot be opened or read: `artifacts DB <path> is
 * not available: <cause>`. When the file is damaged (see
 * {@linkcode isDamage}) it is a `BadInputError` whose message ends with
 * ` (soci rebuild-db rebuilds it from the content store)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DatabaseSync } from "node:sqlite";
 * import { notAvailable } from "./sqlite.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "garbage\n");
 * const db = new DatabaseSync(path);
 * assert.throws(() => db.exec("PRAGMA user_version"), (e) => {
 *   assert.equal(
 *     notAvailable(path, e).message,
 *     `artifacts DB ${path} is not available: file is not a database ` +
 *       "(soci rebuild-db rebuilds it from the content store)",
 *   );
 *   return true;
 * });
 * db.close();
 * await Deno.remove(path);
 * ```
 */
export function notAvailable(path: string, e: unknown): SociError {
  const msg = `artifacts DB ${path} is not available: ${errorMessage(e)}`;
  if (isDamage(e)) return new BadInputError(`${msg} (${REBUILD_HINT})`, { cause: e });
  return new SociError(msg, { cause: e });
}

/** What ends the message of a damaged DB. */
const REBUILD_HINT = "soci rebuild-db rebuilds it from the content store";

/** SQLite's primary result codes for a damaged file. */
const SQLITE_CORRUPT = 11;
const SQLITE_NOTADB = 26;

/** SQLite's messages for those codes. */
const DAMAGE_TEXT =
  /^(file is not a database|database disk image is malformed|malformed database schema)/;

/**
 * True when `e` is SQLite's report of a damaged file: `file is not a
 * database` (SQLITE_NOTADB: garbage, or a file cut short before its first
 * page ends) or `database disk image is malformed` (SQLITE_CORRUPT, with
 * its extended codes). A file that cannot be opened for want of permission,
 * an I/O error or a lock held too long (`database is locked`) is not.
 */
export function isDamage(e: unknown): boolean {
  const err = e as { errcode?: unknown; code?: unknown; message?: unknown } | undefined;
  if (typeof err?.errcode === "number") {
    return (err.errcode & 0xff) === SQLITE_CORRUPT || (err.errcode & 0xff) === SQLITE_NOTADB;
  }
  // Errors thrown by exec() carry no errcode (Deno 2.9): SQLite's message tells.
  return err?.code === "ERR_SQLITE_ERROR" && DAMAGE_TEXT.test(String(err.message));
}

/**
 * Why the DB file at `path` is damaged, in one line (SQLite's message, e.g.
 * `file is not a database`), or `undefined` when it is sound, empty or
 * missing. Reads every page (`PRAGMA quick_check`), which finds damage that
 * a query may never meet, so only `rebuild-db` runs it: opening the DB stays
 * cheap. Any other failure (no permission, a lock held longer than
 * `timeout` ms) throws {@linkcode notAvailable}'s error.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { damageOf } from "./sqlite.ts";
 * const path = await Deno.makeTempFile();
 * assert.equal(damageOf(path), undefined); // empty: a DB without tables yet
 * await Deno.writeTextFile(path, "garbage\n");
 * assert.equal(damageOf(path), "file is not a database");
 * await Deno.remove(path);
 * ```
 */
export function damageOf(path: string, timeout = DEFAULT_BUSY_TIMEOUT_MS): string | undefined {
  if (!fileExists(path)) return undefined;
  let db: DatabaseSync | undefined;
  try {
    // Nothing on disk may change: the damaged file is kept as it is. Without
    // a -wal file every commit is in the main file, so a copy in memory is
    // checked; with one, a read-only connection (a writable one would copy
    // the WAL into the main file when it closes).
    if (fileExists(`${path}-wal`)) {
      db = new DatabaseSync(path, { readOnly: true });
      db.exec(`PRAGMA busy_timeout = ${timeout}`);
    } else {
      db = inMemoryCopy(path);
    }
    // One row "ok", or problems ("*** in database main ***\nTree 3 page 3: …", …).
    const lines = (db.prepare("PRAGMA quick_check").all() as Row[])
      .flatMap((r) => String(r.quick_check).split("\n"));
    if (lines.length === 1 && lines[0] === "ok") return undefined;
    const problem = lines.find((line) => !line.startsWith("***")) ?? lines.join(" ");
    return `database disk image is malformed: ${problem}`;
  } catch (e) {
    if (isDamage(e)) return errorMessage(e);
    throw notAvailable(path, e);
  } finally {
    closeQuietly(db);
  }
}

/** Opens (creating it with mode 0600 when missing) and migrates a writable DB. */
export function openWriter(path: string, timeout: number): DatabaseSync {
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
export function openReader(path: string, timeout: number): DatabaseSync | undefined {
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
    // Nothing to replay: every committed change is in the main file. Read
    // it into memory, so that SQLite makes no -wal/-shm side files next to
    // it (a reader without write access could not remove them). A writer
    // that checkpoints while we read may give us a torn copy: the queries
    // then fail, and we fall back to a plain read-only open.
    try {
      db = inMemoryCopy(path);
      userVersion(db);
    } catch (e) {
      closeQuietly(db);
      db = undefined;
      // Still no -wal file: no writer tore the copy, the file is damaged
      // (a read-only open would fail too, leaving -wal/-shm files behind).
      if (isDamage(e) && !fileExists(`${path}-wal`)) throw e;
    }
  }
  if (db === undefined) {
    db = new DatabaseSync(path, { readOnly: true });
    db.exec(`PRAGMA busy_timeout = ${timeout}`);
  }
  try {
    const version = userVersion(db);
    if (version > ARTIFACTS_DB_SCHEMA_VERSION) throw tooNew(version);
    if (version >= 1) return db; // older schemas are read through ArtifactsDb's fallbacks
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

/**
 * An in-memory, query-only copy of the DB file at `path`. The header is
 * switched from WAL to rollback-journal mode first (bytes 18–19), which an
 * in-memory database needs.
 */
function inMemoryCopy(path: string): DatabaseSync {
  const bytes = Deno.readFileSync(path);
  if (bytes.length >= 20) {
    if (bytes[18] === 2) bytes[18] = 1;
    if (bytes[19] === 2) bytes[19] = 1;
  }
  const db = new DatabaseSync(":memory:");
  try {
    // (An empty file is an empty DB, which deserialize refuses.)
    if (bytes.length > 0) {
      (db as unknown as { deserialize(b: Uint8Array): void }).deserialize(bytes);
    }
    db.exec("PRAGMA query_only = 1");
  } catch (e) {
    db.close();
    throw e;
  }
  return db;
}

/** Closes a connection, ignoring errors. */
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
    if (version < 1) db.exec(SCHEMA_V1);
    if (version < 2) {
      db.exec(SCHEMA_V2);
      // A v1 store named its images in index.json only: import them once.
      if (version === 1) {
        db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, '1')").run(
          META_IMPORT_TAGS,
        );
      }
    }
    if (version < ARTIFACTS_DB_SCHEMA_VERSION) {
      db.exec(`PRAGMA user_version = ${ARTIFACTS_DB_SCHEMA_VERSION}`);
    }
    db.exec("COMMIT");
  } catch (e) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw e;
  }
}

/** True for SQLite's "database is locked" / busy errors. */
function isBusy(e: unknown): boolean {
  const msg = e instanceof Error ? e.message : "";
  return /database is locked|busy/i.test(msg);
}

/** Blocks the thread for `ms` milliseconds (between SQLite busy retries). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
