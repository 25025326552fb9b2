/**
 * `soci index rm [--ref NAME] [<digest>…]`: removes SOCI indexes from the
 * local store: their DB rows and `index.json` entries go in one
 * transaction. Their zTOCs keep their DB rows (and so their blobs), so a
 * later `create` of an image with the same layers reuses them; neither
 * this command nor `rebuild-db` ever drops zTOC rows. Then the store is
 * garbage-collected: blobs that no `index.json` entry and no DB row
 * reaches (the index blobs, and their image manifests and configs when
 * nothing else refers to them) are deleted. That clean-up is best effort:
 * when it fails, the indexes are removed all the same, a warning is
 * printed on stderr and the command succeeds.
 *
 * @module
 */
import { BadInputError, NotFoundError } from "../errors.ts";
import { parseDigest } from "../oci/digest.ts";
import type { Command } from "./command.ts";
import { imageManifests } from "./image_refs.ts";
import { openLocalStore } from "./local_store.ts";

/** The `index rm` command. */
export const indexRmCommand: Command = {
  name: "remove",
  aliases: ["rm"],
  usage: "remove SOCI indexes from the local store",
  argsUsage: "[<digest>...]",
  flags: [{ name: "ref", type: "string", usage: "remove every index of this image" }],
  permissions: "--allow-read=<root> --allow-write=<root>",
  async action(ctx) {
    const ref = ctx.string("ref");
    if (ref && ctx.args.length > 0) {
      throw new BadInputError("please provide either index digests or image ref, but not both");
    }
    if (!ref && ctx.args.length === 0) return;
    using local = openLocalStore(ctx);
    let digests: string[];
    if (ref) {
      const { target } = await imageManifests(local.store, ref, []);
      digests = local.db.indexesByImage(target).map((r) => r.digest);
    } else {
      digests = ctx.args;
      for (const d of digests) {
        parseDigest(d);
        const rec = local.db.get(d);
        if (rec === undefined) {
          throw new NotFoundError(`the index of the digest ${d} doesn't exist`);
        }
        if (rec.type !== "soci_index") {
          throw new BadInputError(`the digest ${d} does not correspond to an index`);
        }
      }
    }
    if (digests.length === 0) return;
    const tx = local.store.begin({ db: local.db });
    try {
      for (const d of digests) {
        tx.deleteRecord(d);
        tx.removeIndexEntry(d);
      }
      await tx.commit();
    } catch (e) {
      await tx.abort();
      throw e;
    }
    try {
      await local.store.gc(local.db);
    } catch (e) {
      const cause = e instanceof Error ? e.message : String(e);
      ctx.out.warn(
        `warning: indexes removed, but removing unreferenced blobs failed: ${cause}`,
      );
    }
  },
};
