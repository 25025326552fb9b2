/**
 * Test helpers for the tar reader: run GNU tar and the Python `tarfile`
 * oracle (`tar_oracle.py`), feed archives to a TarReader in various chunk
 * sizes, and turn entries / oracle members into comparable plain objects.
 *
 * @module
 */

import { TarReader } from "../../lib/tar/reader.ts";
import type { TarEntry } from "../../lib/tar/entry.ts";
import { hex, prng } from "./bytes.ts";
export { hex } from "./bytes.ts";

/** Path of the Python oracle script. */
export const ORACLE = new URL("./tar_oracle.py", import.meta.url).pathname;

const DEC = new TextDecoder();

/** Runs a command; returns stdout; throws with stderr unless the exit code is allowed. */
export async function run(
  cmd: string,
  args: string[],
  okCodes: number[] = [0],
): Promise<Uint8Array> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!okCodes.includes(out.code)) {
    throw new Error(`${cmd} ${args.join(" ")} exited ${out.code}: ${DEC.decode(out.stderr)}`);
  }
  return out.stdout;
}

/** One member as the Python oracle reports it (bytes as hex). */
export interface OracleMember {
  name: string;
  type: string;
  size: number;
  linkname: string;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: [number, number];
  devmajor: number;
  devminor: number;
  pax: Array<[string, string]>;
  offset: number;
  offset_data: number;
  sparse: Array<[number, number]> | null;
}

/** What `tar_oracle.py dump` prints. */
export interface OracleDump {
  members: OracleMember[];
  /** Position where Python looked for the next header (the end-of-archive marker). */
  next_header: number;
}

/** Members of `path` according to Python's tarfile. */
export async function oracleDump(path: string): Promise<OracleDump> {
  return JSON.parse(DEC.decode(await run("python3", [ORACLE, "dump", path])));
}

/** Creates a file tree for GNU tar (`basic`, `ustar` or `full`, see tar_oracle.py). */
export async function makeTree(dir: string, kind: "basic" | "ustar" | "full"): Promise<void> {
  await run("python3", [ORACLE, "tree", dir, kind]);
}

/** Archives `src` with GNU tar into `out`. */
export async function gnuTar(
  format: string,
  src: string,
  out: string,
  extra: string[] = [],
): Promise<void> {
  await run("tar", [`--format=${format}`, ...extra, "-cf", out, "-C", src, "."]);
}

/** Writes the Python tarfile sample archive (`gnu` or `pax` format) to `out`. */
export async function pyMake(format: "gnu" | "pax", out: string): Promise<void> {
  await run("python3", [ORACLE, "make", format, out]);
}

/** Bytes from hex. */
export function unhex(s: string): Uint8Array {
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Result of reading a whole archive. */
export interface ReadResult {
  entries: TarEntry[];
  end: number;
  done: boolean;
}

/** How to cut the stream: a fixed chunk size, "whole", or "random" (seeded). */
export type Chunking = number | "whole" | "random";

/** The chunkings every archive is fed with. */
export const CHUNKINGS: Chunking[] = ["whole", 1, 7, 511, 513, 4096, "random"];

/**
 * Feeds `data` to a new TarReader cut as `chunking` says. Each chunk is a
 * fresh copy that is overwritten after the call, so a reader that keeps a
 * reference into a chunk is caught.
 */
export function readTar(data: Uint8Array, chunking: Chunking = "whole"): ReadResult {
  const entries: TarEntry[] = [];
  const reader = new TarReader((e) => entries.push(e));
  if (chunking === "whole") {
    const copy = data.slice();
    reader.push(copy);
    copy.fill(0xa5);
  } else {
    const rnd = prng(data.length);
    for (let i = 0; i < data.length;) {
      const n = chunking === "random" ? 1 + Math.floor(rnd() * 3000) : chunking;
      const chunk = data.slice(i, i + n);
      reader.push(chunk);
      chunk.fill(0xa5);
      i += n;
    }
  }
  const end = reader.end();
  return { entries, end, done: reader.done };
}

/** A TarEntry as a plain JSON-comparable object (bytes as hex). */
export function plain(e: TarEntry): Record<string, unknown> {
  return {
    name: hex(e.name),
    typeflag: e.typeflag,
    headerOffset: e.headerOffset,
    offset: e.offset,
    size: e.size,
    linkname: hex(e.linkname),
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    uname: hex(e.uname),
    gname: hex(e.gname),
    mtime: [e.mtimeSeconds, e.mtimeNanos],
    devmajor: e.devmajor,
    devminor: e.devminor,
    pax: e.pax.map(([k, v]) => [hex(k), hex(v)]),
  };
}

const SPARSE_00_KEYS = new Set([
  hex(new TextEncoder().encode("GNU.sparse.offset")),
  hex(
    new TextEncoder().encode("GNU.sparse.numbytes"),
  ),
]);

/**
 * The entry Go's reader must report for an oracle member. Python differs
 * from Go in documented ways that are undone here: it strips trailing
 * slashes from directory names (so `ours` supplies the name when it only
 * differs by trailing slashes), reports the legacy `\0` typeflag as is, and
 * keeps GNU sparse 0.0 offset/numbytes records instead of folding them into
 * `GNU.sparse.map` (rebuilt from the parsed map).
 */
export function expectedFrom(m: OracleMember, ours: TarEntry | undefined): Record<string, unknown> {
  let name = m.name;
  if (m.type === "5" && ours) {
    const stripped = hex(ours.name).replace(/(2f)+$/, "");
    if (stripped === m.name) name = hex(ours.name);
  }
  let pax = m.pax;
  if (pax.some(([k]) => SPARSE_00_KEYS.has(k))) {
    pax = pax.filter(([k]) => !SPARSE_00_KEYS.has(k));
    const map = (m.sparse ?? []).flat().join(",");
    pax.push([hex(new TextEncoder().encode("GNU.sparse.map")), hex(new TextEncoder().encode(map))]);
  }
  return {
    name,
    typeflag: m.type === "\u0000" ? "0" : m.type,
    headerOffset: m.offset,
    offset: m.offset_data,
    size: m.size,
    linkname: m.linkname,
    mode: m.mode,
    uid: m.uid,
    gid: m.gid,
    uname: m.uname,
    gname: m.gname,
    mtime: m.mtime,
    devmajor: m.devmajor,
    devminor: m.devminor,
    pax,
  };
}

/** Readable name of an entry for assertion messages. */
export function nameOf(e: TarEntry): string {
  return DEC.decode(e.name);
}
