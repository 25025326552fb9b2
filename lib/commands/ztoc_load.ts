/**
 * Loading the zTOC a `ztoc` command names: a zTOC file, or a digest of a
 * zTOC in the local store.
 *
 * @module
 */
import { BadInputError, NotFoundError } from "../errors.ts";
import { parseDigest } from "../oci/digest.ts";
import type { ArtifactRecord } from "../store/artifacts_db.ts";
import { decodeZtoc } from "../ztoc/codec.ts";
import type { Ztoc } from "../ztoc/model.ts";
import type { CommandContext } from "./command.ts";
import {
  artifactRecord,
  isFile,
  type LocalStore,
  notFileNorDigest,
  openLocalStore,
} from "./local_store.ts";

/** A loaded zTOC and where it came from. */
export interface LoadedZtoc {
  ztoc: Ztoc;
  bytes: Uint8Array;
  /** The DB record, when the zTOC came from the store. */
  record?: ArtifactRecord;
}

/**
 * Loads `arg` as a zTOC file, else as the digest of a stored zTOC (index
 * digests are refused with upstream's message).
 */
export async function loadZtoc(
  ctx: CommandContext,
  arg: string,
  local?: LocalStore,
): Promise<LoadedZtoc> {
  if (await isFile(arg)) {
    const bytes = await Deno.readFile(arg);
    return { ztoc: decodeZtoc(bytes), bytes };
  }
  try {
    parseDigest(arg);
  } catch (e) {
    throw notFileNorDigest(arg, e);
  }
  const own = local === undefined;
  const l = local ?? openLocalStore(ctx, { readOnly: true });
  try {
    const record = artifactRecord(l.db, arg);
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
      bytes = await l.store.readBlob(arg);
    } catch (e) {
      if (e instanceof NotFoundError) {
        throw new NotFoundError(
          `ztoc ${arg} is recorded but its blob is missing (try "soci rebuild-db")`,
        );
      }
      throw e;
    }
    return { ztoc: decodeZtoc(bytes), bytes, record };
  } finally {
    if (own) l[Symbol.dispose]();
  }
}
