/**
 * The data of `soci ztoc info` (`soci-cli.md` §9.1) and its exact JSON text,
 * plus a few extra members that help judge a zTOC (byte split, span sizes).
 *
 * @module
 */
import { quoteJsonString } from "../go/json_quote.ts";
import { goString } from "../go/utf8.ts";
import { sortTocByOffset } from "./codec.ts";
import type { Ztoc } from "./model.ts";
import { zinfoOf } from "./spans.ts";

/** One file of {@link ZtocInfo}. */
export interface ZtocFileInfo {
  /** Entry name as Go prints a string of raw bytes (invalid UTF-8 → U+FFFD per byte). */
  filename: string;
  /** Data offset in the uncompressed tar stream. */
  offset: number;
  /** Size field of the entry. */
  size: number;
  /** `reg`, `dir`, `symlink`, … */
  type: string;
  /** Span of the first data byte (F§5.4). */
  start_span: number;
  /** Span of the exclusive data end (F§5.4). */
  end_span: number;
  /** The raw name bytes (used for exact JSON output; not printed). */
  name: Uint8Array;
}

/**
 * What `soci ztoc info` reports. The members up to `files` are upstream's,
 * in upstream's order; the others are ours.
 */
export interface ZtocInfo {
  /** zTOC version (`0.9`). */
  version: string;
  /** Build tool identifier. */
  build_tool: string;
  /** zTOC blob size (upstream takes it from the artifacts DB). */
  size: number;
  /** Span size recorded in the zinfo. */
  span_size: number;
  /** `max_span_id + 1` from the zTOC. */
  num_spans: number;
  /** Number of TOC entries. */
  num_files: number;
  /** Files whose start span differs from their end span. */
  num_multi_span_files: number;
  /** Files in offset order; printed as `null` when empty. */
  files: ZtocFileInfo[];
  // ---- extras (not in upstream's output) ----
  /** `gzip` or `uncompressed`. */
  compression_algorithm: string;
  /** Size of the indexed layer blob. */
  compressed_archive_size: number;
  /** Size of the tar stream. */
  uncompressed_archive_size: number;
  /** Bytes of the blob that are not the zinfo (`size − zinfo_bytes`): TOC and framing. */
  toc_bytes: number;
  /** Bytes of the zinfo (the `checkpoints` vector). */
  zinfo_bytes: number;
  /** Smallest uncompressed span length, last span included (null without spans). */
  min_span_size: number | null;
  /** Largest uncompressed span length, last span included (null without spans). */
  max_span_size: number | null;
  /** Smallest compressed span length, last span included (null without spans). */
  min_compressed_span_size: number | null;
  /** Largest compressed span length, last span included (null without spans). */
  max_compressed_span_size: number | null;
}

/**
 * Collects the `soci ztoc info` data of a zTOC whose blob is `size` bytes.
 * The zinfo must parse (errors of {@link zinfoOf}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ztocInfo } from "./info.ts";
 * import { encodeTarZinfo } from "../gzip/tar_zinfo.ts";
 * const info = ztocInfo({
 *   version: "0.9", buildToolIdentifier: "t", compressedArchiveSize: 3000,
 *   uncompressedArchiveSize: 2560, toc: [], compressionAlgorithm: "uncompressed",
 *   maxSpanId: 2, spanDigests: [], checkpoints: encodeTarZinfo(1024, 3000),
 * }, 400);
 * assert.ok(info.num_spans === 3 && info.zinfo_bytes === 48 && info.toc_bytes === 352);
 * assert.ok(info.min_span_size === 512 && info.max_compressed_span_size === 1024);
 * ```
 */
