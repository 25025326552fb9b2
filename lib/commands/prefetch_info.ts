/**
 * `soci prefetch info [--json] <digest>` (`soci-cli.md` §10.2): one
 * prefetch artifact of the local store, its span ranges and their total.
 *
 * @module
 */
import { BadInputError, UsageError } from "../errors.ts";
import type { Command } from "./command.ts";
import { jsonFlag } from "./flags.ts";

/** Go's `Format("2006-01-02 15:04:05")` of a time in the local zone. */
function goDateTime(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${p(d.getFullYear(), 4)}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** The `prefetch info` command. */
export const prefetchInfoCommand: Command = {
  name: "info",
  usage: "show a prefetch artifact of the local store",
  argsUsage: "<digest>",
  flags: [{ ...jsonFlag, usage: "also print the artifact's JSON, indented" }],
  needsRoot: false,
  permissions: ["--allow-read=<root> --allow-env=SOCI_ROOT,XDG_DATA_HOME,HOME"],
  async action(ctx) {
    const [{ marshalIndentGo }, { decodePrefetch }, { artifactRecord }, { openCheckedStore }] =
      await Promise.all([
        import("../go/json_indent.ts"),
        import("../soci/prefetch.ts"),
        import("../use_cases/lookup.ts"),
        import("./open_store.ts"),
      ]);
    if (ctx.args.length !== 1) throw new UsageError("please provide a prefetch artifact digest");
    using store = await openCheckedStore(ctx, { readOnly: true });
    const rec = artifactRecord(store.db, ctx.args[0]);
    if (rec.type !== "soci_prefetch") {
      throw new BadInputError(`the provided digest is not a prefetch artifact (type: ${rec.type})`);
    }
    const artifact = decodePrefetch(await store.readBlob(rec.digest));
    const lines = [
      `Digest:        ${rec.digest}`,
      `Version:       ${artifact.version}`,
      `Span Ranges:   ${artifact.spans.length}`,
      `Layer Digest:  ${rec.originalDigest}`,
      `Size:          ${rec.size} bytes`,
      `Created:       ${goDateTime(rec.createdAt)}`,
      "",
      "Prefetch Spans:",
    ];
    let total = 0;
    artifact.spans.forEach((s, i) => {
      const n = s.end - s.start + 1;
      total += n;
      lines.push(`  [${i}] StartSpan: ${s.start}, EndSpan: ${s.end} (covers ${n} spans)`);
      if (s.priority) lines.push(`      Priority: ${s.priority}`);
    });
    lines.push("", `Total spans to prefetch: ${total}`);
    ctx.out.printLines(lines);
    if (ctx.bool("json")) {
      ctx.out.line("");
      ctx.out.line("Raw JSON:");
      const doc = {
        version: artifact.version,
        prefetch_spans: artifact.spans.map((s) => ({
          start_span: s.start,
          end_span: s.end,
          ...(s.priority ? { priority: s.priority } : {}),
        })),
      };
      await ctx.out.write(new TextEncoder().encode(marshalIndentGo(doc)));
    }
  },
};
