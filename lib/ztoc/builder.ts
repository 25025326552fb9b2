/**
 * Turns what one pass over a layer learned ({@link LayerScan}) into a
 * zTOC, with upstream's rules (`soci-format.md` §3.3, §4.3, §4.5, §5).
 *
 * @module
 */
import { UnsupportedError } from "../errors.ts";
import { encodeTarZinfo } from "../gzip/tar_zinfo.ts";
import { encodeGzipZinfo, gzipZinfoSize, writeGzipZinfo } from "../gzip/zinfo.ts";
import { BUILD_TOOL_IDENTIFIER, ZTOC_VERSION } from "../oci/media_types.ts";
import type { TarEntry } from "../tar/entry.ts";
import { PackedEntries } from "../tar/entry_codec.ts";
import { formatModTime } from "../tar/mod_time.ts";
import { latin1 } from "../tar/pax.ts";
import { gnuSparseKind } from "../tar/sparse.ts";
import { encodeZtoc } from "./codec.ts";
import { ztocSizeBound } from "./ztoc_writer.ts";
import type { FileMetadata, Ztoc } from "./model.ts";
import type { LayerScan } from "./scan.ts";
import { tarMaxSpanId } from "./spans.ts";
import { entryXattrFree } from "./xattr_free.ts";

const TYPES: Record<string, string> = {
  "0": "reg",
  "1": "hardlink",
  "2": "symlink",
  "3": "char",
  "4": "block",
  "5": "dir",
  "6": "fifo",
};

const UTF8 = new TextDecoder();
const EMPTY = new Uint8Array(0);

/** The value of PAX record `key` of an entry (`""` when absent), as Latin-1 text. */
function paxValue(pax: Array<[Uint8Array, Uint8Array]>, key: string): string {
  let found = "";
  for (const [k, v] of pax) {
    if (k.length === key.length && latin1(k) === key) found = latin1(v);
  }
  return found;
}

/**
 * Refuses PAX GNU sparse files (formats 0.0, 0.1 and 1.0; old GNU `S`
 * entries are refused by type). Their data in the layer is the packed
 * fragments (after the map, for 1.0), not the file, so a TOC entry made
 * from them would serve wrong bytes, in `get-file` as in the snapshotter.
 */
function refuseSparse(e: TarEntry): void {
  if (e.pax.length === 0) return;
  const kind = gnuSparseKind((key) => paxValue(e.pax, key));
  if (kind === "") return;
  const major = paxValue(e.pax, "GNU.sparse.major");
  const version = major === "" ? "0.x" : `${major}.${paxValue(e.pax, "GNU.sparse.minor")}`;
  const name = JSON.stringify(UTF8.decode(e.name.subarray(0, 200)));
  throw new UnsupportedError(
    `unsupported input tar entry: ${name} is a sparse file (GNU PAX sparse format ${version}); ` +
      "a zTOC cannot describe sparse files (rebuild the layer without --sparse)",
  );
}

/** The TOC type of a tar entry, or the UnsupportedError of one a zTOC cannot describe. */
function tocType(e: TarEntry): string {
  const type = TYPES[e.typeflag];
  if (type === undefined) throw new UnsupportedError(`unsupported input tar entry '${e.typeflag}'`);
  if (type === "reg") refuseSparse(e);
  return type;
}

/**
 * The TOC entry of one tar entry. Entry types SOCI cannot index (global
 * PAX headers, old GNU sparse files, contiguous files, vendor types) are an
 * UnsupportedError with upstream's message; PAX GNU sparse files (which
 * upstream indexes with their packed data, unusable) are an
 * UnsupportedError too. `times` (a {@link ModTimes}) shares the `mod_time`
 * texts of many entries. With `into`, its fields are replaced and it is
 * returned, instead of a new entry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileMetadata } from "./builder.ts";
 * const bytes = (s: string) => new TextEncoder().encode(s);
 * const m = fileMetadata({
 *   name: bytes("etc/hosts"), typeflag: "0", headerOffset: 0, offset: 512, size: 10,
 *   linkname: bytes(""), mode: 0o644, uid: 0, gid: 0, uname: bytes("root"), gname: bytes("root"),
 *   mtimeSeconds: 0, mtimeNanos: 0, devmajor: 0, devminor: 0, pax: [],
 * });
 * assert.ok(m.type === "reg" && m.modTime === "1970-01-01T00:00:00Z");
 * ```
 */