export function ztocInfo(z: Ztoc, size: number): ZtocInfo {
  const zi = zinfoOf(z);
  const files: ZtocFileInfo[] = [];
  let multi = 0;
  for (const me of sortTocByOffset(z.toc)) {
    const start = zi.spanOf(me.uncompressedOffset);
    const end = zi.spanOf(me.uncompressedOffset + me.uncompressedSize);
    if (start !== end) multi++;
    files.push({
      filename: goString(me.name),
      offset: me.uncompressedOffset,
      size: me.uncompressedSize,
      type: me.type,
      start_span: start,
      end_span: end,
      name: me.name,
    });
  }
  let minU: number | null = null;
  let maxU: number | null = null;
  let minC: number | null = null;
  let maxC: number | null = null;
  for (let i = 0; i < zi.numSpans; i++) {
    const [us, ue] = zi.uncompressedRange(i, z.uncompressedArchiveSize);
    const [cs, ce] = zi.compressedRange(i, z.compressedArchiveSize);
    const u = ue - us;
    const c = ce - cs;
    if (minU === null || u < minU) minU = u;
    if (maxU === null || u > maxU) maxU = u;
    if (minC === null || c < minC) minC = c;
    if (maxC === null || c > maxC) maxC = c;
  }
  return {
    version: z.version,
    build_tool: z.buildToolIdentifier,
    size,
    span_size: zi.spanSize,
    num_spans: z.maxSpanId + 1,
    num_files: z.toc.length,
    num_multi_span_files: multi,
    files,
    compression_algorithm: z.compressionAlgorithm,
    compressed_archive_size: z.compressedArchiveSize,
    uncompressed_archive_size: z.uncompressedArchiveSize,
    toc_bytes: size - z.checkpoints.length,
    zinfo_bytes: z.checkpoints.length,
    min_span_size: minU,
    max_span_size: maxU,
    min_compressed_span_size: minC,
    max_compressed_span_size: maxC,
  };
}

function jsonValue(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "number") return String(v);
  return quoteJsonString(String(v));
}

const FILE_KEYS = ["filename", "offset", "size", "type", "start_span", "end_span"] as const;
const HEAD_KEYS = [
  "version",
  "build_tool",
  "size",
  "span_size",
  "num_spans",
  "num_files",
  "num_multi_span_files",
] as const;
const EXTRA_KEYS = [
  "compression_algorithm",
  "compressed_archive_size",
  "uncompressed_archive_size",
  "toc_bytes",
  "zinfo_bytes",
  "min_span_size",
  "max_span_size",
  "min_compressed_span_size",
  "max_compressed_span_size",
] as const;

/**
 * The JSON text of `soci ztoc info`: upstream's members in upstream's
 * format (Go `json.MarshalIndent` with two spaces, HTML escaping, `files`
 * `null` when empty, trailing newline), followed by the extra members of
 * {@link ZtocInfo} (`compression_algorithm`, `compressed_archive_size`,
 * `uncompressed_archive_size`, `toc_bytes`, `zinfo_bytes`, `min_span_size`,
 * `max_span_size`, `min_compressed_span_size`, `max_compressed_span_size`).
 * Pass `{ extras: false }` for upstream's exact output.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatZtocInfoJson, type ZtocInfo } from "./info.ts";
 * const info = {
 *   version: "0.9", build_tool: "t", size: 1, span_size: 2, num_spans: 1,
 *   num_files: 0, num_multi_span_files: 0, files: [],
 * } as unknown as ZtocInfo;
 * assert.ok(formatZtocInfoJson(info, { extras: false }).endsWith('"files": null\n}\n'));
 * ```
 */
export function formatZtocInfoJson(info: ZtocInfo, options: { extras?: boolean } = {}): string {
  const lines: string[] = [];
  for (const k of HEAD_KEYS) lines.push(`  "${k}": ${jsonValue(info[k])}`);
  if (info.files.length === 0) {
    lines.push(`  "files": null`);
  } else {
    const parts: string[] = [];
    for (const f of info.files) {
      const members = FILE_KEYS.map((k) => {
        const v = k === "filename" ? quoteJsonString(f.name) : jsonValue(f[k]);
        return `      "${k}": ${v}`;
      });
      parts.push("    {\n" + members.join(",\n") + "\n    }");
    }
    lines.push(`  "files": [\n` + parts.join(",\n") + "\n  ]");
  }
  if (options.extras !== false) {
    for (const k of EXTRA_KEYS) lines.push(`  "${k}": ${jsonValue(info[k])}`);
  }
  return "{\n" + lines.join(",\n") + "\n}\n";
}
