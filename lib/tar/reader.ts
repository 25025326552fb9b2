/**
 * Push-based tar TOC reader with Go `archive/tar` reader semantics
 * (`soci-format.md` §4.2–§4.4). Feed it the decompressed stream in chunks
 * of any size; it reports every entry Go's `Reader.Next` would return,
 * with the stream offsets SOCI records, and skips entry data by counting.
 *
 * @module
 */

import { BadInputError } from "../errors.ts";
import {
  limitError,
  MAX_ENTRIES_PER_LAYER,
  MAX_NAME_BYTES_PER_LAYER,
  MAX_PAX_BYTES_PER_ENTRY,
  MAX_PAX_BYTES_PER_LAYER,
  MAX_PAX_RECORDS_PER_LAYER,
} from "./limits.ts";
import { ByteStore } from "./byte_store.ts";
import type { TarEntry } from "./entry.ts";
import {
  BLOCK_SIZE,
  blockPadding,
  cString,
  invalidHeader,
  isHeaderOnlyType,
  isZeroBlock,
  parseHeader,
  parseNumeric,
  type RawHeader,
} from "./header.ts";
import {
  latin1,
  parseDecimal,
  parsePaxRecords,
  parsePaxTime,
  type PaxRecords,
  paxString,
  PaxSyntaxError,
} from "./pax.ts";
import {
  gnuSparseKind,
  parseSparseMap0x1,
  readOldGnuSparseEntries,
  type SparseEntry,
  SparseMap1x0,
  validateSparseEntries,
} from "./sparse.ts";

/** Largest PAX / GNU long name data Go accepts (`maxSpecialFileSize`). */
const MAX_SPECIAL_FILE_SIZE = MAX_PAX_BYTES_PER_ENTRY;

const TYPE_REG_A = 0x00;
const TYPE_REG = 0x30;
const TYPE_DIR = 0x35;
const TYPE_GNU_SPARSE = 0x53; // S
const TYPE_X_HEADER = 0x78; // x
const TYPE_X_GLOBAL = 0x67; // g
const TYPE_GNU_LONGNAME = 0x4c; // L
const TYPE_GNU_LONGLINK = 0x4b; // K

/** Waiting for a header block (or the end-of-archive marker). */
const ST_HEADER = 0;
/** One zero block seen: the next block must be zero too. */
const ST_ZERO2 = 1;
/** Collecting the data of an x/g/L/K meta header. */
const ST_META = 2;
/** Reading old GNU sparse extension blocks after an `S` header. */
const ST_SPARSE_EXT = 3;
/** Reading the PAX sparse 1.0 map blocks at the start of the entry data. */
const ST_SPARSE_MAP = 4;
/** End-of-archive marker seen. */
const ST_DONE = 5;

const EMPTY: Uint8Array = new Uint8Array(0);
const UTF8 = new TextDecoder();

/**
 * Limits on what one stream may hold (defaults: `limits.ts`). A
 * stream beyond one fails with a BadInputError naming the limit, before the
 * entry that crosses it is reported.
 */
export interface TarReaderLimits {
  /** Most entries (`g` global headers included). */
  maxEntries?: number;
  /** Most PAX record bytes (keys plus values, as reported in `pax`) over all entries. */
  maxPaxBytes?: number;
  /** Most PAX records over all entries. */
  maxPaxRecords?: number;
  /** Most name plus link target bytes over all entries. */
  maxNameBytes?: number;
}

/** An entry whose header is read but whose sparse map still needs blocks. */
interface PendingSparse {
  entry: TarEntry;
  /** Physical data bytes left in the entry (sparse 1.0 map blocks count). */
  phys: number;
  entries: SparseEntry[];
  map: SparseMap1x0 | null;
  headerOnly: boolean;
  at: number;
}

function unexpectedEof(offset: number, why: string): BadInputError {
  return new BadInputError(`unexpected EOF at offset ${offset}: ${why}`);
}

function quote(name: Uint8Array): string {
  const s = UTF8.decode(name.subarray(0, 200));
  return JSON.stringify(name.length > 200 ? s + "…" : s);
}

