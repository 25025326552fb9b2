/**
 * Tar entries packed into one buffer, to move them between threads:
 * structured clone of thousands of small objects, each with four byte
 * arrays, costs more than reading the tar did. After a 16-byte header
 * (entry count, text field count, byte count) come the numbers (float64,
 * ten per entry), the lengths of the text fields (uint32) and their bytes,
 * in the platform's byte order (the buffer never leaves the process).
 * A scan worker that builds the zTOC itself keeps its entries so packed
 * ({@link PackedEntries}) instead of as objects.
 *
 * @module
 */
import { findBytes } from "./byte_store.ts";
import type { TarEntry } from "./entry.ts";

/** Numbers per entry, in the order packed. */
const NUMBERS = 10;
const EMPTY = new Uint8Array(0);
/** One-character typeflags, by code. */
const FLAGS = Array.from({ length: 128 }, (_, i) => String.fromCharCode(i));
/** The packed buffer's header: entry count, text field count, byte count, padding. */
const HEAD = 16;

/**
 * Packs `entries` into one buffer (see {@link decodeEntries}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeEntries, encodeEntries } from "./entry_codec.ts";
 * const b = (s: string) => new TextEncoder().encode(s);
 * const e = {
 *   name: b("a/b"), typeflag: "0", headerOffset: 0, offset: 512, size: 3, linkname: b(""),
 *   mode: 0o644, uid: 1, gid: 2, uname: b("u"), gname: b("g"), mtimeSeconds: 5,
 *   mtimeNanos: 0, devmajor: 0, devminor: 0, pax: [[b("path"), b("a/b")]] as [Uint8Array, Uint8Array][],
 * };
 * assert.deepEqual(decodeEntries(encodeEntries([e])), [e]);
 * ```
 */
export function encodeEntries(entries: TarEntry[]): Uint8Array {
  // Three parts, each written through its own typed array: the numbers
  // (float64), the lengths of the text fields (uint32: typeflag's UTF-16
  // units, then name, linkname, uname, gname, the PAX record count and
  // each record's key and value), then the bytes of those fields.
  const count = entries.length;
  let lengths = 0;
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const e = entries[i];
    lengths += 6 + e.typeflag.length + 2 * e.pax.length;
    bytes += e.name.length + e.linkname.length + e.uname.length + e.gname.length;
    for (let j = 0; j < e.pax.length; j++) bytes += e.pax[j][0].length + e.pax[j][1].length;
  }
  const lensAt = HEAD + 8 * NUMBERS * count;
  const bytesAt = lensAt + 4 * lengths;
  const buffer = new ArrayBuffer(bytesAt + bytes);
  const head = new Uint32Array(buffer, 0, 3);
  head[0] = count;
  head[1] = lengths;
  head[2] = bytes;
  const nums = new Float64Array(buffer, HEAD, NUMBERS * count);
  const lens = new Uint32Array(buffer, lensAt, lengths);
  const out = new Uint8Array(buffer);
  let n = 0;
  let l = 0;
  let b = bytesAt;
  const put = (field: Uint8Array) => {
    lens[l++] = field.length;
    out.set(field, b);
    b += field.length;
  };
  for (let i = 0; i < count; i++) {
    const e = entries[i];
    nums[n] = e.headerOffset;
    nums[n + 1] = e.offset;
    nums[n + 2] = e.size;
    nums[n + 3] = e.mode;
    nums[n + 4] = e.uid;
    nums[n + 5] = e.gid;
    nums[n + 6] = e.mtimeSeconds;
    nums[n + 7] = e.mtimeNanos;
    nums[n + 8] = e.devmajor;
    nums[n + 9] = e.devminor;
    n += NUMBERS;
    const t = e.typeflag;
    lens[l++] = t.length;
    for (let j = 0; j < t.length; j++) lens[l++] = t.charCodeAt(j);
    put(e.name);
    put(e.linkname);
    put(e.uname);
    put(e.gname);
    lens[l++] = e.pax.length;
    for (let j = 0; j < e.pax.length; j++) {
      put(e.pax[j][0]);
      put(e.pax[j][1]);
    }
  }
  return out;
}

