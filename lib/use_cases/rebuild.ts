/**
 * `rebuild-db`: recreates the artifacts DB from the blobs of an artifact
 * store (`soci-cli.md` §7), reading subject manifests from the store; a
 * damaged DB file is moved aside first, and back if the rebuild fails.
 *
 * @module
 */
import { BadInputError, errorMessage, SociError } from "../errors.ts";
import { formatPlatform, normalizePlatform } from "../oci/platform.ts";
import type { Descriptor, ImageManifest, Platform } from "../oci/descriptor.ts";
import { decodeIndex, decodeManifest } from "../oci/json_decode.ts";
import {
  ANNOTATION_LAYER_DIGEST,
  ANNOTATION_SPAN_SIZE,
  isIndexType,
  OCI_MANIFEST,
  SOCI_INDEX_V1,
} from "../oci/media_types.ts";
import { strconvQuote } from "../go/quote.ts";
import type { ArtifactStore } from "../store/artifact_store.ts";
import { type ArtifactRecord, indexRecord, ztocRecord } from "../store/artifact_record.ts";
import { readJsonCandidate } from "../store/reachability.ts";
import { artifactsDbPath } from "../store/root.ts";
import { withRootLock } from "../store/root_lock.ts";
import { damageOf, DEFAULT_BUSY_TIMEOUT_MS, fileExists } from "../store/sqlite.ts";
import { syncDir } from "../util/atomic_file.ts";

/** What {@linkcode rebuildDb} changed. */
export interface RebuildResult {
  /** Digests of rows deleted because their blob is gone (digest order). */
  removed: string[];
  /** Digests of rows added (indexes and their zTOCs, digest order). */
  added: string[];
}

/** Options of {@linkcode rebuildDb}. */
export interface RebuildOptions {
  /** Creation time of added rows (default: when each blob was written, else now). */
  now?: Date;
  /**
   * Called after each step (`listed`: the blobs are listed; `db`: inside the
   * DB transaction, before it commits; `views`: after it committed, before
   * the store's views are rewritten). Tests use it to inject failures.
   */
  onStep?: (step: "listed" | "db" | "views") => void;
}

/** Blobs smaller than this are never SOCI indexes (upstream rule). */
const MIN_INDEX_SIZE = 10;

