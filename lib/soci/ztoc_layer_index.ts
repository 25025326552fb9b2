/**
 * A layer's lookup index built straight from a zTOC's bytes: the answers of
 * `LayerFiles` (entries by cleaned path, whiteouts, opaque directories,
 * implied directories, non-directories) for the paths asked, without
 * decoding the TOC entries or making a string per name. One pass hashes
 * every cleaned name in place (and the directories above it); an entry is
 * decoded only when it is looked up.
 *
 * Names that are plain ASCII and need no cleaning beyond a leading `./` or
 * `/` and a trailing `/` (nearly all) are hashed where they lie in the
 * buffer; the others (non-ASCII, `.` or `..` parts, doubled `/`, names
 * starting with `.` such as whiteouts) go through the same text path as
 * `LayerFiles` (`cleanPath(nameText(name))`), so both give the same answer
 * for every path.
 *
 * @module
 */
import type { FileMetadata } from "../ztoc/model.ts";
import type { ZtocView } from "../ztoc/ztoc_view.ts";
import {
  ancestors,
  cleanPath,
  type LayerLookup,
  type Marker,
  markerOf,
  nameText,
} from "./merged_tree.ts";

const SLASH = 0x2f;
const DOT = 0x2e;

/** Where {@link plainKey} found the key: bytes `[from, to)`. */
const plain = { from: 0, to: 0 };

/**
 * Whether name bytes `[s, s + len)` may take the fast path, whose key is
 * read straight from the bytes (`./x`, `/x` or `x`, one trailing `/`
 * dropped; `from === to` for the root); sets {@link plain}. Names that need
 * cleaning take the text path (cleanPath): `.x` or `/x` after the prefix,
 * `x//`, empty names, and keys with a non-ASCII byte, `//` or `/.`.
 */
function plainKey(bytes: Uint8Array, s: number, len: number): boolean {
  let a = 0;
  let end = s + len;
  plain.from = s;
  plain.to = end;
  if (len === 0) return false;
  const c0 = bytes[s];
  if (c0 === DOT) {
    if (len < 2 || bytes[s + 1] !== SLASH) return false;
    a = 2;
  } else if (c0 === SLASH) a = 1;
  if (end > s + a && bytes[end - 1] === SLASH) end--;
  plain.from = s + a;
  plain.to = end;
  if (end > s + a) {
    const first = bytes[s + a];
    if (first === DOT || first === SLASH || bytes[end - 1] === SLASH) return false;
  }
  let prev = 0;
  for (let i = s + a; i < end; i++) {
    const c = bytes[i];
    if (c >= 0x80 || (prev === SLASH && (c === SLASH || c === DOT))) return false;
    prev = c;
  }
  return true;
}
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const encoder = new TextEncoder();

/** FNV-1a over `buf[start, start + len)`. */
function fnv(buf: Uint8Array, start: number, len: number): number {
  let h = FNV_OFFSET;
  for (let i = start; i < start + len; i++) h = Math.imul(h ^ buf[i], FNV_PRIME);
  return h | 0;
}

function sameRange(a: Uint8Array, as: number, b: Uint8Array, bs: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (a[as + i] !== b[bs + i]) return false;
  return true;
}