/** Reads the entries of one packed buffer, from any entry whose positions are known. */
class PackedReader {
  readonly buf: Uint8Array;
  readonly count: number;
  readonly nums: Float64Array;
  readonly lens: Uint32Array;
  /** Next text length to read (index into `lens`). */
  l = 0;
  /** Next text byte to read (index into `buf`). */
  b: number;
  /** Owner names seen so far: equal ones share a view. */
  readonly #owners: Uint8Array[] = [];

  constructor(packed: Uint8Array) {
    // The typed arrays below need the buffer's own alignment.
    const buf = packed.byteOffset % 8 === 0 ? packed : packed.slice();
    const head = new Uint32Array(buf.buffer, buf.byteOffset, 3);
    const count = head[0];
    const lensAt = buf.byteOffset + HEAD + 8 * NUMBERS * count;
    this.buf = buf;
    this.count = count;
    this.nums = new Float64Array(buf.buffer, buf.byteOffset + HEAD, NUMBERS * count);
    this.lens = new Uint32Array(buf.buffer, lensAt, head[1]);
    this.b = lensAt - buf.byteOffset + 4 * head[1];
    if (this.b + head[2] !== buf.length) throw new RangeError("packed tar entries: bad length");
  }

  #take(): Uint8Array {
    const n = this.lens[this.l++];
    this.b += n;
    return n === 0 ? EMPTY : this.buf.subarray(this.b - n, this.b);
  }

  // Owner names repeat: the first few distinct ones are shared, and a name
  // seen before is found in place, before any view of it is made.
  #owner(): Uint8Array {
    const n = this.lens[this.l++];
    this.b += n;
    if (n === 0) return EMPTY;
    const at = this.b - n;
    const owners = this.#owners;
    const known = findBytes(owners, this.buf, at, n);
    if (known !== undefined) return known;
    const o = this.buf.subarray(at, this.b);
    if (owners.length < 16) owners.push(o);
    return o;
  }

  /**
   * Entry `i`, read at the current positions (which move past it), into
   * `e` when given (its fields replaced), else into a new entry.
   */
  read(i: number, e?: TarEntry): TarEntry {
    const lens = this.lens, nums = this.nums, n = i * NUMBERS;
    let typeflag: string;
    const flagLength = lens[this.l++];
    if (flagLength === 1 && lens[this.l] < 128) typeflag = FLAGS[lens[this.l++]];
    else {
      typeflag = "";
      for (let k = flagLength; k > 0; k--) typeflag += String.fromCharCode(lens[this.l++]);
    }
    const name = this.#take(), linkname = this.#take();
    const uname = this.#owner(), gname = this.#owner();
    const records = lens[this.l++];
    const pax: Array<[Uint8Array, Uint8Array]> = records === 0 && e !== undefined ? NO_PAX : [];
    for (let k = records; k > 0; k--) pax.push([this.#take(), this.#take()]);
    if (e === undefined) {
      return {
        name,
        typeflag,
        headerOffset: nums[n],
        offset: nums[n + 1],
        size: nums[n + 2],
        linkname,
        mode: nums[n + 3],
        uid: nums[n + 4],
        gid: nums[n + 5],
        uname,
        gname,
        mtimeSeconds: nums[n + 6],
        mtimeNanos: nums[n + 7],
        devmajor: nums[n + 8],
        devminor: nums[n + 9],
        pax,
      };
    }
    e.name = name;
    e.typeflag = typeflag;
    e.headerOffset = nums[n];
    e.offset = nums[n + 1];
    e.size = nums[n + 2];
    e.linkname = linkname;
    e.mode = nums[n + 3];
    e.uid = nums[n + 4];
    e.gid = nums[n + 5];
    e.uname = uname;
    e.gname = gname;
    e.mtimeSeconds = nums[n + 6];
    e.mtimeNanos = nums[n + 7];
    e.devmajor = nums[n + 8];
    e.devminor = nums[n + 9];
    e.pax = pax;
    return e;
  }

  /** Moves the positions past the next entry without reading it. */
  skip(): void {
    const lens = this.lens;
    this.l += lens[this.l] + 1; // typeflag
    for (let k = 0; k < 4; k++) this.b += lens[this.l++]; // name, linkname, uname, gname
    const records = lens[this.l++];
    for (let k = 0; k < 2 * records; k++) this.b += lens[this.l++];
  }
}

/** The PAX records of entries read into a reused entry that has none (never modified). */
const NO_PAX: Array<[Uint8Array, Uint8Array]> = [];

/**
 * Unpacks {@link encodeEntries}' buffer; byte fields are views into it
 * (empty ones all the same empty array, and equal owner names the same
 * view, as the tar reader gives them: a million entries stay small).
 */
export function decodeEntries(packed: Uint8Array): TarEntry[] {
  const r = new PackedReader(packed);
  const entries = new Array<TarEntry>(r.count);
  for (let i = 0; i < r.count; i++) entries[i] = r.read(i);
  return entries;
}

/**
 * Tar entries kept packed (buffers of {@link encodeEntries}, in order) and
 * read one at a time, in any order: many thousand entries held as a few
 * buffers rather than as objects, which a thread that allocates all the
 * time (an inflater) would otherwise copy and mark at every garbage
 * collection. {@link PackedEntries.at} reads an entry into a new object,
 * or into one given, whose fields it replaces: a reader that uses each
 * entry at once (a zTOC writer) then makes no object per entry but its
 * byte views.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeEntries, encodeEntries, PackedEntries } from "./entry_codec.ts";
 * const b = (s: string) => new TextEncoder().encode(s);
 * const e = (name: string) => ({
 *   name: b(name), typeflag: "0", headerOffset: 0, offset: 512, size: 3, linkname: b(""),
 *   mode: 0o644, uid: 1, gid: 2, uname: b("u"), gname: b("g"), mtimeSeconds: 5,
 *   mtimeNanos: 0, devmajor: 0, devminor: 0, pax: [] as [Uint8Array, Uint8Array][],
 * });
 * const list = new PackedEntries([encodeEntries([e("a"), e("b")]), encodeEntries([e("c")])]);
 * assert.equal(list.length, 3);
 * assert.deepEqual(list.at(2), e("c"));
 * const reused = list.at(0);
 * assert.ok(list.at(1, reused) === reused && reused.name[0] === 98); // "b"
 * assert.deepEqual(list.at(0), decodeEntries(encodeEntries([e("a")]))[0]);
 * ```
 */
export class PackedEntries {
  /** Number of entries. */
  readonly length: number;
  readonly #readers: PackedReader[];
  /** First entry of each buffer, and the total at the end. */
  readonly #firsts: number[] = [0];
  /** Per buffer: where each entry's text lengths and bytes start. */
  readonly #lensAt: Uint32Array[] = [];
  readonly #bytesAt: Float64Array[] = [];
  /** The buffer of the last entry read (reads mostly go in order, one way or the other). */
  #last = 0;

  /** The entries of `buffers` (each from {@link encodeEntries}), in order. */
  constructor(buffers: Uint8Array[]) {
    this.#readers = buffers.map((b) => new PackedReader(b));
    for (const r of this.#readers) {
      this.#firsts.push(this.#firsts[this.#firsts.length - 1] + r.count);
      const lensAt = new Uint32Array(r.count), bytesAt = new Float64Array(r.count);
      for (let i = 0; i < r.count; i++) {
        lensAt[i] = r.l;
        bytesAt[i] = r.b;
        r.skip();
      }
      this.#lensAt.push(lensAt);
      this.#bytesAt.push(bytesAt);
    }
    this.length = this.#firsts[this.#firsts.length - 1];
  }

  /**
   * Entry `i` (0 ≤ i < length): into `into` when given (and returned),
   * else a new entry. Byte fields are views into the packed buffers.
   */
  at(i: number, into?: TarEntry): TarEntry {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) {
      throw new RangeError(`no packed tar entry ${i}`);
    }
    const firsts = this.#firsts;
    let k = this.#last;
    if (i < firsts[k] || i >= firsts[k + 1]) {
      // The last buffer whose first entry is ≤ i (empty buffers are passed over).
      let lo = 0, hi = this.#readers.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >>> 1;
        if (firsts[mid] <= i) lo = mid;
        else hi = mid - 1;
      }
      k = this.#last = lo;
    }
    const r = this.#readers[k], j = i - firsts[k];
    r.l = this.#lensAt[k][j];
    r.b = this.#bytesAt[k][j];
    return r.read(j, into);
  }
}
