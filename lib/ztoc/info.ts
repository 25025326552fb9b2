/**
 * The data of `soci ztoc info` (`soci-cli.md` §9.1) and its exact JSON text,
 * plus a few extra members that help judge a zTOC (byte split, span sizes).
 *
 * @module
 */
import { quoteJsonString } from "../go/json_quote.ts";
import { displayName } from "../go/quote.ts";
import { goString } from "../go/utf8.ts";
import { sortTocByOffset } from "./codec.ts";
import type { Ztoc } from "./model.ts";
import { type Zinfo, zinfoOf } from "./spans.ts";

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

/** A {@link ZtocFileInfo} whose `filename` text is made when asked for. */
class FileInfo implements ZtocFileInfo {
  constructor(
    readonly name: Uint8Array,
    readonly offset: number,
    readonly size: number,
    readonly type: string,
    readonly start_span: number,
    readonly end_span: number,
  ) {}
  get filename(): string {
    return goString(this.name);
  }
  toJSON(): Omit<ZtocFileInfo, "name"> {
    const { filename, offset, size, type, start_span, end_span } = this;
    return { filename, offset, size, type, start_span, end_span };
  }
}

/**
 * Smallest and largest span lengths, uncompressed and compressed. Tar
 * spans all have the span size but the last, so the answer comes without
 * visiting them (their number follows from fields of the zTOC and can be
 * huge); gzip spans are visited (one per 32 KiB checkpoint of the blob).
 */
function spanLengths(zi: Zinfo, z: Ztoc): [number, number, number, number] | null {
  const n = zi.numSpans;
  if (n <= 0) return null;
  const visit = zi.kind === "tar" ? (n > 2 ? [0, n - 1] : [...Array(n).keys()]) : null;
  let minU = Infinity;
  let maxU = -Infinity;
  let minC = Infinity;
  let maxC = -Infinity;
  const add = (i: number) => {
    const [us, ue] = zi.uncompressedRange(i, z.uncompressedArchiveSize);
    const [cs, ce] = zi.compressedRange(i, z.compressedArchiveSize);
    minU = Math.min(minU, ue - us);
    maxU = Math.max(maxU, ue - us);
    minC = Math.min(minC, ce - cs);
    maxC = Math.max(maxC, ce - cs);
  };
  if (visit) visit.forEach(add);
  else for (let i = 0; i < n; i++) add(i);
  return [minU, maxU, minC, maxC];
}

/**
 * Collects the `soci ztoc info` data of a zTOC whose blob is `size` bytes.
 * The zinfo must parse (errors of {@link zinfoOf}). Work is bounded by the
 * blob: O(files · log spans), whatever sizes the zTOC claims.
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
  const sorted = sortTocByOffset(z.toc);
  const files = new Array<ZtocFileInfo>(sorted.length);
  let multi = 0;
  for (let i = 0; i < sorted.length; i++) {
    const me = sorted[i];
    const start = zi.spanOf(me.uncompressedOffset);
    const end = zi.spanOf(me.uncompressedOffset + me.uncompressedSize);
    if (start !== end) multi++;
    files[i] = new FileInfo(
      me.name,
      me.uncompressedOffset,
      me.uncompressedSize,
      me.type,
      start,
      end,
    );
  }
  const lengths = spanLengths(zi, z);
  const [minU, maxU, minC, maxC] = lengths ?? [null, null, null, null];
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

/** Text pieces are gathered up to about this many UTF-16 units before being yielded. */
const CHUNK = 1 << 16;

/**
 * The JSON text of `soci ztoc info` ({@link formatZtocInfoJson}) in pieces
 * of about 64 KiB, so that a zTOC of a million files never needs its whole
 * text (hundreds of MiB) in memory: write each piece as it comes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatZtocInfoJson, ztocInfoJsonChunks, type ZtocInfo } from "./info.ts";
 * const info = {
 *   version: "0.9", build_tool: "t", size: 1, span_size: 2, num_spans: 1,
 *   num_files: 0, num_multi_span_files: 0, files: [],
 * } as unknown as ZtocInfo;
 * assert.equal([...ztocInfoJsonChunks(info)].join(""), formatZtocInfoJson(info));
 * ```
 */