/**
 * Rebuilds the artifacts DB from the store's blobs, in one DB transaction
 * taken under the store lock (so a concurrent commit, or an `index rm` and
 * its garbage collection, cannot slip between listing and writing):
 *
 * 1. rows whose blob is not in the store are deleted (any type);
 * 2. every blob that decodes as a v1 SOCI index (OCI manifest media type,
 *    `config.mediaType` v1, a `subject`) and has no row yet gets a
 *    `soci_index` row: location = original digest = subject digest;
 *    image digest = the named image whose target is (or, for an index,
 *    lists) the subject, else the subject; platform =
 *    `os/arch[/variant]` (containerd-normalized) from the platform of a
 *    descriptor that lists the subject in our store, else from the subject
 *    manifest's config in our store, else `""` when the subject (or its
 *    config) is not in our store;
 * 3. each of its `layers` whose blob is in the store and has no row yet
 *    gets a `soci_layer` row (location = original digest = the
 *    `image-layer-digest` annotation, media type `application/octet-stream`,
 *    span size from the `span-size` annotation, 0 when absent).
 *
 * Rows that exist are kept as they are (their creation times too); added
 * rows take the blob's modification time as their creation time where the
 * store knows it (else `now`). Differences from upstream: zTOC rows are not
 * written for missing blobs, existing zTOC rows are kept as they are, and
 * creation times survive. v2 indexes are never added.
 * Errors: `failed to remove old artifacts from db: …`, `failed to add new
 * artifacts to db: …` (e.g. a bad span size annotation); the DB is then
 * unchanged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalStore } from "../store/local_store.ts";
 * import { rebuildDb } from "./rebuild.ts";
 * const root = await Deno.makeTempDir();
 * const store = LocalStore.open(root);
 * const result = await rebuildDb(store);
 * assert.deepEqual(result, { removed: [], added: [] });
 * store.close();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function rebuildDb(
  store: ArtifactStore,
  options: RebuildOptions = {},
): Promise<RebuildResult> {
  const db = store.db;
  const now = new Date();
  return await store.withLock(async () => {
    const blobs = new Map<string, BlobSeen>();
    for await (const b of store.listBlobs()) {
      blobs.set(b.digest, { size: b.size, createdAt: options.now ?? b.createdAt ?? now });
    }

    options.onStep?.("listed");
    let stale: string[];
    try {
      stale = db.all().filter((r) => !blobs.has(r.digest)).map((r) => r.digest);
    } catch (e) {
      throw wrap("failed to remove old artifacts from db", e);
    }

    let rows: ArtifactRecord[];
    try {
      rows = await discover(store, blobs);
    } catch (e) {
      throw wrap("failed to add new artifacts to db", e);
    }

    // Nothing to change: no transaction, which would create a lazily created DB's file.
    if (stale.length === 0 && rows.length === 0) return { removed: [], added: [] };
    const result = { removed: stale, added: rows.map((r) => r.digest).sort() };
    db.transaction(() => {
      try {
        for (const d of stale) db.delete(d);
      } catch (e) {
        throw wrap("failed to remove old artifacts from db", e);
      }
      try {
        for (const r of rows) db.put(r);
      } catch (e) {
        throw wrap("failed to add new artifacts to db", e);
      }
      options.onStep?.("db");
    });
    options.onStep?.("views");
    await store.syncViews();
    return result;
  });
}

/** A damaged artifacts DB that {@linkcode rebuildDamagedDb} moved aside. */
export interface DamagedDb {
  /** Where the DB was: `<root>/artifacts.sqlite`. */
  path: string;
  /** Where it is now: `<path>.corrupt-<UTC time>`, with its `-wal`/`-shm` files, if any, next to it. */
  aside: string;
  /** Why it counts as damaged, in SQLite's words (`file is not a database`). */
  cause: string;
}

/** Options of {@linkcode rebuildDamagedDb}. */
export interface DamagedDbOptions {
  /** The time in the name of the moved file (default now). */
  now?: Date;
  /** How long to wait for another process's lock on the DB, in ms (default 30000). */
  busyTimeoutMs?: number;
}

/** The DB's companion files, then the DB itself: the order they are moved in. */
const DB_FILES = ["-wal", "-shm", ""];

/**
 * Runs `rebuild` (which opens the store of `root` and calls
 * {@linkcode rebuildDb}) after moving the artifacts DB aside when it is
 * damaged: not SQLite, cut short, or any page malformed (`damageOf`, which
 * reads every page). Moved, the DB is renamed in the same folder to
 * `artifacts.sqlite.corrupt-<UTC time, 20261207T051500Z>` (`-2`, `-3`, …
 * appended rather than overwriting anything), its `-wal`/`-shm` files with
 * it, so `rebuild` starts from an empty DB. When `rebuild` throws, the DB it
 * made is deleted and the damaged one moved back: the root is as it was.
 * The check and the moves hold the root's lock. A DB that cannot be checked
 * (no permission, locked) is never moved: that error is thrown.
 *
 * Returns what was moved aside, or `undefined` when the DB was sound or
 * missing (then `rebuild` ran on it as it was).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalStore } from "../store/local_store.ts";
 * import { rebuildDamagedDb, rebuildDb } from "./rebuild.ts";
 * const root = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${root}/artifacts.sqlite`, "garbage\n");
 * const moved = await rebuildDamagedDb(root, async () => {
 *   using store = LocalStore.open(root);
 *   await rebuildDb(store);
 * }, { now: new Date("2026-12-07T05:15:00Z") });
 * assert.deepEqual(moved, {
 *   path: `${root}/artifacts.sqlite`,
 *   aside: `${root}/artifacts.sqlite.corrupt-20261207T051500Z`,
 *   cause: "file is not a database",
 * });
 * assert.equal(await Deno.readTextFile(moved.aside), "garbage\n");
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function rebuildDamagedDb(
  root: string,
  rebuild: () => Promise<void>,
  options: DamagedDbOptions = {},
): Promise<DamagedDb | undefined> {
  const moved = fileExists(artifactsDbPath(root))
    ? await withRootLock(root, () => setAsideIfDamaged(root, options))
    : undefined;
  try {
    await rebuild();
  } catch (e) {
    if (moved === undefined) throw e;
    try {
      await withRootLock(root, () => putBack(root, moved));
    } catch (r) {
      throw new SociError(
        `${errorMessage(e)}; the damaged artifacts DB stays at ${moved.aside} ` +
          `(cannot move it back: ${errorMessage(r)})`,
        { cause: e },
      );
    }
    throw e;
  }
  return moved;
}

/** Renames the DB of `root` and its companions aside when it is damaged. */
async function setAsideIfDamaged(
  root: string,
  options: DamagedDbOptions,
): Promise<DamagedDb | undefined> {
  const path = artifactsDbPath(root);
  const cause = damageOf(path, options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS);
  if (cause === undefined) return undefined;
  const stamp = (options.now ?? new Date()).toISOString().replace(/\.\d{3}Z$/, "Z")
    .replace(/[-:]/g, "");
  let aside = `${path}.corrupt-${stamp}`;
  for (let n = 2; DB_FILES.some((s) => fileExists(aside + s)); n++) {
    aside = `${path}.corrupt-${stamp}-${n}`;
  }
  const done: string[] = [];
  try {
    for (const s of DB_FILES) if (await renameIfThere(path + s, aside + s)) done.push(s);
  } catch (e) {
    for (const s of done.reverse()) await renameIfThere(aside + s, path + s).catch(() => {});
    throw new SociError(
      `cannot move the damaged artifacts DB ${path} aside (${cause}): ${errorMessage(e)}`,
      { cause: e },
    );
  }
  await syncDir(root);
  return { path, aside, cause };
}