/**
 * Streaming tar reader. Entries are delivered through the callback given to
 * the constructor, in stream order, as soon as their last header block (and,
 * for sparse files, their sparse map) has been read:
 *
 * * meta headers (`x` PAX, `L`/`K` GNU long name/link) are consumed and
 *   applied to the next entry; `g` PAX global headers are reported as
 *   entries of typeflag `g` (Go returns them too). For a `g` entry, `name`
 *   and `pax` are what Go reports; the other fields are those of the `g`
 *   header block itself (Go leaves them zero), `size` being the length of
 *   its records.
 * * `offset` is the stream position right after the entry's last header
 *   block (after an `S` entry's extension blocks and a PAX sparse 1.0 map,
 *   as Go), `headerOffset` the position of its first (meta) header block.
 * * header-only types (`1`–`6`) never have data, whatever their size field.
 *
 * Errors are BadInputError, one line, starting like Go's
 * (`archive/tar: invalid tar header at offset N: …`, `unexpected EOF at
 * offset N: …`, `archive/tar: header field too long at offset N: …`); once
 * thrown, every later call throws the same error. An exception thrown by the
 * callback propagates out of `push` and is sticky as well.
 *
 * As in Go, end of input at a header boundary, after a single zero block,
 * inside the padding after an entry's data, or right after meta headers is a
 * clean end; end of input inside a header block, entry data or meta data is
 * an error.
 *
 * Work and memory are bounded by the stream: names, owner names and PAX
 * records are packed into shared slabs ({@link ByteStore}), and the
 * {@link TarReaderLimits} cap how many entries and how many name and PAX
 * bytes a stream may report (a zTOC holds all of them).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TarReader } from "./reader.ts";
 * import type { TarEntry } from "./entry.ts";
 *
 * // A one-file USTAR archive: "hi.txt" holding "hello".
 * const tar = new Uint8Array(512 * 4);
 * const put = (s: string, at: number) => tar.set(new TextEncoder().encode(s), at);
 * put("hi.txt", 0); put("0000644", 100); put("0000000", 108); put("0000000", 116);
 * put("00000000005", 124); put("14524073400", 136); put("0", 156); put("ustar\u000000", 257);
 * let sum = 0;
 * for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : tar[i];
 * put(sum.toString(8).padStart(6, "0") + "\u0000 ", 148);
 * put("hello", 512);
 *
 * const entries: TarEntry[] = [];
 * const reader = new TarReader((e) => entries.push(e));
 * for (let i = 0; i < tar.length; i += 100) reader.push(tar.subarray(i, i + 100));
 * const end = reader.end();
 * assert.ok(entries.length === 1 && entries[0].offset === 512 && entries[0].size === 5);
 * assert.ok(reader.done && end === 2048);
 * ```
 */
export class TarReader {
  readonly #onEntry: (entry: TarEntry) => void;
  #pos = 0;
  #state = ST_HEADER;
  #error: unknown = undefined;
  #failed = false;
  #ended = false;
  /** Entry data still to skip; end of input here is an error. */
  #dataLeft = 0;
  /** Block padding still to skip; end of input here is a clean end. */
  #padLeft = 0;
  /** Carry buffer for a block that straddles chunks. */
  readonly #blk = new Uint8Array(BLOCK_SIZE);
  #fill = 0;
  // Meta header whose data is being collected.
  #meta: Uint8Array = EMPTY;
  #metaFill = 0;
  #metaHeader: RawHeader | null = null;
  #metaAt = 0;
  // State of the entry being assembled.
  #entryStart = -1;
  #pax: PaxRecords | null = null;
  #paxAt = 0;
  #longName: Uint8Array = EMPTY;
  #longLink: Uint8Array = EMPTY;
  #sparse: PendingSparse | null = null;
  /** Name of the last reported entry, for messages about its data. */
  #lastName: Uint8Array = EMPTY;
  readonly #store = new ByteStore();
  readonly #maxEntries: number;
  readonly #maxPaxBytes: number;
  readonly #maxPaxRecords: number;
  readonly #maxNameBytes: number;
  #entries = 0;
  #paxBytes = 0;
  #paxRecords = 0;
  #nameBytes = 0;

