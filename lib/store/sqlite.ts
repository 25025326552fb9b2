/**
 * Opening the artifacts DB's SQLite file: created with mode 0600, WAL mode,
 * migrated to the current schema; read-only opens that leave no side files
 * behind where SQLite allows it. The queries live in `artifacts_db.ts`.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { SociError } from "../errors.ts";

/** Schema version stored in `PRAGMA user_version`. */
export const ARTIFACTS_DB_SCHEMA_VERSION = 2;

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

/** The error for a DB that cannot be opened: `artifacts DB <path> is not available: <cause>`. */
export function notAvailable(path: string, e: unknown): SociError {
  const msg = e instanceof Error ? e.message : String(e);
  return new SociError(`artifacts DB ${path} is not available: ${msg}`, { cause: e });
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
    (db as unknown as { deserialize(b: Uint8Array): void }).deserialize(bytes);
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
