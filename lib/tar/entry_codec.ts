/**
 * Tar entries packed into one buffer, to move them between threads:
 * structured clone of thousands of small objects, each with four byte
 * arrays, costs more than reading the tar did. Numbers are float64, byte
 * fields a uint32 length and the bytes, all little-endian.
 *
 * @module
 */
import type { TarEntry } from "./entry.ts";

const NUMBERS = [
  "headerOffset",
  "offset",
  "size",
  "mode",
  "uid",
  "gid",
  "mtimeSeconds",
  "mtimeNanos",
  "devmajor",
  "devminor",
] as const;
const BYTES = ["name", "linkname", "uname", "gname"] as const;
const EMPTY = new Uint8Array(0);

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
  let size = 4;
  for (const e of entries) {
    size += 8 * NUMBERS.length + 4 + 4 * BYTES.length + 4;
    size += e.typeflag.length * 2;
    for (const k of BYTES) size += e[k].length;
    for (const [key, value] of e.pax) size += 8 + key.length + value.length;
  }
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  let at = 0;
  const u32 = (n: number) => {
    dv.setUint32(at, n, true);
    at += 4;
  };
  const bytes = (b: Uint8Array) => {
    u32(b.length);
    out.set(b, at);
    at += b.length;
  };
  u32(entries.length);
  for (const e of entries) {
    for (const k of NUMBERS) {
      dv.setFloat64(at, e[k], true);
      at += 8;
    }
    u32(e.typeflag.length);
    for (let i = 0; i < e.typeflag.length; i++) {
      dv.setUint16(at, e.typeflag.charCodeAt(i), true);
      at += 2;
    }
    for (const k of BYTES) bytes(e[k]);
    u32(e.pax.length);
    for (const [key, value] of e.pax) {
      bytes(key);
      bytes(value);
    }
  }
  return out;
}

/**
 * Unpacks {@link encodeEntries}' buffer; byte fields are views into it
 * (empty ones all the same empty array, and equal owner names the same
 * view, as the tar reader gives them: a million entries stay small).
 */
export function decodeEntries(buf: Uint8Array): TarEntry[] {
  const owners = new Map<string, Uint8Array>();
  const owner = (b: Uint8Array) => {
    if (b.length === 0 || b.length > 64) return b;
    const key = String.fromCharCode(...b);
    const known = owners.get(key);
    if (known !== undefined) return known;
    if (owners.size < 4096) owners.set(key, b);
    return b;
  };
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let at = 0;
  const u32 = () => {
    const n = dv.getUint32(at, true);
    at += 4;
    return n;
  };
  const bytes = () => {
    const n = u32();
    at += n;
    return n === 0 ? EMPTY : buf.subarray(at - n, at);
  };
  const count = u32();
  const entries = new Array<TarEntry>(count);
  for (let i = 0; i < count; i++) {
    const nums: number[] = [];
    for (let k = 0; k < NUMBERS.length; k++) {
      nums.push(dv.getFloat64(at, true));
      at += 8;
    }
    let typeflag = "";
    for (let n = u32(); n > 0; n--) {
      typeflag += String.fromCharCode(dv.getUint16(at, true));
      at += 2;
    }
    const name = bytes(), linkname = bytes(), uname = owner(bytes()), gname = owner(bytes());
    const pax: Array<[Uint8Array, Uint8Array]> = [];
    for (let n = u32(); n > 0; n--) pax.push([bytes(), bytes()]);
    entries[i] = {
      name,
      typeflag,
      headerOffset: nums[0],
      offset: nums[1],
      size: nums[2],
      linkname,
      mode: nums[3],
      uid: nums[4],
      gid: nums[5],
      uname,
      gname,
      mtimeSeconds: nums[6],
      mtimeNanos: nums[7],
      devmajor: nums[8],
      devminor: nums[9],
      pax,
    };
  }
  return entries;
}
