/**
 * `soci index list [--ref NAME] [--platform P] [-q] [--json]`: the SOCI
 * indexes in the local store, newest first.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import { formatPlatform, parsePlatform } from "../oci/platform.ts";
import { SOCI_INDEX_V1, SOCI_INDEX_V2 } from "../oci/media_types.ts";
import type { ArtifactRecord } from "../store/artifacts_db.ts";
import { createdText } from "../ui/created.ts";
import { formatTable } from "../ui/table.ts";
import type { Command } from "./command.ts";
import { jsonFlag, platformFlag, quietFlag } from "./flags.ts";
import { namesByDigest } from "../use_cases/image_names.ts";

function version(artifactType: string): string {
  return artifactType === SOCI_INDEX_V1 ? "v1" : artifactType === SOCI_INDEX_V2 ? "v2" : "";
}

/** The `index list` command. */
export const indexListCommand: Command = {
  name: "list",
  aliases: ["ls"],
  usage: "list the SOCI indexes in the local store",
  flags: [
    { name: "ref", type: "string", usage: "only the indexes of this image", placeholder: "name" },
    { ...platformFlag, usage: "only indexes for this platform (repeatable)" },
    { ...quietFlag, usage: "print only the index digests" },
    jsonFlag,
  ],
  needsRoot: false,
  permissions: [
    "--allow-read=<root> --allow-env=SOCI_ROOT,XDG_DATA_HOME,HOME",
  ],
  async action(ctx) {
    const [{ imageManifests }, { openCheckedStore }] = await Promise.all([
      import("../use_cases/lookup.ts"),
      import("./open_store.ts"),
    ]);
    if (ctx.args.length > 0) throw new UsageError(`unexpected argument ${ctx.args[0]}`);
    using store = await openCheckedStore(ctx, { readOnly: true });
    const ref = ctx.string("ref");
    const platforms = ctx.strings("platform").map(parsePlatform);
    let rows: ArtifactRecord[];
    if (ref) {
      const { manifests } = await imageManifests(
        store,
        ref,
        platforms.length > 0 ? platforms : undefined,
      );
      const wanted = new Set(manifests);
      rows = store.db.listIndexes().filter((r) => wanted.has(r.originalDigest));
    } else if (platforms.length > 0) {
      const wanted = new Set(platforms.map(formatPlatform));
      rows = store.db.listIndexes().filter((r) => wanted.has(r.platform));
    } else {
      rows = store.db.listIndexes();
    }
    if (ctx.bool("quiet")) {
      ctx.out.printLines(rows.map((r) => r.digest));
      return;
    }
    const names = await namesByDigest(store);
    if (ctx.bool("json")) {
      ctx.out.json(rows.map((r) => ({
        digest: r.digest,
        size: r.size,
        manifestDigest: r.originalDigest,
        imageDigest: r.imageDigest,
        imageRefs: names.get(r.imageDigest) ?? [],
        platform: r.platform,
        mediaType: r.mediaType,
        artifactType: r.artifactType,
        version: version(r.artifactType),
        createdAt: r.createdAt.toISOString(),
      })));
      return;
    }
    const table = [[
      "DIGEST",
      "SIZE",
      "IMAGE REF",
      "PLATFORM",
      "MEDIA TYPE",
      "MANIFEST VERSION",
      "CREATED",
    ]];
    const now = new Date();
    for (const r of rows) {
      for (const name of names.get(r.imageDigest) ?? [""]) {
        table.push([
          r.digest,
          String(r.size),
          name,
          r.platform,
          r.mediaType,
          version(r.artifactType),
          createdText(r.createdAt, now),
        ]);
      }
    }
    await ctx.out.write(new TextEncoder().encode(formatTable(table)));
  },
};
