/**
 * `soci prefetch list [--json]` (`soci-cli.md` §10.1): every prefetch
 * artifact the artifacts DB records, in digest order, with the number of
 * spans it covers (`N/A` when its blob cannot be read or parsed).
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { ArtifactStore } from "../store/artifact_store.ts";
import { createdText } from "../ui/created.ts";
import { formatTable } from "../ui/table.ts";
import type { Command } from "./command.ts";
import { jsonFlag } from "./flags.ts";

/** Spans a stored prefetch artifact covers, or -1 when it cannot be read or parsed. */
async function spansOf(store: ArtifactStore, digest: string): Promise<number> {
  const { countSpans, decodePrefetch } = await import("../soci/prefetch.ts");
  try {
    return countSpans(decodePrefetch(await store.readBlob(digest)).spans);
  } catch {
    return -1;
  }
}

/** The `prefetch list` command. */
export const prefetchListCommand: Command = {
  name: "list",
  aliases: ["ls"],
  usage: "list the prefetch artifacts in the local store",
  flags: [{ ...jsonFlag, usage: "print upstream's JSON" }],
  needsRoot: false,
  permissions: ["--allow-read=<root> --allow-env=SOCI_ROOT,XDG_DATA_HOME,HOME"],
  async action(ctx) {
    const [{ marshalIndentGo }, { openCheckedStore }] = await Promise.all([
      import("../go/json_indent.ts"),
      import("./open_store.ts"),
    ]);
    if (ctx.args.length > 0) throw new UsageError(`unexpected argument ${ctx.args[0]}`);
    using store = await openCheckedStore(ctx, { readOnly: true });
    const rows = store.db.all().filter((r) => r.type === "soci_prefetch");
    const spans: number[] = [];
    for (const r of rows) spans.push(await spansOf(store, r.digest));
    if (ctx.bool("json")) {
      const list = rows.map((r, i) => ({
        Digest: r.digest,
        LayerDigest: r.originalDigest,
        TotalSpans: spans[i],
        CreatedAt: r.createdAt,
      }));
      await ctx.out.write(new TextEncoder().encode(marshalIndentGo(list.length ? list : null)));
      return;
    }
    const now = new Date();
    const table = [["DIGEST", "LAYER DIGEST", "SPANS", "CREATED"]];
    rows.forEach((r, i) => {
      table.push([
        r.digest,
        r.originalDigest,
        spans[i] < 0 ? "N/A" : String(spans[i]),
        createdText(r.createdAt, now),
      ]);
    });
    await ctx.out.write(new TextEncoder().encode(formatTable(table)));
  },
};