export function fileMetadata(
  e: TarEntry,
  times?: { get(seconds: number, nanos: number): string },
  into?: FileMetadata,
): FileMetadata {
  const type = tocType(e);
  if (into !== undefined) {
    into.name = e.name;
    into.type = type;
    into.uncompressedOffset = e.offset;
    into.uncompressedSize = e.size;
    into.linkname = e.linkname;
    into.mode = e.mode;
    into.uid = e.uid >>> 0;
    into.gid = e.gid >>> 0;
    into.uname = e.uname;
    into.gname = e.gname;
    into.modTime = times
      ? times.get(e.mtimeSeconds, e.mtimeNanos)
      : formatModTime(e.mtimeSeconds, e.mtimeNanos);
    into.devmajor = e.devmajor;
    into.devminor = e.devminor;
    into.xattrs = e.pax;
    return into;
  }
  return {
    name: e.name,
    type,
    uncompressedOffset: e.offset,
    uncompressedSize: e.size,
    linkname: e.linkname,
    mode: e.mode,
    uid: e.uid >>> 0,
    gid: e.gid >>> 0,
    uname: e.uname,
    gname: e.gname,
    modTime: times
      ? times.get(e.mtimeSeconds, e.mtimeNanos)
      : formatModTime(e.mtimeSeconds, e.mtimeNanos),
    devmajor: e.devmajor,
    devminor: e.devminor,
    xattrs: e.pax,
  };
}

/**
 * A cache of `mod_time` texts: the entries of a layer share few distinct
 * times, so each text is made (and stored) once.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ModTimes } from "./builder.ts";
 * const times = new ModTimes();
 * assert.equal(times.get(1700000000, 0), "2023-11-14T22:13:20Z");
 * assert.ok(times.get(1700000000, 0) === times.get(1700000000, 0));
 * ```
 */
export class ModTimes {
  readonly #whole = new Map<number, string>();