  /**
   * Creates a reader that calls `onEntry` for every entry, in stream order,
   * refusing streams beyond `limits` (default: the zTOC limits).
   */
  constructor(onEntry: (entry: TarEntry) => void, limits: TarReaderLimits = {}) {
    this.#onEntry = onEntry;
    this.#maxEntries = limits.maxEntries ?? MAX_ENTRIES_PER_LAYER;
    this.#maxPaxBytes = limits.maxPaxBytes ?? MAX_PAX_BYTES_PER_LAYER;
    this.#maxPaxRecords = limits.maxPaxRecords ?? MAX_PAX_RECORDS_PER_LAYER;
    this.#maxNameBytes = limits.maxNameBytes ?? MAX_NAME_BYTES_PER_LAYER;
  }

  /** True once the end-of-archive marker (two zero blocks) was seen; later bytes are ignored. */
  get done(): boolean {
    return this.#state === ST_DONE;
  }

  /** Bytes consumed so far (stops counting when done). */
  get position(): number {
    return this.#pos;
  }

  /**
   * Feeds the next bytes of the stream. The view is only read during the
   * call. Throws BadInputError on malformed tar.
   */
  push(chunk: Uint8Array): void {
    if (this.#failed) throw this.#error;
    if (this.#ended) throw new Error("TarReader.push() called after end()");
    if (this.#state === ST_DONE) return;
    try {
      this.#consume(chunk);
    } catch (e) {
      this.#failed = true;
      this.#error = e;
      throw e;
    }
  }

  /**
   * Signals the end of the stream. Throws BadInputError when the stream is
   * truncated (partial block, entry data or meta data cut short, end inside
   * a sparse map). Returns the archive end position (`soci-format.md` §4.4):
   * just after the two zero blocks, or the real end of the stream when the
   * end-of-archive marker is missing.
   */
  end(): number {
    if (this.#failed) throw this.#error;
    this.#ended = true;
    if (this.#state === ST_DONE) return this.#pos;
    const err = this.#truncation();
    if (err) {
      this.#failed = true;
      this.#error = err;
      throw err;
    }
    return this.#pos;
  }

  #truncation(): BadInputError | null {
    const pos = this.#pos;
    if (this.#dataLeft > 0) {
      return unexpectedEof(
        pos,
        `stream ends ${this.#dataLeft} bytes before the end of the data of ${
          quote(this.#lastName)
        }`,
      );
    }
    if (this.#padLeft > 0) return null; // Go: end of input inside padding is a clean end
    switch (this.#state) {
      case ST_HEADER:
      case ST_ZERO2:
        return this.#fill === 0
          ? null
          : unexpectedEof(pos, `stream ends inside a header block (${this.#fill} of 512 bytes)`);
      case ST_META:
        return unexpectedEof(
          pos,
          `stream ends ${this.#meta.length - this.#metaFill} bytes before the end of the '${
            String.fromCharCode(this.#metaHeader!.typeflag)
          }' meta header data`,
        );
      case ST_SPARSE_EXT:
        return unexpectedEof(pos, "stream ends inside a GNU sparse extension header");
      case ST_SPARSE_MAP:
        return unexpectedEof(pos, "stream ends inside a GNU sparse 1.0 map");
    }
    return null;
  }

  #consume(chunk: Uint8Array): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      const avail = n - i;
      if (this.#dataLeft > 0) {
        const k = avail < this.#dataLeft ? avail : this.#dataLeft;
        this.#dataLeft -= k;
        this.#pos += k;
        i += k;
        continue;
      }
      if (this.#padLeft > 0) {
        const k = avail < this.#padLeft ? avail : this.#padLeft;
        this.#padLeft -= k;
        this.#pos += k;
        i += k;
        continue;
      }
      if (this.#state === ST_META) {
        const meta = this.#meta;
        const want = meta.length - this.#metaFill;
        const k = avail < want ? avail : want;
        meta.set(chunk.subarray(i, i + k), this.#metaFill);
        this.#metaFill += k;
        this.#pos += k;
        i += k;
        if (this.#metaFill === meta.length) this.#metaDone();
        continue;
      }
      let block: Uint8Array;
      if (this.#fill === 0 && avail >= BLOCK_SIZE) {
        block = chunk.subarray(i, i + BLOCK_SIZE);
        i += BLOCK_SIZE;
        this.#pos += BLOCK_SIZE;
      } else {
        const want = BLOCK_SIZE - this.#fill;
        const k = avail < want ? avail : want;
        this.#blk.set(chunk.subarray(i, i + k), this.#fill);
        this.#fill += k;
        this.#pos += k;
        i += k;
        if (this.#fill < BLOCK_SIZE) continue;
        this.#fill = 0;
        block = this.#blk;
      }
      this.#onBlock(block);
      if (this.#state === ST_DONE) return;
    }
  }

  #onBlock(block: Uint8Array): void {
    const at = this.#pos - BLOCK_SIZE;
    switch (this.#state) {
      case ST_HEADER:
        if (isZeroBlock(block)) this.#state = ST_ZERO2;
        else this.#onHeader(block, at);
        return;
      case ST_ZERO2:
        if (!isZeroBlock(block)) throw invalidHeader(at, "non-zero block after a zero block");
        this.#state = ST_DONE;
        return;
      case ST_SPARSE_EXT:
        this.#onSparseExt(block, at);
        return;
      case ST_SPARSE_MAP:
        this.#onSparseMap(block);
        return;
    }
  }

  #onHeader(block: Uint8Array, at: number): void {
    if (this.#entryStart < 0) this.#entryStart = at;
    const t = block[156];
    const meta = t === TYPE_X_HEADER || t === TYPE_X_GLOBAL || t === TYPE_GNU_LONGNAME ||
      t === TYPE_GNU_LONGLINK;
    // The strings of meta headers are dropped: only real entries keep theirs.
    const h = parseHeader(block, at, 0, meta ? undefined : this.#store);
    const tf = h.typeflag;
    const nb = isHeaderOnlyType(tf) ? 0 : h.size;
    if (nb < 0) throw invalidHeader(at, `negative size ${h.size}`);
    if (
      tf === TYPE_X_HEADER || tf === TYPE_X_GLOBAL || tf === TYPE_GNU_LONGNAME ||
      tf === TYPE_GNU_LONGLINK
    ) {
      if (nb > MAX_SPECIAL_FILE_SIZE) {
        throw new BadInputError(
          `archive/tar: header field too long at offset ${at}: '${
            String.fromCharCode(tf)
          }' meta header of ${nb} bytes (limit ${MAX_SPECIAL_FILE_SIZE})`,
        );
      }
      this.#metaHeader = h;
      this.#metaAt = at;
      this.#meta = new Uint8Array(nb);
      this.#metaFill = 0;
      if (nb === 0) this.#metaDone();
      else this.#state = ST_META;
      return;
    }
    this.#onRealHeader(h, block, at);
  }

  #metaDone(): void {
    const h = this.#metaHeader!;
    const data = this.#meta;
    const at = this.#metaAt;
    this.#meta = EMPTY;
    this.#metaHeader = null;
    this.#state = ST_HEADER;
    this.#padLeft = blockPadding(data.length);
    if (h.typeflag === TYPE_GNU_LONGNAME || h.typeflag === TYPE_GNU_LONGLINK) {
      const s = cString(data, 0, data.length);
      if (h.typeflag === TYPE_GNU_LONGNAME) this.#longName = s;
      else this.#longLink = s;
      return;
    }
    // Records are views into `data` until they are kept (#keepPax).
    let recs: PaxRecords;
    try {
      recs = parsePaxRecords(data);
    } catch (e) {
      if (e instanceof PaxSyntaxError) throw invalidHeader(at, e.message);
      throw e;
    }
    if (h.typeflag === TYPE_X_HEADER) {
      this.#pax = recs;
      this.#paxAt = at;
      return;
    }
    // Global header: reported as an entry, like Go's reader does.
    const entry = this.#entryFrom(h);
    entry.name = this.#store.copy(h.name);
    entry.linkname = this.#store.copy(h.linkname);
    entry.uname = this.#store.intern(h.uname);
    entry.gname = this.#store.intern(h.gname);
    entry.pax = this.#keepPax(recs);
    const path = recs.get("path");
    if (path && path[1].length > 0) entry.name = this.#store.copy(path[1]);
    entry.offset = at + BLOCK_SIZE;
    entry.headerOffset = this.#entryStart;
    this.#resetEntryState();
    this.#count(entry);
    this.#lastName = entry.name;
    this.#onEntry(entry);
  }

  /** The records as kept in an entry: copied into the store, counted against the limits. */
  #keepPax(recs: PaxRecords): Array<[Uint8Array, Uint8Array]> {
    const out = new Array<[Uint8Array, Uint8Array]>(recs.size);
    let bytes = 0;
    let i = 0;
    for (const [k, v] of recs.values()) {
      bytes += k.length + v.length;
      out[i++] = [this.#store.intern(k), this.#store.copy(v)];
    }
    this.#paxBytes += bytes;
    this.#paxRecords += recs.size;
    if (this.#paxBytes > this.#maxPaxBytes) {
      throw limitError(
        `tar stream has too many PAX record bytes at offset ${this.#pos}`,
        "MAX_PAX_BYTES_PER_LAYER",
        this.#paxBytes,
        this.#maxPaxBytes,
        "bytes",
      );
    }
    if (this.#paxRecords > this.#maxPaxRecords) {
      throw limitError(
        `tar stream has too many PAX records at offset ${this.#pos}`,
        "MAX_PAX_RECORDS_PER_LAYER",
        this.#paxRecords,
        this.#maxPaxRecords,
        "records",
      );
    }
    return out;
  }

  /** Counts an entry about to be reported against the limits. */
  #count(e: TarEntry): void {
    this.#entries++;
    if (this.#entries > this.#maxEntries) {
      throw limitError(
        `tar stream has too many entries at offset ${this.#pos}`,
        "MAX_ENTRIES_PER_LAYER",
        this.#entries,
        this.#maxEntries,
        "entries",
      );
    }
    this.#nameBytes += e.name.length + e.linkname.length;
    if (this.#nameBytes > this.#maxNameBytes) {
      throw limitError(
        `tar stream has too many name bytes at offset ${this.#pos}`,
        "MAX_NAME_BYTES_PER_LAYER",
        this.#nameBytes,
        this.#maxNameBytes,
        "bytes",
      );
    }
  }

  #entryFrom(h: RawHeader): TarEntry {
    return {
      name: h.name,
      typeflag: String.fromCharCode(h.typeflag),
      headerOffset: 0,
      offset: 0,
      size: h.size,
      linkname: h.linkname,
      mode: h.mode,
      uid: h.uid,
      gid: h.gid,
      uname: h.uname,
      gname: h.gname,
      mtimeSeconds: h.mtime,
      mtimeNanos: 0,
      devmajor: h.devmajor,
      devminor: h.devminor,
      pax: [],
    };
  }

  #resetEntryState(): void {
    this.#entryStart = -1;
    this.#pax = null;
    this.#longName = EMPTY;
    this.#longLink = EMPTY;
    this.#sparse = null;
  }

  #applyPax(e: TarEntry, recs: PaxRecords): void {
    const at = this.#paxAt;
    // The kept records are stable copies: overridden fields share their bytes.
    const kept = this.#keepPax(recs);
    let i = 0;
    for (const k of recs.keys()) {
      const v = kept[i++][1];
      if (v.length === 0) continue;
      switch (k) {
        case "path":
          e.name = v;
          break;
        case "linkpath":
          e.linkname = v;
          break;
        case "uname":
          e.uname = v;
          break;
        case "gname":
          e.gname = v;
          break;
        case "uid":
        case "gid":
        case "size": {
          const n = parseDecimal(latin1(v));
          if (n === undefined) throw invalidHeader(at, `PAX ${k} record is not a decimal integer`);
          if (k === "uid") e.uid = Number(n);
          else if (k === "gid") e.gid = Number(n);
          else e.size = Number(n);
          break;
        }
        case "mtime":
        case "atime":
        case "ctime": {
          const t = parsePaxTime(latin1(v));
          if (t === undefined) throw invalidHeader(at, `PAX ${k} record is not a valid time`);
          if (k === "mtime") {
            e.mtimeSeconds = t.seconds;
            e.mtimeNanos = t.nanos;
          }
          break;
        }
      }
    }
    e.pax = kept;
  }

  #onRealHeader(h: RawHeader, block: Uint8Array, at: number): void {
    const e = this.#entryFrom(h);
    const recs = this.#pax;
    if (recs) this.#applyPax(e, recs);
    if (this.#longName.length > 0) e.name = this.#store.copy(this.#longName);
    if (this.#longLink.length > 0) e.linkname = this.#store.copy(this.#longLink);
    let tf = h.typeflag;
    if (tf === TYPE_REG_A) {
      tf = e.name.length > 0 && e.name[e.name.length - 1] === 0x2f ? TYPE_DIR : TYPE_REG;
      e.typeflag = String.fromCharCode(tf);
    }
    const headerOnly = isHeaderOnlyType(tf);
    const nb = headerOnly ? 0 : e.size;
    if (nb < 0) throw invalidHeader(at, `negative size ${e.size}`);

    if (tf === TYPE_GNU_SPARSE) {
      if (h.format !== "gnu") throw invalidHeader(at, "sparse 'S' entry in a non-GNU header");
      const real = parseNumeric(block, 483, 12);
      if (Number.isNaN(real)) throw invalidHeader(at, "malformed GNU sparse realsize field");
      e.size = real;
      const entries: SparseEntry[] = [];
      if (!readOldGnuSparseEntries(block, 386, 4, entries)) {
        throw invalidHeader(at, "malformed GNU sparse map");
      }
      const pending = { entry: e, phys: nb, entries, map: null, headerOnly, at };
      if (block[482] > 0) {
        this.#sparse = pending;
        this.#state = ST_SPARSE_EXT;
        return;
      }
      this.#finishSparse(pending);
      return;
    }

    if (recs) {
      const kind = gnuSparseKind((key) => paxString(recs, key));
      if (kind !== "") {
        const sparseName = recs.get("GNU.sparse.name");
        if (sparseName && sparseName[1].length > 0) e.name = this.#store.copy(sparseName[1]);
        let size = paxString(recs, "GNU.sparse.size");
        if (size === "") size = paxString(recs, "GNU.sparse.realsize");
        if (size !== "") {
          const n = parseDecimal(size);
          if (n === undefined) throw invalidHeader(at, "bad GNU sparse size record");
          e.size = Number(n);
        }
        if (kind === "1.0") {
          const pending = {
            entry: e,
            phys: nb,
            entries: [],
            map: new SparseMap1x0(),
            headerOnly,
            at,
          };
          this.#sparse = pending;
          this.#state = ST_SPARSE_MAP;
          this.#checkMapRoom(pending);
          return;
        }
        const entries = parseSparseMap0x1(recs);
        if (!entries) throw invalidHeader(at, "bad GNU sparse map records");
        this.#finishSparse({ entry: e, phys: nb, entries, map: null, headerOnly, at });
        return;
      }
    }
    this.#emit(e, nb);
  }

  #checkMapRoom(p: PendingSparse): void {
    if (p.phys < BLOCK_SIZE) {
      throw unexpectedEof(
        this.#pos,
        `GNU sparse 1.0 map of ${quote(p.entry.name)} runs past the entry data`,
      );
    }
  }

  #onSparseExt(block: Uint8Array, at: number): void {
    const p = this.#sparse!;
    if (!readOldGnuSparseEntries(block, 0, 21, p.entries)) {
      throw invalidHeader(at, "malformed GNU sparse extension header");
    }
    if (block[504] > 0) return; // another extension block follows
    this.#state = ST_HEADER;
    this.#finishSparse(p);
  }

  #onSparseMap(block: Uint8Array): void {
    const p = this.#sparse!;
    p.phys -= BLOCK_SIZE;
    let entries: SparseEntry[] | null;
    try {
      entries = p.map!.push(block);
    } catch (e) {
      throw invalidHeader(p.at, (e as Error).message);
    }
    if (entries === null) {
      this.#checkMapRoom(p);
      return;
    }
    p.entries = entries;
    this.#state = ST_HEADER;
    this.#finishSparse(p);
  }

  #finishSparse(p: PendingSparse): void {
    if (p.headerOnly || !validateSparseEntries(p.entries, p.entry.size)) {
      throw invalidHeader(p.at, `invalid sparse map for ${quote(p.entry.name)}`);
    }
    this.#emit(p.entry, p.phys);
  }

  #emit(e: TarEntry, phys: number): void {
    e.offset = this.#pos;
    e.headerOffset = this.#entryStart;
    this.#count(e);
    this.#resetEntryState();
    this.#state = ST_HEADER;
    this.#dataLeft = phys;
    this.#padLeft = blockPadding(phys);
    this.#lastName = e.name;
    this.#onEntry(e);
  }
}
