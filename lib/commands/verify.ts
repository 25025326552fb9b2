/**
 * `soci verify [flags] <image>`: checks the image's SOCI index and every
 * zTOC in it against the image's layers (one streaming pass per layer);
 * exit 0 only when everything holds.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { LayerReport } from "../use_cases/verify.ts";
import { shortDigest } from "../ui/progress.ts";
import type { Command, CommandContext } from "./command.ts";
import { jsonFlag } from "./flags.ts";
import { printStats, readFlags, readOptions, readPermissions } from "./read_flags.ts";

const VIA: Record<string, string> = {
  explicit: "given with --index",
  annotation: "named by the manifest's com.amazon.soci.index-digest annotation",
  store: "from the local store",
  referrers: "listed by the registry's referrers API",
  tag: "listed by the sha256-<digest> fallback tag",
};

function layerLine(r: LayerReport, count: number): string {
  const head = `layer ${r.index + 1}/${count} ${shortDigest(r.layer.digest)}`;
  if (r.status === "no-ztoc") return `${head}: no zTOC (the snapshotter pulls it in full)`;
  const z = `zTOC ${shortDigest(r.ztoc!.digest)}`;
  const what = `${r.spans} spans, ${r.checkpoints} checkpoints, ${r.entries} entries`;
  return r.status === "ok" ? `${head} ${z}: ok (${what})` : `${head} ${z}: FAILED`;
}

/** The `verify` command. */
export const verifyCommand: Command = {
  name: "verify",
  usage: "check an image's SOCI index and zTOCs against its layers",
  argsUsage: "<image>",
  description: "Checks the index document (Go's exact JSON, config, subject, one annotated zTOC " +
    "per layer in layer order) and, reading each indexed layer once: the zTOC loads by the " +
    "snapshotter's rules, every span digest matches, every checkpoint's window is the layer's " +
    "bytes and resuming there reproduces them, and the TOC equals the layer's tar entries. " +
    "Prints a report per layer; exits 1 when anything is wrong. Nothing is written anywhere.",
  flags: [...readFlags, { ...jsonFlag, usage: "print the report as JSON" }],
  needsRoot: false,
  permissions: readPermissions(true),
  async action(ctx: CommandContext) {
    const [{ verifyImage }, { openStore }] = await Promise.all([
      import("../use_cases/verify.ts"),
      import("./open_store.ts"),
    ]);
    if (ctx.args.length !== 1) throw new UsageError("please provide an image");
    using store = openStore(ctx, { readOnly: true });
    const options = await readOptions(ctx, store);
    const json = ctx.bool("json");
    let count = 0;
    const report = await verifyImage(ctx.args[0], {
      ...options,
      signal: ctx.signal,
      onLayer: (r) => {
        if (json) return;
        ctx.out.line(layerLine(r, count));
        for (const p of r.problems) ctx.out.line(`  ${p}`);
      },
      onIndex: (found, problems, layers) => {
        count = layers;
        if (json) return;
        ctx.out.line(
          `index ${found.digest} (${found.version}, ${VIA[found.via]}): ` +
            (problems.length === 0 ? "ok" : "FAILED"),
        );
        for (const p of problems) ctx.out.line(`  ${p}`);
      },
    });
    if (json) ctx.out.json(report);
    if (options.stats) printStats(ctx, options.stats, report.layers.length);
    if (!report.ok) {
      const bad = report.layers.filter((l) => l.status === "failed").length;
      const parts = [];
      if (report.indexProblems.length > 0) parts.push("the index document is wrong");
      if (bad > 0) parts.push(`${bad} of ${report.layers.length} layers failed`);
      ctx.out.warn(`soci: verify failed: ${parts.join(", ")}`);
      return 1;
    }
  },
};
