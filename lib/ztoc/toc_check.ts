/**
 * Comparing a zTOC's TOC with the layer's real tar entries, one entry at a
 * time as the tar reader reports them (`verify`, `soci-format.md` §3.3,
 * §4): entry k of the TOC (in offset order) must be what the builder makes
 * of the k-th tar entry, field by field. Nothing is kept of an entry once
 * compared but the first few problems, so a layer of a million entries
 * costs no memory, and the comparison can run where the tar is read (the
 * verify worker) while the layer streams.
 *
 * @module
 */
import type { TarEntry } from "../tar/entry.ts";
import { fileMetadata, ModTimes } from "./builder.ts";
import type { FileMetadata } from "./model.ts";

/** Problems listed before "… and N more TOC problems", by default. */
const DEFAULT_LISTED = 5;

const utf8 = new TextDecoder();

/**
 * The TOC to compare with: entry k in `uncompressedOffset` order, as
 * `decodeZtoc(bytes).toc[k]` (a `ZtocView` is one; {@link tocEntries} makes
 * one of a decoded TOC).
 */
export interface TocEntries {
  /** Number of entries. */
  readonly length: number;
  /** Entry k. */
  entry(k: number): FileMetadata;
  /** A quick test that entry k is exactly `m` (false: compare `entry(k)`). */
  matches?(k: number, m: FileMetadata): boolean;
}

/**
 * A decoded TOC (sorted by offset, as `decodeZtoc` gives it) as
 * {@link TocEntries}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tocEntries } from "./toc_check.ts";
 * assert.equal(tocEntries([]).length, 0);
 * ```
 */
export function tocEntries(toc: FileMetadata[]): TocEntries {
  return { length: toc.length, entry: (k) => toc[k] };
}

/** What {@link TocCheck} found. */
export interface TocFindings {
  /** Tar entries read from the layer. */
  entries: number;
  /** One line per problem, the first few then "… and N more TOC problems"; empty when the TOC is right. */
  problems: string[];
}

/** Seconds and nanoseconds of an RFC 3339 time, for comparing instants. */
function instant(text: string): string {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/
    .exec(text);
  if (!m) return `text:${text}`;
  let secs = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) / 1000;
  if (m[8] !== "Z") {
    const sign = m[8][0] === "-" ? -1 : 1;
    secs -= sign * (Number(m[8].slice(1, 3)) * 3600 + Number(m[8].slice(4, 6)) * 60);
  }
  return `${secs}.${(m[7] ?? "").padEnd(9, "0")}`;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  const n = a.length;
  if (n !== b.length) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

function quoted(b: Uint8Array): string {
  return JSON.stringify(utf8.decode(b));
}

/** PAX records as sorted `key=value` lines, for comparing them whatever their order. */
function records(m: FileMetadata): string {
  return m.xattrs.map(([k, v]) => `${utf8.decode(k)}=${utf8.decode(v)}`).sort().join("\n");
}

function samePax(z: FileMetadata, real: FileMetadata): boolean {
  const a = z.xattrs;
  const b = real.xattrs;
  if (a.length === 0 && b.length === 0) return true;
  if (a.length === b.length) {
    let same = true;
    for (let i = 0; i < a.length && same; i++) {
      same = sameBytes(a[i][0], b[i][0]) && sameBytes(a[i][1], b[i][1]);
    }
    if (same) return true;
  }
  return records(z) === records(real);
}

/**
 * The first field in which TOC entry `z` differs from `real` (what the
 * builder makes of the tar entry), as `field is A, the layer has B`;
 * undefined when they agree. Times are compared as instants, PAX records
 * whatever their order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { entryDifference } from "./toc_check.ts";
 * const b = (s: string) => new TextEncoder().encode(s);
 * const m = {
 *   name: b("etc/hosts"), type: "reg", uncompressedOffset: 512, uncompressedSize: 10,
 *   linkname: b(""), mode: 0o644, uid: 0, gid: 0, uname: b("root"), gname: b("root"),
 *   modTime: "2023-11-14T22:13:20Z", devmajor: 0, devminor: 0, xattrs: [],
 * };
 * assert.equal(entryDifference(m, { ...m, modTime: "2023-11-14T23:13:20+01:00" }), undefined);
 * assert.equal(
 *   entryDifference({ ...m, uncompressedOffset: 1024 }, m),
 *   "uncompressed_offset is 1024, the layer has 512",
 * );
 * ```
 */
