/**
 * `soci ztoc info [--json] <ztoc-file | digest>`: what a zTOC holds.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import { formatBytes } from "../ui/bytes.ts";
import type { Command } from "./command.ts";
import { jsonFlag } from "./flags.ts";

function range(min: number | null, max: number | null): string {
  return min === null || max === null ? "-" : `${formatBytes(min)} .. ${formatBytes(max)}`;
}

/** The `ztoc info` command. */
export const ztocInfoCommand: Command = {
  name: "info",
  usage: "show what a zTOC holds: sizes, spans and files",
  argsUsage: "<ztoc-file | digest>",
  description: "Takes a zTOC file or the digest of a zTOC in the store. Prints upstream's JSON " +
    "(version, build_tool, size, span_size, num_spans, num_files, num_multi_span_files, " +
    "files: filename, offset, size, type, start_span, end_span), byte for byte as upstream " +
    "does; --table prints a summary and a table of the files instead, with more figures " +
    "(compression, layer sizes, TOC and zinfo bytes, span sizes).",
  flags: [
    { name: "table", type: "bool", usage: "a summary and a table instead of upstream's JSON" },
    { ...jsonFlag, usage: "upstream's JSON (the default)" },
  ],
  needsRoot: false,
  permissions: [
    "file: --allow-read=<ztoc>",
    "digest: --allow-read=<root> --allow-env=SOCI_ROOT,XDG_DATA_HOME,HOME",
  ],
  async action(ctx) {
    const [{ ztocInfo, ztocInfoJsonChunks, ztocInfoTableChunks }, { loadZtoc }] = await Promise.all(
      [
        import("../ztoc/info.ts"),
        import("./ztoc_load.ts"),
      ],
    );
    if (ctx.args.length !== 1) throw new UsageError("please provide one zTOC file or digest");
    const { ztoc, bytes } = await loadZtoc(ctx, ctx.args[0]);
    const info = ztocInfo(ztoc, bytes.length);
    const enc = new TextEncoder();
    // Written piece by piece: a zTOC of a million files never needs its whole text in memory.
    if (ctx.bool("json") || !ctx.bool("table")) {
      for (const piece of ztocInfoJsonChunks(info, { extras: false })) {
        await ctx.out.write(enc.encode(piece));
      }
      return;
    }
    const lines = [
      `Version:            ${info.version}`,
      `Build tool:         ${info.build_tool}`,
      `Size:               ${info.size} bytes (TOC ${info.toc_bytes}, zinfo ${info.zinfo_bytes})`,
      `Compression:        ${info.compression_algorithm}`,
      `Layer size:         ${info.compressed_archive_size} bytes ` +
      `(${info.uncompressed_archive_size} uncompressed)`,
      `Span size:          ${info.span_size}`,
      `Spans:              ${info.num_spans}`,
      `Span sizes:         ${range(info.min_span_size, info.max_span_size)} uncompressed, ` +
      `${range(info.min_compressed_span_size, info.max_compressed_span_size)} compressed`,
      `Files:              ${info.num_files} (${info.num_multi_span_files} cross span boundaries)`,
      "",
    ];
    ctx.out.printLines(lines);
    for (const piece of ztocInfoTableChunks(info)) await ctx.out.write(enc.encode(piece));
  },
};
