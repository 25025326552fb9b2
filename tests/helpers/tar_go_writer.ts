/**
 * A small tar writer that lays archives out the way Go's `archive/tar`
 * Writer does (the writer behind upstream's test layers): a USTAR header when
 * every field fits, otherwise a PAX `x` header (records sorted by key, named
 * `<dir>/PaxHeaders.0/<base>`) followed by a USTAR-layout header with the
 * fields that do not fit zeroed or truncated; data padded to 512 bytes;
 * exactly two zero blocks at the end and no record padding. Header-only
 * types (1–6) get no data whatever their size field says.
 *
 * Extras for tests: `rawTypeflag` writes any typeflag byte, `v7` writes a
 * V7 header (no magic), global headers (`typeflag: "g"`) write only a PAX
 * global header, `endMarker: false` leaves the end-of-archive marker out.
 *
 * @module
 */
import { concat } from "./bytes.ts";

const ENC = new TextEncoder();

/** One entry to write. Strings are UTF-8 encoded; pass bytes for raw names. */
export interface GoTarEntry {
  name: string | Uint8Array;
  /** Typeflag character (default `0`); `g` writes a PAX global header. */
  typeflag?: string;
  /** Typeflag byte to store verbatim (overrides `typeflag`, e.g. 0 for legacy files). */
  rawTypeflag?: number;
  /** File data (regular files); also the default size. */
  data?: Uint8Array;
  /** Size field; defaults to the data length. */
  size?: number;
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string | Uint8Array;
  gname?: string | Uint8Array;
  /** Whole seconds since the epoch (default 1700000000). */
  mtime?: number;
  /** Nanoseconds; non-zero forces a PAX `mtime` record (Go with Format PAX). */
  mtimeNanos?: number;
  linkname?: string | Uint8Array;
  devmajor?: number;
  devminor?: number;
  /** Extra PAX records (e.g. `SCHILY.xattr.*`), or the records of a `g` header. */
  pax?: Array<[string, string | Uint8Array]>;
  /** Write a V7 header (no magic, no uname/gname/devices/prefix). */
  v7?: boolean;
}

/** Options of {@link goTar}. */
export interface GoTarOptions {
  /** Append the two zero blocks (default true). */
  endMarker?: boolean;
}

function bytes(s: string | Uint8Array | undefined): Uint8Array {
  if (s === undefined) return new Uint8Array(0);
  return typeof s === "string" ? ENC.encode(s) : s;
}

function isAscii(b: Uint8Array): boolean {
  return b.every((c) => c !== 0 && c < 0x80);
}

function fitsOctal(width: number, x: number): boolean {
  return Number.isInteger(x) && x >= 0 && x < 8 ** (width - 1);
}

/** USTAR split of a long name into prefix (<=155) and name (<=100) at a slash. */
function splitUstar(name: Uint8Array): [Uint8Array, Uint8Array] | null {
  if (name.length <= 100 || !isAscii(name)) return null;
  let limit = name.length;
  if (limit > 156) limit = 156;
  else if (name[limit - 1] === 0x2f) limit--;
  let slash = -1;
  for (let i = limit - 1; i >= 0; i--) {
    if (name[i] === 0x2f) {
      slash = i;
      break;
    }
  }
  const nameLen = name.length - slash - 1;
  if (slash <= 0 || nameLen > 100 || nameLen === 0 || slash > 155) return null;
  return [name.subarray(0, slash), name.subarray(slash + 1)];
}

function paxRecord(key: string, value: Uint8Array): Uint8Array {
  const k = ENC.encode(key);
  const body = k.length + value.length + 3; // ' ', '=', '\n'
  let n = body + String(body).length;
  if (String(n).length + body !== n) n = body + String(n).length;
  const head = ENC.encode(`${n} ${key}=`);
  const out = new Uint8Array(n);
  out.set(head, 0);
  out.set(value, head.length);
  out[n - 1] = 0x0a;
  return out;
}

function paxTime(seconds: number, nanos: number): string {
  if (nanos === 0) return String(seconds);
  let s = seconds;
  let ns = nanos;
  let sign = "";
  if (s < 0) {
    sign = "-";
    s = -(s + 1);
    ns = 1e9 - ns;
  }
  return `${sign}${s}.${String(ns).padStart(9, "0")}`.replace(/0+$/, "");
}

class Block {
  readonly b = new Uint8Array(512);
  str(at: number, width: number, v: Uint8Array): void {
    this.b.set(v.subarray(0, width), at);
  }
  oct(at: number, width: number, x: number): void {
    const v = fitsOctal(width, x) ? x : 0;
    this.str(at, width, ENC.encode(v.toString(8).padStart(width - 1, "0")));
  }
  finish(magic: "ustar" | "v7"): Uint8Array {
    if (magic === "ustar") this.str(257, 8, ENC.encode("ustar\x0000"));
    this.b.fill(0x20, 148, 156);
    let sum = 0;
    for (const c of this.b) sum += c;
    this.b.fill(0, 148, 156);
    this.str(148, 7, ENC.encode(sum.toString(8).padStart(6, "0")));
    this.b[155] = 0x20;
    return this.b;
  }
}

function padded(data: Uint8Array): Uint8Array[] {
  const rem = data.length % 512;
  return rem === 0 ? [data] : [data, new Uint8Array(512 - rem)];
}

function dirAndBase(name: Uint8Array): [string, string] {
  const s = new TextDecoder().decode(name).replace(/\/+$/, "");
  const i = s.lastIndexOf("/");
  return i < 0 ? ["", s] : [s.slice(0, i + 1), s.slice(i + 1)];
}