  /** The text of `seconds` + `nanos` (see `formatModTime`). */
  get(seconds: number, nanos: number): string {
    if (nanos !== 0) return formatModTime(seconds, nanos);
    let text = this.#whole.get(seconds);
    if (text === undefined) {
      text = formatModTime(seconds, 0);
      if (this.#whole.size >= 65536) this.#whole.clear();
      this.#whole.set(seconds, text);
    }
    return text;
  }
}

/** Options of {@link buildZtoc}. */
export interface BuildZtocOptions {
  /** Build tool identifier; default `AWS SOCI CLI v0.2`. */
  buildToolIdentifier?: string;
}

/**
 * Builds the zTOC of a scanned layer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { scanLayer } from "./scan.ts";
 * import { buildZtoc } from "./builder.ts";
 * import { gzipSync } from "node:zlib";
 * const scan = await scanLayer([gzipSync(new Uint8Array(1024))], {
 *   compression: "gzip", spanSize: 1 << 22,
 * });
 * const z = buildZtoc(scan);
 * assert.ok(z.maxSpanId === 0 && z.compressionAlgorithm === "gzip");
 * ```
 */
export function buildZtoc(scan: LayerScan, options: BuildZtocOptions = {}): Ztoc {
  const times = new ModTimes();
  const toc = scan.entries.map((e) => fileMetadata(e, times));
  const checkpoints = scan.compression === "gzip"
    ? encodeGzipZinfo(scan.spanSize, scan.checkpoints)
    : encodeTarZinfo(scan.spanSize, scan.size);
  return ztocOf(scan, options, toc, checkpoints);
}

/** The zTOC of a scanned layer, given its TOC and zinfo blob. */
function ztocOf(
  scan: Omit<LayerScan, "entries">,
  options: BuildZtocOptions,
  toc: FileMetadata[],
  checkpoints: Uint8Array,
): Ztoc {
  const gzip = scan.compression === "gzip";
  return {
    version: ZTOC_VERSION,
    buildToolIdentifier: options.buildToolIdentifier ?? BUILD_TOOL_IDENTIFIER,
    compressedArchiveSize: scan.size,
    uncompressedArchiveSize: scan.uncompressedSize,
    toc,
    compressionAlgorithm: gzip ? "gzip" : "uncompressed",
    maxSpanId: gzip ? scan.checkpoints.length - 1 : tarMaxSpanId(scan.size, scan.spanSize),
    spanDigests: scan.spanDigests,
    checkpoints,
  };
}

/**
 * What {@link encodeScan}'s first pass learns of packed entries, learnt
 * instead as the entries come, in order (a scan worker checks each entry
 * as it reads it, while it is still an object): the error of the first
 * entry a zTOC cannot describe, and whether the `xattr` optimization may
 * mark the zTOC.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EntryCheck } from "./builder.ts";
 * const b = (s: string) => new TextEncoder().encode(s);
 * const entry = (typeflag: string) => ({
 *   name: b("a"), typeflag, headerOffset: 0, offset: 512, size: 0, linkname: b(""),
 *   mode: 0o644, uid: 0, gid: 0, uname: b(""), gname: b(""), mtimeSeconds: 0,
 *   mtimeNanos: 0, devmajor: 0, devminor: 0, pax: [] as [Uint8Array, Uint8Array][],
 * });
 * const check = new EntryCheck();
 * for (const t of ["0", "5", "g", "7"]) check.add(entry(t));
 * assert.equal(check.count, 4);
 * assert.match(check.error!.message, /unsupported input tar entry 'g'/);
 * assert.ok(check.xattrFree);
 * ```
 */
export class EntryCheck {
  /** Entries checked. */
  count = 0;
  /** The error of the first entry a zTOC cannot describe, if any. */
  error: Error | undefined;
  /** No entry so far keeps the zTOC from being marked `disable-xattrs` (`canDisableXattrs`). */
  xattrFree = true;
  /** Bytes of the entries' names, link names, owner names and PAX keys and values. */
  textBytes = 0;
  /** The entries' PAX records. */
  records = 0;

