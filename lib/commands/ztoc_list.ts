/**
 * `soci ztoc list [--image-ref NAME] [--ztoc-digest D] [-q] [--json]`: the
 * zTOCs in the local store.
 *
 * @module
 */
import { BadInputError, UsageError } from "../errors.ts";
import type { ArtifactRecord } from "../store/artifacts_db.ts";
import { formatTable } from "../ui/table.ts";
import type { Command } from "./command.ts";
import { jsonFlag, quietFlag } from "./flags.ts";

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
  permissions: [
    "--allow-read=<root> --allow-env=SOCI_ROOT,XDG_DATA_HOME,HOME",
  ],
  async action(ctx) {
    const [{ imageZtocs }, { openCheckedStore }] = await Promise.all([
      import("../use_cases/lookup.ts"),
      import("./open_store.ts"),
    ]);
    if (ctx.args.length > 0) throw new UsageError(`unexpected argument ${ctx.args[0]}`);
    using store = await openCheckedStore(ctx, { readOnly: true });
    const only = ctx.string("ztoc-digest");
    const image = ctx.string("image-ref");
    let rows: ArtifactRecord[];
    if (image) {
      rows = await imageZtocs(store, image);
      if (only) {
        rows = rows.filter((r) => r.digest === only);
        if (rows.length === 0) {
          throw new BadInputError(
            "the specified ztoc doesn't exist or is not associated with the specified image",
          );
        }
      }
    } else {
      rows = store.db.listZtocs().filter((r) => !only || r.digest === only);
    }
    if (ctx.bool("quiet")) {
      ctx.out.printLines(rows.map((r) => r.digest));
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