/** A copy of `a` twice as long. */
function grown(a: Int32Array): Int32Array<ArrayBuffer> {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

/** The smallest power of two ≥ 2n (at least 16). */
function capacityFor(n: number): number {
  let c = 16;
  while (c < 2 * n) c *= 2;
  return c;
}

/**
 * The {@link LayerLookup} of one layer over its zTOC (see the module
 * documentation).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ZtocLayerIndex } from "./ztoc_layer_index.ts";
 * import { ZtocView } from "../ztoc/ztoc_view.ts";
 * import { encodeZtoc } from "../ztoc/codec.ts";
 * const b = (s: string) => new TextEncoder().encode(s);
 * const e = (name: string, off: number, type = "reg") => ({
 *   name: b(name), type, uncompressedOffset: off, uncompressedSize: 0, linkname: b(""),
 *   mode: 0o644, uid: 0, gid: 0, uname: b(""), gname: b(""), modTime: "",
 *   devmajor: 0, devminor: 0, xattrs: [],
 * });
 * const view = ZtocView.decode(encodeZtoc({
 *   version: "0.9", buildToolIdentifier: "t", compressedArchiveSize: 1,
 *   uncompressedArchiveSize: 4096, compressionAlgorithm: "gzip", maxSpanId: 0,
 *   spanDigests: [], checkpoints: new Uint8Array(0),
 *   toc: [e("./etc/", 512, "dir"), e("./etc/hosts", 1024), e("./tmp/.wh.x", 1536)],
 * }));
 * const index = new ZtocLayerIndex(view, 1);
 * assert.equal(index.entry("etc/hosts")?.type, "reg");
 * assert.equal(index.entry("etc/nope"), undefined);
 * assert.ok(index.impliesDir("tmp") && !index.impliesDir("etc/hosts"));
 * assert.ok(index.hidesBelow("tmp/x") && index.hidesBelow("etc/hosts/y"));
 * assert.ok(!index.hidesBelow("etc/passwd"));
 * ```
 */
export class ZtocLayerIndex implements LayerLookup {
  /** The layer's index in the image (0 = the lowest). */
  readonly layer: number;
  /** The zTOC read. */
  readonly view: ZtocView;
  readonly #whiteouts = new Set<string>();
  readonly #opaque = new Set<string>();
  /** A pass over every name was made: the marker sets are complete. */
  #marked = false;
  /** The hash tables were built. */
  #full = false;
  /** Answers for one path and its ancestors (see {@link ZtocLayerIndex.prepare}). */
  #scan: PathScan | undefined;

  /** Entry k's cleaned name: in the zTOC's bytes, or (flag set) in the arena. */
  #keyStart = new Uint32Array(0);
  #keyLen = new Uint32Array(0);
  #inArena = new Uint8Array(0);
  #arena = new Uint8Array(1024);
  #arenaUsed = 0;

  /** Entries by cleaned name: the last entry k (−1: empty slot), its hash, any non-dir. */
  #slots = new Int32Array(0);
  #slotHash = new Int32Array(0);
  #nonDir = new Uint8Array(0);
  #mask = 0;

  /** Implied directories: a prefix of entry k's key of length len. */
  #dirEntry = new Int32Array(0);
  #dirLen = new Int32Array(0);
  #dirHash = new Int32Array(0);
  #dirCount = 0;
  #dirMask = 0;

  readonly #decoded = new Map<number, FileMetadata>();

  /**
   * An index of the TOC of `view`, layer number `layer`: built on the first
   * question (a pass over one path for {@link ZtocLayerIndex.prepare}d
   * questions, hash tables of every name for the others).
   */
  constructor(view: ZtocView, layer: number) {
    this.layer = layer;
    this.view = view;
  }

  /** Paths hidden in the lower layers by `.wh.NAME` files. */
  get whiteouts(): Set<string> {
    if (!this.#marked) this.#build();
    return this.#whiteouts;
  }

  /** Directories whose lower content is hidden by `.wh..wh..opq`. */
  get opaque(): Set<string> {
    if (!this.#marked) this.#build();
    return this.#opaque;
  }

  /** Builds the hash tables of every cleaned name and every directory above one. */
  #build(): void {
    if (this.#full) return;
    this.#full = true;
    const view = this.view;
    const n = view.length;
    this.#keyStart = new Uint32Array(n);
    this.#keyLen = new Uint32Array(n);
    this.#inArena = new Uint8Array(n);
    const cap = capacityFor(n);
    this.#slots = new Int32Array(cap).fill(-1);
    this.#slotHash = new Int32Array(cap);
    this.#nonDir = new Uint8Array(cap);
    this.#mask = cap - 1;
    const dcap = capacityFor(Math.min(n, 1024));
    this.#dirEntry = new Int32Array(dcap).fill(-1);
    this.#dirLen = new Int32Array(dcap);
    this.#dirHash = new Int32Array(dcap);
    this.#dirMask = dcap - 1;
    const marked = this.#marked;
    this.#marked = true;

    const bytes = view.bytes;
    const starts = view.nameStarts;
    const lengths = view.nameLengths;
    // Hashes and lengths of the key's prefixes ending before each `/`.
    let prefixHash = new Int32Array(256);
    let prefixLen = new Int32Array(256);
    let prefixes = 0;
    for (let k = 0; k < n; k++) {
      const s = starts[k];
      const len = lengths[k];
      // The key: the name's own bytes, or its cleaned text in the arena.
      const fast = plainKey(bytes, s, len);
      let buf = bytes;
      let from = plain.from;
      let keyLen = plain.to - from;
      let path: string | undefined;
      if (fast) {
        if (keyLen === 0) continue; // the root directory
      } else {
        path = cleanPath(nameText(view.name(k)));
        if (path === "") continue; // the root directory
        buf = encoder.encode(path);
        from = 0;
        keyLen = buf.length;
      }
      prefixes = 0;
      let h = FNV_OFFSET;
      for (let i = 0; i < keyLen; i++) {
        const c = buf[from + i];
        if (c === SLASH) {
          if (prefixes === prefixHash.length) {
            prefixHash = grown(prefixHash);
            prefixLen = grown(prefixLen);
          }
          prefixHash[prefixes] = h;
          prefixLen[prefixes++] = i;
        }
        h = Math.imul(h ^ c, FNV_PRIME);
      }
      const marker = path === undefined ? undefined : markerOf(path);
      if (path === undefined) {
        this.#keyStart[k] = from;
        this.#keyLen[k] = keyLen;
      } else {
        this.#keyStart[k] = this.#toArena(buf);
        this.#keyLen[k] = keyLen;
        this.#inArena[k] = 1;
      }
      if (marker === undefined) this.#addEntry(k, h | 0, view.isDir(k));
      else if (marked) { /* the sets are complete */ }
      else if (marker.opaque !== undefined) this.#opaque.add(marker.opaque);
      else if (marker.hides !== undefined) this.#whiteouts.add(marker.hides);
      // The directories above it, deepest first, up to one already there
      // (the set is closed under taking parents).
      for (let j = prefixes - 1; j >= 0; j--) {
        if (prefixLen[j] === 0) break;
        if (!this.#addDir(k, prefixLen[j], prefixHash[j])) break;
      }
    }
  }

  #toArena(key: Uint8Array): number {
    if (this.#arenaUsed + key.length > this.#arena.length) {
      let size = this.#arena.length * 2;
      while (size < this.#arenaUsed + key.length) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.#arena.subarray(0, this.#arenaUsed));
      this.#arena = grown;
    }
    const at = this.#arenaUsed;
    this.#arena.set(key, at);
    this.#arenaUsed += key.length;
    return at;
  }

  /** The buffer holding entry k's key. */
  #buf(k: number): Uint8Array {
    return this.#inArena[k] === 1 ? this.#arena : this.view.bytes;
  }

  #addEntry(k: number, hash: number, dir: boolean): void {
    const buf = this.#buf(k);
    const start = this.#keyStart[k];
    const len = this.#keyLen[k];
    const slots = this.#slots;
    let i = hash & this.#mask;
    for (;;) {
      const other = slots[i];
      if (other === -1) {
        slots[i] = k;
        this.#slotHash[i] = hash;
        this.#nonDir[i] = dir ? 0 : 1;
        return;
      }
      if (
        this.#slotHash[i] === hash && this.#keyLen[other] === len &&
        sameRange(this.#buf(other), this.#keyStart[other], buf, start, len)
      ) {
        slots[i] = k; // a later entry wins
        if (!dir) this.#nonDir[i] = 1;
        return;
      }
      i = (i + 1) & this.#mask;
    }
  }

  /** Adds the first `len` bytes of entry k's key as a directory; false when it was there. */
  #addDir(k: number, len: number, hash: number): boolean {
    const buf = this.#buf(k);
    const start = this.#keyStart[k];
    let i = hash & this.#dirMask;
    for (;;) {
      const other = this.#dirEntry[i];
      if (other === -1) break;
      if (
        this.#dirHash[i] === hash && this.#dirLen[i] === len &&
        sameRange(this.#buf(other), this.#keyStart[other], buf, start, len)
      ) {
        return false;
      }
      i = (i + 1) & this.#dirMask;
    }
    this.#dirEntry[i] = k;
    this.#dirLen[i] = len;
    this.#dirHash[i] = hash;
    if (++this.#dirCount * 2 > this.#dirEntry.length) this.#growDirs();
    return true;
  }

  #growDirs(): void {
    const entries = this.#dirEntry;
    const lens = this.#dirLen;
    const hashes = this.#dirHash;
    const cap = entries.length * 2;
    this.#dirEntry = new Int32Array(cap).fill(-1);
    this.#dirLen = new Int32Array(cap);
    this.#dirHash = new Int32Array(cap);
    this.#dirMask = cap - 1;
    for (let j = 0; j < entries.length; j++) {
      if (entries[j] === -1) continue;
      let i = hashes[j] & this.#dirMask;
      while (this.#dirEntry[i] !== -1) i = (i + 1) & this.#dirMask;
      this.#dirEntry[i] = entries[j];
      this.#dirLen[i] = lens[j];
      this.#dirHash[i] = hashes[j];
    }
  }

  /** The entry slot of a cleaned path, or −1. */
  #slotOf(path: string): number {
    const key = encoder.encode(path);
    const hash = fnv(key, 0, key.length);
    const slots = this.#slots;
    let i = hash & this.#mask;
    for (;;) {
      const k = slots[i];
      if (k === -1) return -1;
      if (
        this.#slotHash[i] === hash && this.#keyLen[k] === key.length &&
        sameRange(this.#buf(k), this.#keyStart[k], key, 0, key.length)
      ) {
        return i;
      }
      i = (i + 1) & this.#mask;
    }
  }

  /**
   * Answers questions about `path` (cleaned) and its ancestors, the ones
   * resolving it asks, from one pass comparing every name with it: cheaper
   * than hashing every name. Other questions still build the hash tables.
   * Only the first call does anything.
   */
  prepare(path: string): void {
    if (this.#full || this.#scan !== undefined || path === "") return;
    const onMarker = this.#marked ? undefined : (marker: Marker) => {
      if (marker.opaque !== undefined) this.#opaque.add(marker.opaque);
      else if (marker.hides !== undefined) this.#whiteouts.add(marker.hides);
    };
    this.#scan = new PathScan(this.view, path, onMarker);
    this.#marked = true;
  }

  /** Entry k, decoded once. */
  #entryAt(k: number): FileMetadata {
    let meta = this.#decoded.get(k);
    if (meta === undefined) {
      meta = this.view.entry(k);
      this.#decoded.set(k, meta);
    }
    return meta;
  }

  /** The entry at a cleaned path (the last one in tar order); whiteouts are not entries. */
  entry(path: string): FileMetadata | undefined {
    const q = this.#scan?.question(path);
    if (q !== undefined) {
      const k = this.#scan!.entries[q];
      return k === -1 ? undefined : this.#entryAt(k);
    }
    this.#build();
    const slot = this.#slotOf(path);
    if (slot === -1) return undefined;
    const k = this.#slots[slot];
    return this.#entryAt(k);
  }

  /** Whether entries of this layer (whiteouts included) lie under directory `path`. */
  impliesDir(path: string): boolean {
    const q = this.#scan?.question(path);
    if (q !== undefined) return this.#scan!.bounds[q] <= this.#scan!.impliedUpTo;
    this.#build();
    const key = encoder.encode(path);
    const hash = fnv(key, 0, key.length);
    let i = hash & this.#dirMask;
    for (;;) {
      const k = this.#dirEntry[i];
      if (k === -1) return false;
      if (
        this.#dirHash[i] === hash && this.#dirLen[i] === key.length &&
        sameRange(this.#buf(k), this.#keyStart[k], key, 0, key.length)
      ) {
        return true;
      }
      i = (i + 1) & this.#dirMask;
    }
  }

  /** Whether some entry at `path` (even one replaced later) is not a directory. */
  #nonDirAt(path: string): boolean {
    const q = this.#scan?.question(path);
    if (q !== undefined) return this.#scan!.nonDir[q] === 1;
    this.#build();
    const slot = this.#slotOf(path);
    return slot !== -1 && this.#nonDir[slot] === 1;
  }

  /**
   * True when this layer hides `path` of the lower layers: a whiteout of
   * it or of a directory above it, an opaque marker in a directory above
   * it, or a non-directory entry of its own at a directory above it.
   */
  hidesBelow(path: string): boolean {
    const whiteouts = this.whiteouts;
    const opaque = this.opaque;
    if (whiteouts.has(path)) return true;
    for (const a of ancestors(path)) {
      if (whiteouts.has(a) || opaque.has(a) || this.#nonDirAt(a)) return true;
    }
    return opaque.has("") && path !== "";
  }
}

/**
 * One pass over every name of a zTOC answering, for one cleaned path and
 * each of its ancestors (question q is the path's first `bounds[q]`
 * bytes): its last entry, whether some entry there is not a directory, and
 * whether entries lie under it. Names are compared with the path where
 * they lie in the buffer (after a leading `./` or `/`); names that need
 * cleaning go through the text path, as for the hash tables.
 */
class PathScan {
  /** Length in bytes of each question (each ancestor, then the path). */
  readonly bounds: number[] = [];
  /** The last entry at each question (−1: none). */
  readonly entries: Int32Array;
  /** 1 when some entry at the question is not a directory. */
  readonly nonDir: Uint8Array;
  /** Every question of length ≤ this has entries under it. */
  impliedUpTo = -1;
  readonly #byPath = new Map<string, number>();

  constructor(view: ZtocView, path: string, onMarker?: (marker: Marker) => void) {
    const key = encoder.encode(path);
    const K = key.length;
    const parts = path.split("/");
    for (let i = 0, at = 0; i < parts.length; i++) {
      at += (i > 0 ? 1 : 0) + encoder.encode(parts[i]).length;
      this.bounds.push(at);
      this.#byPath.set(parts.slice(0, i + 1).join("/"), i);
    }
    const questionOf = new Map(this.bounds.map((b, q) => [b, q]));
    // The largest inner question length below each length (−1: none).
    const below = new Int32Array(K + 1).fill(-1);
    for (let c = 1, best = -1; c <= K; c++) {
      below[c] = best;
      if (key[c] === SLASH) best = c;
    }
    this.entries = new Int32Array(this.bounds.length).fill(-1);
    this.nonDir = new Uint8Array(this.bounds.length);
    const bytes = view.bytes;
    const starts = view.nameStarts;
    const lengths = view.nameLengths;
    for (let k = 0; k < view.length; k++) {
      const s = starts[k];
      const len = lengths[k];
      const fast = plainKey(bytes, s, len);
      let buf = bytes;
      let from = plain.from;
      let n = plain.to - from;
      let isEntry = true;
      if (fast) {
        if (n === 0) continue; // the root directory
      } else {
        const cleaned = cleanPath(nameText(view.name(k)));
        if (cleaned === "") continue; // the root directory
        buf = encoder.encode(cleaned);
        from = 0;
        n = buf.length;
        const marker = markerOf(cleaned);
        if (marker !== undefined) {
          isEntry = false;
          onMarker?.(marker);
        }
      }
      // Common prefix of the name and the path.
      const m = n < K ? n : K;
      let c = 0;
      while (c < m && buf[from + c] === key[c]) c++;
      if (isEntry && c === n) {
        const q = questionOf.get(n);
        if (q !== undefined) {
          this.entries[q] = k;
          if (!view.isDir(k)) this.nonDir[q] = 1;
        }
      }
      // The questions this name lies under: every inner one shorter than
      // the common prefix, and the whole path when the name goes on with a
      // `/` after it. (Where both go on, they differ: not with a `/` in both.)
      let implied = below[c];
      if (c === K && c < n && buf[from + c] === SLASH) implied = c;
      if (implied > this.impliedUpTo) this.impliedUpTo = implied;
    }
  }

  /** The question number of a cleaned path, if it is one of this scan's. */
  question(path: string): number | undefined {
    return this.#byPath.get(path);
  }
}
