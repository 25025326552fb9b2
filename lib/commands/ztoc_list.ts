/**
 * `soci ztoc list [--image-ref NAME] [--ztoc-digest D] [-q] [--json]`: the
 * zTOCs in the local store.
 *
 * @module
 */
import { BadInputError, UsageError } from "../errors.ts";
import { decodeManifest } from "../oci/json_decode.ts";
import { ZTOC_MEDIA_TYPE } from "../oci/media_types.ts";
import type { ArtifactRecord } from "../store/artifacts_db.ts";
import { formatTable } from "../ui/table.ts";
import type { Command } from "./command.ts";
import { jsonFlag, quietFlag } from "./flags.ts";
import { imageManifests } from "./image_refs.ts";
import { openLocalStore } from "./local_store.ts";

/** The `ztoc list` command. */
export const ztocListCommand: Command = {
  name: "list",
  aliases: ["ls"],
  usage: "list the zTOCs in the local store",
  flags: [
    { name: "ztoc-digest", type: "string", usage: "only this zTOC", placeholder: "digest" },
    {
      name: "image-ref",
      type: "string",
      usage: "only the zTOCs of this image",
      placeholder: "name",
    },
    { ...quietFlag, usage: "print only the zTOC digests" },
    jsonFlag,
  ],
  needsRoot: false,
  permissions: "--allow-read=<root>",
  async action(ctx) {
    if (ctx.args.length > 0) throw new UsageError(`unexpected argument ${ctx.args[0]}`);
    using local = openLocalStore(ctx, { readOnly: true });
    const only = ctx.string("ztoc-digest");
    const image = ctx.string("image-ref");
    let rows: ArtifactRecord[];
    if (image) {
      const { manifests } = await imageManifests(local.store, image);
      rows = [];
      for (const m of manifests) {
        for (const idx of local.db.indexesByManifest(m)) {
          if (!(await local.store.has(idx.digest))) continue;
          let doc;
          try {
            doc = decodeManifest(await local.store.readBlob(idx.digest));
          } catch (e) {
            throw new BadInputError(
              `failed to decode a soci index with digest ${idx.digest}: ${(e as Error).message}`,
            );
          }
          for (const blob of doc.layers) {
            if (blob.mediaType !== ZTOC_MEDIA_TYPE) continue;
            const rec = local.db.get(blob.digest);
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
      if (only) {
        rows = rows.filter((r) => r.digest === only);
        if (rows.length === 0) {
          throw new BadInputError(
            "the specified ztoc doesn't exist or is not associated with the specified image",
          );
        }
      }
    } else {
      rows = local.db.listZtocs().filter((r) => !only || r.digest === only);
    }
    if (ctx.bool("quiet")) {
      for (const r of rows) ctx.out.line(r.digest);
    } else if (ctx.bool("json")) {
      ctx.out.json(rows.map((r) => ({
        digest: r.digest,
        size: r.size,
        layerDigest: r.originalDigest,
        spanSize: r.spanSize,
        createdAt: r.createdAt.toISOString(),
      })));
    } else {
      const table = [["DIGEST", "SIZE", "LAYER DIGEST"]];
      for (const r of rows) table.push([r.digest, String(r.size), r.originalDigest]);
      await ctx.out.write(new TextEncoder().encode(formatTable(table)));
    }
  },
};