  /** Checks the next entry. */
  add(e: TarEntry): void {
    this.count++;
    const pax = e.pax;
    let text = e.name.length + e.linkname.length + e.uname.length + e.gname.length;
    for (let i = 0; i < pax.length; i++) text += pax[i][0].length + pax[i][1].length;
    this.textBytes += text;
    this.records += pax.length;
    if (this.error === undefined) {
      try {
        tocType(e);
      } catch (err) {
        this.error = err as Error;
      }
    }
    if (this.xattrFree && !entryXattrFree(e.name, e.pax)) this.xattrFree = false;
  }
}

/** A {@link LayerScan} whose entries are kept packed (what a scan worker holds). */
export type PackedScan = Omit<LayerScan, "entries"> & {
  /** Tar entries in stream order, packed. */
  entries: PackedEntries;
  /** The entries, all checked already (in order): {@link encodeScan} need not read them first. */
  checked?: EntryCheck;
};

/** Options of {@link encodeScan}. */
export interface EncodeScanOptions extends BuildZtocOptions {
  /** Also tell whether the `xattr` optimization may mark the zTOC (`canDisableXattrs`). */
  xattrs?: boolean;
}

/** A layer's zTOC, encoded, and what a report of it says. */
export interface EncodedZtoc {
  /** The zTOC's bytes (`encodeZtoc`). */
  bytes: Uint8Array;
  /** Entries of its TOC. */
  files: number;
  /** Its spans (`maxSpanId + 1`). */
  spans: number;
  /** Whether the `xattr` optimization may mark it; only when asked for. */
  xattrFree?: boolean;
}

/**
 * Builds the zTOC of a scanned layer and encodes it ({@link buildZtoc},
 * `encodeZtoc`): what a scan worker does with the layer it read, and
 * `ScanPool.build` where no worker runs. Fails as they fail: every entry
 * is checked first, in order ({@link EntryCheck}; the first a zTOC cannot
 * hold is the error, as with `buildZtoc`), unless `checked` did that
 * already. No TOC is made: for each run of the writer each entry is made
 * into one reused TOC entry (entries kept packed, {@link PackedEntries},
 * are read into one reused tar entry too), and the zinfo blob is written
 * straight into the zTOC's buffer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { scanLayer } from "./scan.ts";
 * import { buildZtoc, encodeScan } from "./builder.ts";
 * import { encodeZtoc } from "./codec.ts";
 * import { encodeEntries, PackedEntries } from "../tar/entry_codec.ts";
 * import { gzipSync } from "node:zlib";
 * const scan = await scanLayer([gzipSync(new Uint8Array(1024))], {
 *   compression: "gzip", spanSize: 1 << 22,
 * });
 * const z = encodeScan(scan, { xattrs: true });
 * assert.deepEqual(z.bytes, encodeZtoc(buildZtoc(scan)));
 * assert.ok(z.files === 0 && z.spans === 1 && z.xattrFree === true);
 * const packed = new PackedEntries([encodeEntries(scan.entries)]);
 * assert.deepEqual(encodeScan({ ...scan, entries: packed }, { xattrs: true }), z);
 * ```
 */
export function encodeScan(
  scan: LayerScan | PackedScan,
  options: EncodeScanOptions = {},
): EncodedZtoc {
  const entries = scan.entries;
  const times = new ModTimes();
  // One TOC entry (and for packed entries one tar entry), read into again and again.
  let meta: FileMetadata | undefined;
  let at: (i: number) => FileMetadata;
  let check = (scan as PackedScan).checked;
  if (entries instanceof PackedEntries) {
    let tar: TarEntry | undefined;
    at = (i) => {
      tar = entries.at(i, tar);
      return (meta = fileMetadata(tar, times, meta));
    };
    if (check === undefined || check.count !== entries.length) {
      check = new EntryCheck();
      for (let i = 0; i < entries.length; i++) check.add(tar = entries.at(i, tar));
    }
  } else {
    at = (i) => (meta = fileMetadata(entries[i], times, meta));
    check = new EntryCheck();
    for (let i = 0; i < entries.length; i++) check.add(entries[i]);
  }
  if (check.error !== undefined) throw check.error;
  return {
    ...encodeWith(scan, options, check, at),
    xattrFree: options.xattrs ? check.xattrFree : undefined,
  };
}

/**
 * Encodes the zTOC of `scan` with the TOC entries `at` gives (see
 * `TocSource`; `check` went over them all), its gzip zinfo blob written
 * straight into the zTOC's buffer, in one run (`ztocSizeBound`).
 */
function encodeWith(
  scan: Omit<LayerScan, "entries">,
  options: BuildZtocOptions,
  check: EntryCheck,
  at: (i: number) => FileMetadata,
): Omit<EncodedZtoc, "xattrFree"> {
  const count = check.count;
  const gzip = scan.compression === "gzip";
  const z = ztocOf(scan, options, [], gzip ? EMPTY : encodeTarZinfo(scan.spanSize, scan.size));
  const checkpoints = gzip
    ? {
      length: gzipZinfoSize(scan.checkpoints.length),
      write: (into: Uint8Array) => writeGzipZinfo(into, scan.spanSize, scan.checkpoints),
    }
    : undefined;
  const sizeBound = ztocSizeBound(
    z,
    count,
    check.textBytes,
    check.records,
    checkpoints?.length ?? z.checkpoints.length,
  );
  return {
    bytes: encodeZtoc(z, { length: count, at, checkpoints, sizeBound }),
    files: count,
    spans: z.maxSpanId + 1,
  };
}