export function* ztocInfoJsonChunks(
  info: ZtocInfo,
  options: { extras?: boolean } = {},
): Generator<string> {
  let out = "{\n" + HEAD_KEYS.map((k) => `  "${k}": ${jsonValue(info[k])}`).join(",\n");
  if (info.files.length === 0) {
    out += `,\n  "files": null`;
  } else {
    out += `,\n  "files": [\n`;
    let first = true;
    for (const f of info.files) {
      if (!first) out += ",\n";
      first = false;
      out += "    {\n";
      for (let j = 0; j < FILE_KEYS.length; j++) {
        const k = FILE_KEYS[j];
        const v = k === "filename" ? quoteJsonString(f.name) : jsonValue(f[k]);
        out += `      "${k}": ${v}` + (j < FILE_KEYS.length - 1 ? ",\n" : "\n");
      }
      out += "    }";
      if (out.length >= CHUNK) {
        yield out;
        out = "";
      }
    }
    out += "\n  ]";
  }
  if (options.extras !== false) {
    for (const k of EXTRA_KEYS) out += `,\n  "${k}": ${jsonValue(info[k])}`;
  }
  yield out + "\n}\n";
}

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
  return [...ztocInfoJsonChunks(info, options)].join("");
}

const TABLE_HEAD = ["FILENAME", "OFFSET", "SIZE", "TYPE", "START SPAN", "END SPAN"];

function runeCount(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // The high half of a surrogate pair starts a rune; the low half does not.
    if (c < 0xdc00 || c > 0xdfff) n++;
  }
  return n;
}

function fileCells(f: ZtocFileInfo): string[] {
  return [
    displayName(f.name),
    String(f.offset),
    String(f.size),
    f.type,
    String(f.start_span),
    String(f.end_span),
  ];
}

/**
 * The file table of `soci ztoc info` (FILENAME, OFFSET, SIZE, TYPE, START
 * SPAN, END SPAN), laid out exactly as `formatTable` lays it out (every
 * column `max(8, widest cell + 4)` wide, every cell padded), in pieces of
 * about 64 KiB. Names are shown with `displayName`: newlines, tabs, terminal
 * escapes and invalid UTF-8 are written escaped, never raw. Two passes over
 * the files (widths, then text): memory does not grow with the table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ztocInfoTableChunks, type ZtocInfo } from "./info.ts";
 * const file = (name: string, offset: number) => ({
 *   name: new TextEncoder().encode(name), filename: name, offset, size: 3, type: "reg",
 *   start_span: 0, end_span: 0,
 * });
 * const info = { files: [file("a\u001b[2J", 512)] } as unknown as ZtocInfo;
 * assert.equal(
 *   [...ztocInfoTableChunks(info)].join(""),
 *   "FILENAME      OFFSET    SIZE    TYPE    START SPAN    END SPAN    \n" +
 *     '"a\\x1b[2J"    512       3       reg     0             0           \n',
 * );
 * ```
 */
export function* ztocInfoTableChunks(info: ZtocInfo): Generator<string> {
  const widths = TABLE_HEAD.map((h) => runeCount(h));
  for (const f of info.files) {
    const cells = fileCells(f);
    for (let j = 0; j < cells.length; j++) {
      const w = runeCount(cells[j]);
      if (w > widths[j]) widths[j] = w;
    }
  }
  for (let j = 0; j < widths.length; j++) widths[j] = Math.max(8, widths[j] + 4);
  const line = (cells: string[]) => {
    let text = "";
    for (let j = 0; j < cells.length; j++) {
      text += cells[j] + " ".repeat(widths[j] - runeCount(cells[j]));
    }
    return text + "\n";
  };
  let out = line(TABLE_HEAD);
  for (const f of info.files) {
    out += line(fileCells(f));
    if (out.length >= CHUNK) {
      yield out;
      out = "";
    }
  }
  yield out;
}