function metaHeader(name: string, flag: string, size: number): Uint8Array {
  const blk = new Block();
  let n = ENC.encode(name).filter((c) => c < 0x80).subarray(0, 100);
  while (n.length > 0 && n[n.length - 1] === 0x2f) n = n.subarray(0, n.length - 1);
  blk.str(0, 100, n);
  blk.oct(100, 8, 0);
  blk.oct(108, 8, 0);
  blk.oct(116, 8, 0);
  blk.oct(124, 12, size);
  blk.oct(136, 12, 0);
  blk.b[156] = flag.charCodeAt(0);
  return blk.finish("ustar");
}

function encodeRecords(records: Array<[string, Uint8Array]>): Uint8Array {
  const sorted = [...records].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return concat(sorted.map(([k, v]) => paxRecord(k, v)));
}

/**
 * The header blocks of one entry (a PAX `x` header with its records when
 * needed, then the USTAR-layout header), as {@link goTar} writes them; the
 * entry's data and padding are left to the caller (`data` is not read, only
 * `size`). A `g` entry gives its header and records.
 */
export function goTarHeader(e: GoTarEntry): Uint8Array {
  return concat(headerParts(e));
}

function headerParts(e: GoTarEntry): Uint8Array[] {
  const parts: Uint8Array[] = [];
  const typeflag = e.typeflag ?? "0";
  const name = bytes(e.name);
  if (typeflag === "g") {
    const data = encodeRecords((e.pax ?? []).map(([k, v]) => [k, bytes(v)]));
    const [dir] = dirAndBase(name);
    parts.push(metaHeader(`${dir}GlobalHead.0.0`, "g", data.length), ...padded(data));
    return parts;
  }
  const data = e.data ?? new Uint8Array(0);
  const size = e.size ?? data.length;
  const mode = e.mode ?? 0o644;
  const uid = e.uid ?? 0;
  const gid = e.gid ?? 0;
  const mtime = e.mtime ?? 1700000000;
  const nanos = e.mtimeNanos ?? 0;
  const linkname = bytes(e.linkname);
  const uname = bytes(e.uname);
  const gname = bytes(e.gname);
  const flagByte = e.rawTypeflag ?? typeflag.charCodeAt(0);

  // Like Go: collect the PAX records every field would need, and use
  // them only when some field cannot be stored in a USTAR header.
  const records: Array<[string, Uint8Array]> = [];
  let ustarOk = true;
  let prefix: Uint8Array = new Uint8Array(0);
  let shortName = name;
  const split = splitUstar(name);
  if (!e.v7) {
    if (name.length > 100 || !isAscii(name)) {
      records.push(["path", name]);
      if (!split) ustarOk = false;
    }
    const strField = (key: string, v: Uint8Array, width: number) => {
      if (v.length > width || !isAscii(v)) {
        records.push([key, v]);
        ustarOk = false;
      }
    };
    strField("linkpath", linkname, 100);
    strField("uname", uname, 32);
    strField("gname", gname, 32);
    const numField = (key: string, v: number, width: number) => {
      if (!fitsOctal(width, v)) {
        records.push([key, ENC.encode(String(v))]);
        ustarOk = false;
      }
    };
    numField("uid", uid, 8);
    numField("gid", gid, 8);
    numField("size", size, 12);
    if (!fitsOctal(12, mtime) || nanos !== 0) {
      records.push(["mtime", ENC.encode(paxTime(mtime, nanos))]);
      ustarOk = false;
    }
    for (const [k, v] of e.pax ?? []) {
      records.push([k, bytes(v)]);
      ustarOk = false;
    }
  }
  if (!ustarOk) {
    const rec = encodeRecords(records);
    const [dir, base] = dirAndBase(name);
    parts.push(metaHeader(`${dir}PaxHeaders.0/${base}`, "x", rec.length), ...padded(rec));
    shortName = name.filter((c) => c < 0x80);
  } else if (split) {
    [prefix, shortName] = split;
  }

  const blk = new Block();
  blk.str(0, 100, shortName);
  blk.oct(100, 8, mode);
  blk.oct(108, 8, uid);
  blk.oct(116, 8, gid);
  blk.oct(124, 12, size);
  blk.oct(136, 12, mtime);
  blk.b[156] = flagByte;
  blk.str(157, 100, linkname);
  if (!e.v7) {
    blk.str(265, 32, uname);
    blk.str(297, 32, gname);
    blk.oct(329, 8, e.devmajor ?? 0);
    blk.oct(337, 8, e.devminor ?? 0);
    blk.str(345, 155, prefix);
  }
  parts.push(blk.finish(e.v7 ? "v7" : "ustar"));
  return parts;
}

/**
 * Writes `entries` as one tar archive laid out like Go's `archive/tar`
 * Writer output.
 */
export function goTar(entries: GoTarEntry[], opts: GoTarOptions = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    parts.push(...headerParts(e));
    if ((e.typeflag ?? "0") === "g") continue;
    const data = e.data ?? new Uint8Array(0);
    const size = e.size ?? data.length;
    const flagByte = e.rawTypeflag ?? (e.typeflag ?? "0").charCodeAt(0);
    const headerOnly = flagByte >= 0x31 && flagByte <= 0x36;
    if (!headerOnly) {
      const body = data.length === size ? data : new Uint8Array(size);
      if (body !== data) body.set(data.subarray(0, size));
      parts.push(...padded(body));
    }
  }
  if (opts.endMarker !== false) parts.push(new Uint8Array(1024));
  return concat(parts);
}
