/**
 * The zTOC argument of `ztoc info` / `ztoc get-file`: a zTOC file, or the
 * digest of a zTOC in the store.
 *
 * @module
 */
import { BadInputError, SociError } from "../errors.ts";
import { parseDigest } from "../oci/digest.ts";
import type { ArtifactRecord } from "../store/artifacts_db.ts";
import type { ArtifactStore } from "../store/artifact_store.ts";
import { loadStoredZtoc } from "../use_cases/lookup.ts";
import { decodeZtoc } from "../ztoc/codec.ts";
import { MAX_ZTOC_BYTES } from "../ztoc/limits.ts";
import type { Ztoc } from "../ztoc/model.ts";
import type { CommandContext } from "./command.ts";
import { isFile, notFileNorDigest, openStore } from "./open_store.ts";

/** A zTOC as given on the command line. */
export interface LoadedZtoc {
  /** The decoded zTOC. */
  ztoc: Ztoc;
  /** Its bytes. */
  bytes: Uint8Array;
  /** The DB record, when the zTOC came from the store. */
  record?: ArtifactRecord;
}

/** A digest, a digest prefix, or the hex digits of either. */
const DIGEST_LIKE = /^(sha256:)?[0-9a-f]{4,64}$/;

/**
 * Loads `arg`: an existing file is read and decoded; otherwise `arg` must
 * be a digest or a unique digest prefix (else `<arg>: no such file, and
 * not a digest`, or `<arg>: is a directory, and not a digest`) looked up in
 * `store` (or the command's store, opened read-only for the lookup; see
 * `loadStoredZtoc`).
 */
export async function loadZtoc(
  ctx: CommandContext,
  arg: string,
  store?: ArtifactStore,
): Promise<LoadedZtoc> {
  if (await isFile(arg)) {
    const size = (await Deno.stat(arg)).size;
    if (size > MAX_ZTOC_BYTES) {
      throw new BadInputError(
        `${arg} is not a zTOC we read: ${size} bytes is more than the ${MAX_ZTOC_BYTES}-byte limit`,
      );
    }
    const bytes = await Deno.readFile(arg);
    try {
      return { ztoc: decodeZtoc(bytes), bytes };
    } catch (e) {
      if (!(e instanceof SociError)) throw e;
      throw new BadInputError(`${arg} is not a zTOC (${e.message})`, { cause: e });
    }
  }
  if (!DIGEST_LIKE.test(arg)) {
    try {
      parseDigest(arg);
    } catch (e) {
      if (await isDirectory(arg)) {
        throw new BadInputError(
          `${arg}: is a directory, and not a digest (${e instanceof Error ? e.message : e})`,
        );
      }
      throw notFileNorDigest(arg, e);
    }
  }
  if (store) return await loadStoredZtoc(store, arg);
  using own = openStore(ctx, { readOnly: true });
  return await loadStoredZtoc(own, arg);
}

/** True when `path` is a directory we may look at. */
async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}