export function entryDifference(z: FileMetadata, real: FileMetadata): string | undefined {
  if (!sameBytes(z.name, real.name)) {
    return `name is ${quoted(z.name)}, the layer has ${quoted(real.name)}`;
  }
  if (z.type !== real.type) return `type is ${z.type}, the layer has ${real.type}`;
  const number = (name: string, a: number, b: number) =>
    a === b ? undefined : `${name} is ${a}, the layer has ${b}`;
  const n = number("uncompressed_offset", z.uncompressedOffset, real.uncompressedOffset) ??
    number("uncompressed_size", z.uncompressedSize, real.uncompressedSize) ??
    number("mode", z.mode, real.mode) ??
    number("uid", z.uid, real.uid) ??
    number("gid", z.gid, real.gid) ??
    number("devmajor", z.devmajor, real.devmajor) ??
    number("devminor", z.devminor, real.devminor);
  if (n !== undefined) return n;
  if (!sameBytes(z.linkname, real.linkname)) {
    return `linkname is ${quoted(z.linkname)}, the layer has ${quoted(real.linkname)}`;
  }
  if (!sameBytes(z.uname, real.uname)) {
    return `uname is ${quoted(z.uname)}, the layer has ${quoted(real.uname)}`;
  }
  if (!sameBytes(z.gname, real.gname)) {
    return `gname is ${quoted(z.gname)}, the layer has ${quoted(real.gname)}`;
  }
  if (z.modTime !== real.modTime && instant(z.modTime) !== instant(real.modTime)) {
    return `mod_time is ${z.modTime}, the layer has ${real.modTime}`;
  }
  if (!samePax(z, real)) return "its PAX records differ from the layer's";
  return undefined;
}

/**
 * Compares a TOC with a layer's tar entries as they are read: `push` each
 * entry in order, then `end` with where the tar ended. The problems, in
 * order: the entry counts differ, each entry that differs (its first
 * differing field), the tar ends elsewhere than `uncompressed_archive_size`
 * says; or, alone, a tar entry a zTOC cannot hold.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TocCheck, tocEntries } from "./toc_check.ts";
 * const b = (s: string) => new TextEncoder().encode(s);
 * const e = {
 *   name: b("a"), typeflag: "0", headerOffset: 0, offset: 512, size: 3, linkname: b(""),
 *   mode: 0o644, uid: 0, gid: 0, uname: b(""), gname: b(""), mtimeSeconds: 0,
 *   mtimeNanos: 0, devmajor: 0, devminor: 0, pax: [] as [Uint8Array, Uint8Array][],
 * };
 * const toc = [{
 *   name: b("a"), type: "reg", uncompressedOffset: 512, uncompressedSize: 3, linkname: b(""),
 *   mode: 0o644, uid: 0, gid: 0, uname: b(""), gname: b(""), modTime: "1970-01-01T00:00:00Z",
 *   devmajor: 0, devminor: 0, xattrs: [],
 * }];
 * const ok = new TocCheck(tocEntries(toc), 2048);
 * ok.push(e);
 * assert.deepEqual(ok.end(2048), { entries: 1, problems: [] });
 * const bad = new TocCheck(tocEntries(toc), 2048);
 * bad.push({ ...e, offset: 1024 });
 * assert.deepEqual(bad.end(2560).problems, [
 *   'TOC entry 0 "a": uncompressed_offset is 512, the layer has 1024',
 *   "uncompressed_archive_size is 2048, the layer's tar ends at 2560",
 * ]);
 * ```
 */
export class TocCheck {
  readonly #toc: TocEntries;
  readonly #size: number;
  readonly #listed: number;
  readonly #times = new ModTimes();
  #count = 0;
  /** The first entry problems (at most `#listed`) and how many there are. */
  readonly #kept: string[] = [];
  #differing = 0;
  #unsupported: string | undefined;

  /**
   * A check of `toc` (of a zTOC whose `uncompressed_archive_size` is
   * `uncompressedArchiveSize`); `listed`: problems listed in full (default 5).
   */
  constructor(toc: TocEntries, uncompressedArchiveSize: number, options: { listed?: number } = {}) {
    this.#toc = toc;
    this.#size = uncompressedArchiveSize;
    this.#listed = Math.max(0, options.listed ?? DEFAULT_LISTED);
  }

  /** Compares the next tar entry with its TOC entry. */
  push(e: TarEntry): void {
    const i = this.#count++;
    if (this.#unsupported !== undefined) return;
    let real: FileMetadata;
    try {
      real = fileMetadata(e, this.#times);
    } catch (err) {
      this.#unsupported = (err as Error).message;
      return;
    }
    if (i >= this.#toc.length || this.#toc.matches?.(i, real)) return;
    const z = this.#toc.entry(i);
    const d = entryDifference(z, real);
    if (d === undefined) return;
    this.#differing++;
    if (this.#kept.length < this.#listed) {
      this.#kept.push(`TOC entry ${i} ${quoted(z.name)}: ${d}`);
    }
  }

  /** The findings, given where the tar ended (undefined when it did not end cleanly). */
  end(uncompressedSize: number | undefined): TocFindings {
    const entries = this.#count;
    if (this.#unsupported !== undefined) {
      return {
        entries,
        problems: [`the layer's tar has an entry a zTOC cannot hold: ${this.#unsupported}`],
      };
    }
    const head: string[] = [];
    if (this.#toc.length !== entries) {
      head.push(`the TOC lists ${this.#toc.length} entries, the layer's tar has ${entries}`);
    }
    const tail: string[] = [];
    if (uncompressedSize !== undefined && uncompressedSize !== this.#size) {
      tail.push(
        `uncompressed_archive_size is ${this.#size}, the layer's tar ends at ${uncompressedSize}`,
      );
    }
    const all = [...head, ...this.#kept, ...tail];
    const total = head.length + this.#differing + tail.length;
    const listed = this.#listed;
    if (total <= listed) return { entries, problems: all };
    return {
      entries,
      problems: [...all.slice(0, listed), `… and ${total - listed} more TOC problems`],
    };
  }
}
