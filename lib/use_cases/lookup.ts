/**
 * Looking things up in a store, with upstream's errors: an artifact by
 * digest (`soci-cli.md` §8.2), a stored zTOC, the manifests of a named
 * image, the zTOCs of an image's indexes.
 *
 * @module
 */
import { BadInputError, NotFoundError } from "../errors.ts";
import { StoreSource } from "../image/store_source.ts";
import type { Descriptor, Platform } from "../oci/descriptor.ts";
import { parseDigest, sha256Digest } from "../oci/digest.ts";
import { decodeManifest } from "../oci/json_decode.ts";
import { ZTOC_MEDIA_TYPE } from "../oci/media_types.ts";
import { formatPlatform } from "../oci/platform.ts";
import type { ArtifactStore } from "../store/artifact_store.ts";
import type { ArtifactRecord, ArtifactsDb } from "../store/artifacts_db.ts";
import type { Ztoc } from "../ztoc/model.ts";
import { choosePlatforms, resolvePlatforms } from "./platforms.ts";

/**
 * The digest `arg` stands for: a whole digest as it is, or a unique prefix
 * of a recorded one (`sha256:3f2a`, or the hex digits alone, at least 4;
 * all 64 of them stand for the digest). A prefix that matches several is a
 * `BadInputError` listing them; one that matches none, or anything else,
 * goes on to upstream's digest errors.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveDigest } from "./lookup.ts";
 * import { ArtifactsDb } from "../store/artifacts_db.ts";
 * import { ztocRecord } from "../store/artifact_record.ts";
 * const db = ArtifactsDb.open(":memory:");
 * const d = "sha256:abcd" + "0".repeat(60);
 * db.put(ztocRecord(d, 1, "sha256:" + "1".repeat(64), 1));
 * assert.equal(resolveDigest(db, "abcd"), d);
 * assert.equal(resolveDigest(db, "sha256:abcd00"), d);
 * assert.equal(resolveDigest(db, d), d);
 * assert.equal(resolveDigest(db, d.slice(7)), d);
 * assert.equal(resolveDigest(db, "f".repeat(64)), "sha256:" + "f".repeat(64)); // not recorded
 * assert.throws(() => resolveDigest(db, "hello"), /invalid checksum digest format/);
 * db.close();
 * ```
 */
export function resolveDigest(db: ArtifactsDb, arg: string): string {
  const m = /^(?:(sha256):)?([0-9a-f]{4,64})$/.exec(arg);
  if (m) {
    if (m[2].length === 64) return `sha256:${m[2]}`;
    const found = db.digestsStartingWith(`sha256:${m[2]}`, 6);
    if (found.length === 1) return found[0];
    if (found.length > 1) {
      const more = found.length > 5 ? ", …" : "";
      throw new BadInputError(
        `digest prefix ${arg} is ambiguous: it matches ${found.slice(0, 5).join(", ")}${more}`,
      );
    }
    if (m[1] === undefined) {
      throw new NotFoundError(`no artifact digest starts with ${arg}`);
    }
  }
  parseDigest(arg);
  return arg;
}

/**
 * The DB record of an artifact given by digest or unique digest prefix
 * ({@link resolveDigest}): the digest is validated first (`invalid checksum
 * digest format` …), then looked up (`couldn't retrieve artifact for
 * <digest>, not found`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { artifactRecord } from "./lookup.ts";
 * import { ArtifactsDb } from "../store/artifacts_db.ts";
 * const db = ArtifactsDb.open(":memory:");
 * assert.throws(() => artifactRecord(db, "sha256:" + "0".repeat(64)), /not found/);
 * assert.throws(() => artifactRecord(db, "hello"), /invalid checksum digest format/);
 * db.close();
 * ```
 */
export function artifactRecord(db: ArtifactsDb, arg: string): ArtifactRecord {
  const digest = resolveDigest(db, arg);
  const rec = db.get(digest);
  if (rec === undefined) {
    throw new NotFoundError(`couldn't retrieve artifact for ${digest}, not found`);
  }
  return rec;
}

/** A zTOC read from a store. */
export interface StoredZtoc {
  /** The decoded zTOC. */
  ztoc: Ztoc;
  /** Its bytes. */
  bytes: Uint8Array;
  /** Its DB record. */
  record: ArtifactRecord;
}