/** Deletes the DB a failed rebuild made, and moves the damaged one back. */
async function putBack(root: string, moved: DamagedDb): Promise<void> {
  for (const s of DB_FILES) {
    await Deno.remove(moved.path + s).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }
  for (const s of DB_FILES) await renameIfThere(moved.aside + s, moved.path + s);
  await syncDir(root);
}

/** Renames `from` to `to`; false when there is no `from`. */
async function renameIfThere(from: string, to: string): Promise<boolean> {
  try {
    await Deno.rename(from, to);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** A blob as listed: its size, and when it was written. */
interface BlobSeen {
  size: number;
  createdAt: Date;
}

async function discover(
  store: ArtifactStore,
  blobs: Map<string, BlobSeen>,
): Promise<ArtifactRecord[]> {
  const db = store.db;
  const ctx = new SubjectInfo(store, blobs);
  const rows = new Map<string, ArtifactRecord>();
  for (const [digest, { size, createdAt }] of blobs) {
    if (size < MIN_INDEX_SIZE || db.get(digest) !== undefined) continue;
    const index = await readV1Index(store, digest);
    if (!index) continue;
    const subject = index.subject!;
    const { platform, imageDigest } = await ctx.lookup(subject);
    rows.set(
      digest,
      indexRecord(digest, size, subject.digest, imageDigest, platform, SOCI_INDEX_V1, createdAt),
    );
    for (const layer of index.layers) {
      const spanSize = parseSpanSize(layer);
      const seen = blobs.get(layer.digest);
      if (!seen || rows.has(layer.digest)) continue;
      if (db.get(layer.digest) !== undefined) continue;
      const layerDigest = layer.annotations?.[ANNOTATION_LAYER_DIGEST] ?? "";
      rows.set(
        layer.digest,
        ztocRecord(layer.digest, layer.size, layerDigest, spanSize, seen.createdAt),
      );
    }
  }
  return [...rows.values()];
}

/** The blob decoded as a v1 SOCI index, or `undefined` when it is not one. */
async function readV1Index(
  store: ArtifactStore,
  digest: string,
): Promise<ImageManifest | undefined> {
  const bytes = await readJsonCandidate(store, digest); // saves reading zTOCs
  if (bytes === undefined) return undefined;
  let m: ImageManifest;
  try {
    m = decodeManifest(bytes);
  } catch {
    return undefined;
  }
  if (m.mediaType !== OCI_MANIFEST || m.config?.mediaType !== SOCI_INDEX_V1 || !m.subject) {
    return undefined;
  }
  return m;
}

/**
 * Go `strconv.ParseInt(s, 10, 64)` of the span-size annotation (absent = 0),
 * with upstream's error text.
 */
function parseSpanSize(layer: Descriptor): number {
  const text = layer.annotations?.[ANNOTATION_SPAN_SIZE];
  if (text === undefined) return 0;
  let reason: string | undefined;
  if (!/^[+-]?[0-9]+$/.test(text)) reason = "invalid syntax";
  else {
    const v = BigInt(text);
    if (v > 9223372036854775807n || v < -9223372036854775808n) reason = "value out of range";
    else if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
      reason = "value out of range"; // representable in Go, not in our number field
    } else return Number(v);
  }
  throw new BadInputError(
    `failed to parse span size from annotations for layer  ${layer.digest}: ` +
      `strconv.ParseInt: parsing ${strconvQuote(text)}: ${reason}`,
  );
}

/** Finds the platform and image digest of subjects, from our store only. */
class SubjectInfo {
  #store: ArtifactStore;
  #blobs: Map<string, BlobSeen>;
  /** Named images, with the manifests listed by named indexes. */
  #tags?: { target: Descriptor; children: Descriptor[] }[];

  constructor(store: ArtifactStore, blobs: Map<string, BlobSeen>) {
    this.#store = store;
    this.#blobs = blobs;
  }

  async #loadTags(): Promise<{ target: Descriptor; children: Descriptor[] }[]> {
    if (this.#tags) return this.#tags;
    const out: { target: Descriptor; children: Descriptor[] }[] = [];
    let entries: Descriptor[] = [];
    try {
      entries = (await this.#store.images()).map((i) => i.target);
    } catch {
      entries = []; // unreadable names only cost us the image lookups
    }
    for (const target of entries) {
      let children: Descriptor[] = [];
      if (isIndexType(target.mediaType) && this.#blobs.has(target.digest)) {
        try {
          children = decodeIndex(await this.#store.readBlob(target.digest)).manifests;
        } catch {
          children = [];
        }
      }
      out.push({ target, children });
    }
    this.#tags = out;
    return out;
  }

  async lookup(subject: Descriptor): Promise<{ platform: string; imageDigest: string }> {
    const tags = await this.#loadTags();
    let imageDigest = subject.digest;
    let listed: Platform | undefined = subject.platform;
    let found = false;
    for (const { target, children } of tags) {
      if (target.digest === subject.digest) {
        if (!found) imageDigest = target.digest;
        found = true;
        listed ??= target.platform;
      }
      for (const c of children) {
        if (c.digest !== subject.digest) continue;
        if (!found) imageDigest = target.digest;
        found = true;
        listed ??= c.platform;
      }
    }
    const platform = listed ?? await this.#configPlatform(subject);
    // Normalized, as containerd's image platforms are upstream.
    return { platform: platform ? formatPlatform(normalizePlatform(platform)) : "", imageDigest };
  }

  async #configPlatform(subject: Descriptor): Promise<Platform | undefined> {
    if (!this.#blobs.has(subject.digest)) return undefined;
    try {
      const m = decodeManifest(await this.#store.readBlob(subject.digest));
      if (!this.#blobs.has(m.config.digest)) return undefined;
      const cfg = JSON.parse(new TextDecoder().decode(await this.#store.readBlob(m.config.digest)));
      if (typeof cfg?.os !== "string" || typeof cfg?.architecture !== "string") return undefined;
      const p: Platform = { os: cfg.os, architecture: cfg.architecture };
      if (typeof cfg.variant === "string" && cfg.variant) p.variant = cfg.variant;
      return p;
    } catch {
      return undefined;
    }
  }
}

function wrap(prefix: string, e: unknown): Error {
  const msg = errorMessage(e);
  if (e instanceof SociError) {
    const Cls = e.constructor as new (m: string, o?: ErrorOptions) => SociError;
    return new Cls(`${prefix}: ${msg}`, { cause: e });
  }
  return new SociError(`${prefix}: ${msg}`, { cause: e });
}
