/**
 * Tar entries packed into one buffer, to move them between threads:
 * structured clone of thousands of small objects, each with four byte
 * arrays, costs more than reading the tar did. After a 16-byte header
 * (entry count, text field count, byte count) come the numbers (float64,
 * ten per entry), the lengths of the text fields (uint32) and their bytes,
 * in the platform's byte order (the buffer never leaves the process).
 *
 * @module
 */
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

/**
 * Unpacks {@link encodeEntries}' buffer; byte fields are views into it
 * (empty ones all the same empty array, and equal owner names the same
 * view, as the tar reader gives them: a million entries stay small).
 */
export function decodeEntries(packed: Uint8Array): TarEntry[] {
  // The typed arrays below need the buffer's own alignment.
  const buf = packed.byteOffset % 8 === 0 ? packed : packed.slice();
  const head = new Uint32Array(buf.buffer, buf.byteOffset, 3);
  const count = head[0];
  const lensAt = buf.byteOffset + HEAD + 8 * NUMBERS * count;
  const nums = new Float64Array(buf.buffer, buf.byteOffset + HEAD, NUMBERS * count);
  const lens = new Uint32Array(buf.buffer, lensAt, head[1]);
  let b = lensAt - buf.byteOffset + 4 * head[1];
  if (b + head[2] !== buf.length) throw new RangeError("packed tar entries: bad length");
  let l = 0;
  const take = (): Uint8Array => {
    const n = lens[l++];
    b += n;
    return n === 0 ? EMPTY : buf.subarray(b - n, b);
  };
  // Owner names repeat: the first few distinct ones are shared, and a
  // name seen before is found in place, before any view of it is made.
  const owners: Uint8Array[] = [];
  const owner = (): Uint8Array => {
    const n = lens[l++];
    b += n;
    if (n === 0) return EMPTY;
    const at = b - n;
    for (let k = 0; k < owners.length; k++) {
      const known = owners[k];
      if (known.length !== n) continue;
      let j = 0;
      while (j < n && known[j] === buf[at + j]) j++;
      if (j === n) return known;
    }
    const o = buf.subarray(at, b);
    if (owners.length < 16) owners.push(o);
    return o;
  };
  const entries = new Array<TarEntry>(count);
  for (let i = 0, n = 0; i < count; i++, n += NUMBERS) {
    let typeflag: string;
    const flagLength = lens[l++];
    if (flagLength === 1 && lens[l] < 128) typeflag = FLAGS[lens[l++]];
    else {
      typeflag = "";
      for (let k = flagLength; k > 0; k--) typeflag += String.fromCharCode(lens[l++]);
    }
    const name = take(), linkname = take(), uname = owner(), gname = owner();
    const pax: Array<[Uint8Array, Uint8Array]> = [];
    for (let k = lens[l++]; k > 0; k--) pax.push([take(), take()]);
    entries[i] = {
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
  return entries;
}