/**
 * The zTOC of `digest` in `store`: recorded as a zTOC (an index or another
 * artifact is a `BadInputError` saying what it is), its blob present and
 * of that digest (`stored blob <digest> has digest <actual>` otherwise, as
 * `ls` and `cat` say).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadStoredZtoc } from "./lookup.ts";
 * import { LocalStore } from "../store/local_store.ts";
 * const store = LocalStore.open(await Deno.makeTempDir(), { readOnly: true });
 * await assert.rejects(loadStoredZtoc(store, "sha256:" + "0".repeat(64)), /not found/);
 * store.close();
 * ```
 */
export async function loadStoredZtoc(store: ArtifactStore, arg: string): Promise<StoredZtoc> {
  const record = artifactRecord(store.db, arg);
  const digest = record.digest;
  if (record.type === "soci_index") {
    throw new BadInputError(
      "the provided digest belongs to a SOCI index. Use `soci index info` to get the " +
        "detailed information about it",
    );
  }
  if (record.type !== "soci_layer") {
    throw new BadInputError(`the provided digest is not a ztoc (type: ${record.type})`);
  }
  let bytes: Uint8Array;
  try {
    bytes = await store.readBlob(digest);
  } catch (e) {
    if (e instanceof NotFoundError) {
      throw new NotFoundError(
        `ztoc ${digest} is recorded but its blob is missing (try "soci rebuild-db")`,
      );
    }
    throw e;
  }
  const got = digest.startsWith("sha256:") ? sha256Digest(bytes) : digest;
  if (got !== digest) throw new BadInputError(`stored blob ${digest} has digest ${got}`);
  // (loaded here: listing commands do not need the codec)
  const { decodeZtoc } = await import("../ztoc/codec.ts");
  return { ztoc: decodeZtoc(bytes), bytes, record };
}

/**
 * The image target and platform manifests of a named image (`--ref`,
 * `--image-ref`): for the given platforms (a platform the image lacks is a
 * `NotFoundError` `image manifest for platform <p>: not found`), or all of
 * its platforms whose manifest is in the store (`create` stores only the
 * manifests of the platforms it indexed).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { imageManifests } from "./lookup.ts";
 * import { LocalStore } from "../store/local_store.ts";
 * const store = LocalStore.open(await Deno.makeTempDir(), { readOnly: true });
 * await assert.rejects(imageManifests(store, "app"), /image app: not found/);
 * store.close();
 * ```
 */
export async function imageManifests(
  store: ArtifactStore,
  name: string,
  platforms?: Platform[],
): Promise<{ target: Descriptor; manifests: string[] }> {
  const source = new StoreSource(store, name);
  const target = await source.resolve();
  const wanted = await choosePlatforms(source, target, platforms ?? "all");
  const { found, missing } = await resolvePlatforms(source, target, wanted);
  if (platforms !== undefined && platforms.length > 0 && missing.length > 0) {
    throw new NotFoundError(
      `image manifest for platform ${formatPlatform(missing[0].platform)}: not found`,
    );
  }
  const manifests = [...new Set(found.map((f) => f.manifest.descriptor.digest))];
  return { target, manifests };
}

/**
 * The zTOC records of the indexes of a named image, in index and layer
 * order (a zTOC shared by several indexes is listed once per index), with
 * upstream's errors for an index that does not decode or a zTOC the DB
 * does not know.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { imageZtocs } from "./lookup.ts";
 * import { LocalStore } from "../store/local_store.ts";
 * const store = LocalStore.open(await Deno.makeTempDir(), { readOnly: true });
 * await assert.rejects(imageZtocs(store, "app"), /not found/);
 * store.close();
 * ```
 */
export async function imageZtocs(store: ArtifactStore, name: string): Promise<ArtifactRecord[]> {
  const { manifests } = await imageManifests(store, name);
  const rows: ArtifactRecord[] = [];
  for (const m of manifests) {
    for (const idx of store.db.indexesByManifest(m)) {
      if (!(await store.has(idx.digest))) continue;
      let doc;
      try {
        doc = decodeManifest(await store.readBlob(idx.digest));
      } catch (e) {
        throw new BadInputError(
          `failed to decode a soci index with digest ${idx.digest}: ${(e as Error).message}`,
        );
      }
      for (const blob of doc.layers) {
        if (blob.mediaType !== ZTOC_MEDIA_TYPE) continue;
        const rec = store.db.get(blob.digest);
        if (rec === undefined) {
          throw new BadInputError(
            `failed to get ztoc from artifacts store (try running "soci rebuild-db" first): ` +
              `${blob.digest} not found`,
          );
        }
        rows.push(rec);
      }
    }
  }
  return rows;
}
