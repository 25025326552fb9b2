/**
 * Benchmark layers made of real files: the machine's own installed files
 * under `/usr` trees, written as sorted tars (fixed owner, group and mtime,
 * Go-like headers from the shared test writer `tests/helpers/tar_go_writer.ts`)
 * and compressed with `gzip -6 -n`.
 *
 * The files of the roots (up to {@link REAL_MAX_FILE} each) are dealt into
 * `n` slices by hashes of their paths (n chosen so that a slice holds about
 * the asked size), so each slice is a
 * sorted tar that samples the whole tree (libraries, Python, locales,
 * documentation, icons…) the way an image layer of many packages does.
 * Directories that hold a chosen entry come along; hard links stay links.
 * Slice `i` of the same files is the same bytes on every run; the cache key
 * includes a fingerprint of the file list (names, sizes, modes, mtimes), so a
 * package installed since is noticed and the layer is made again.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { goTar, type GoTarEntry } from "../tests/helpers/tar_go_writer.ts";

/** Bumped whenever the bytes of a real-content layer change for the same files. */
export const REAL_GENERATOR_VERSION = 2;

/** Default roots of the real-content layers. */
export const REAL_ROOTS: readonly string[] = ["/usr/lib", "/usr/share"];

/** Default uncompressed size of a real-content layer: 300 MiB. */
export const REAL_LAYER_SIZE = 300 * 1024 * 1024;

/** The fixed mtime (seconds) of every entry. */
export const REAL_MTIME = 1_700_000_000;

/** One entry found under the roots, in sorted walk order. */
export interface FoundEntry {
  /** Archive name: the absolute path without its leading `/` (directories end with `/`). */
  name: string;
  /** Absolute path on this machine. */
  path: string;
  type: "0" | "2" | "5";
  size: number;
  mode: number;
  linkname?: string;
  /** `dev:ino` of a regular file with more than one link, else undefined. */
  inode?: string;
  mtime: number;
}

function compareBytes(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Every directory, regular file and symlink under `roots`, depth first,
 * siblings in name order (as `tar --sort=name`). Other file types and
 * entries that vanish while walking are left out.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { walkSorted } from "./bench_real_data.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.mkdir(`${dir}/b`);
 * await Deno.writeTextFile(`${dir}/b/x`, "x");
 * await Deno.writeTextFile(`${dir}/a`, "a");
 * const names = walkSorted([dir]).map((e) => e.name.slice(dir.length - 1));
 * assert.deepEqual(names, ["/", "/a", "/b/", "/b/x"]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function walkSorted(roots: readonly string[]): FoundEntry[] {
  const out: FoundEntry[] = [];
  const visit = (path: string): void => {
    let st: Deno.FileInfo;
    try {
      st = Deno.lstatSync(path);
    } catch {
      return;
    }
    const name = path.replace(/^\/+/, "");
    const mode = (st.mode ?? 0o644) & 0o7777;
    const mtime = Math.floor((st.mtime?.getTime() ?? 0) / 1000);
    if (st.isDirectory) {
      out.push({ name: name + "/", path, type: "5", size: 0, mode, mtime });
      let kids: string[];
      try {
        kids = [...Deno.readDirSync(path)].map((e) => e.name).sort(compareBytes);
      } catch {
        return;
      }
      for (const k of kids) visit(`${path}/${k}`);
    } else if (st.isSymlink) {
      let linkname: string;
      try {
        linkname = Deno.readLinkSync(path);
      } catch {
        return;
      }
      out.push({ name, path, type: "2", size: 0, mode, linkname, mtime });
    } else if (st.isFile) {
      const inode = (st.nlink ?? 1) > 1 ? `${st.dev}:${st.ino}` : undefined;
      out.push({ name, path, type: "0", size: st.size, mode, inode, mtime });
    }
  };
  for (const r of roots) visit(r.replace(/\/+$/, ""));
  return out;
}

/** Files larger than this are left out (a few huge binaries would unbalance the slices). */
export const REAL_MAX_FILE = 16 * 1024 * 1024;

/** FNV-1a of a string's UTF-16 code units, from `basis`. */
function pathHash(s: string, basis = 0x811c9dc5): number {
  let h = basis;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** A slice of the files under the roots, ready to be written. */
export interface RealPlan {
  /** Number of slices the files were dealt into. */
  slices: number;
  /** sha256 (hex) of the whole file list: changes when any file does. */
  fingerprint: string;
  /** The entries of each asked slice, in archive order. */
  entries: FoundEntry[][];
}

/**
 * Deals the files under `roots` into slices of about `size` bytes each and
 * returns the entries of slices `which` (with the directories above each
 * chosen entry).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { planReal } from "./bench_real_data.ts";
 * const p = planReal(["/usr/share/common-licenses"], 64 * 1024, [0, 1]);
 * assert.ok(p.slices >= 2);
 * const names = p.entries.map((s) => new Set(s.filter((e) => e.type !== "5").map((e) => e.name)));
 * assert.ok([...names[0]].every((n) => !names[1].has(n)));
 * ```
 */
export function planReal(roots: readonly string[], size: number, which: number[]): RealPlan {
  const all = walkSorted(roots).filter((e) => e.size <= REAL_MAX_FILE);
  const fp = createHash("sha256");
  let total = 0;
  for (const e of all) {
    fp.update(`${e.name}\0${e.type}\0${e.size}\0${e.mode}\0${e.mtime}\0${e.linkname ?? ""}\n`);
    total += 512 + Math.ceil(e.size / 512) * 512;
  }
  const slices = Math.max(1, Math.round(total / size));
  // Each entry goes to the lighter of two slices picked by hashes of its
  // name, in walk order ("two choices": slices end up within about one
  // large file of each other).
  const load = new Array<number>(slices).fill(0);
  const sliceOf = all.map((e) => {
    if (e.type === "5") return -1;
    const a = pathHash(e.name) % slices;
    const b = pathHash(e.name, 0x01000193) % slices;
    const pick = load[b] < load[a] ? b : a;
    load[pick] += 512 + Math.ceil(e.size / 512) * 512;
    return pick;
  });
  const entries = which.map((slice) => {
    const out: FoundEntry[] = [];
    // Directories are written once a chosen entry below them shows up.
    const pending: FoundEntry[] = [];
    for (let i = 0; i < all.length; i++) {
      const e = all[i];
      if (e.type === "5") {
        while (pending.length > 0 && !e.name.startsWith(pending[pending.length - 1].name)) {
          pending.pop();
        }
        pending.push(e);
        continue;
      }
      if (sliceOf[i] !== slice) continue;
      while (pending.length > 0 && !e.name.startsWith(pending[pending.length - 1].name)) {
        pending.pop();
      }
      // Written once: a directory already written is not pending again.
      out.push(...pending, e);
      pending.length = 0;
    }
    return out;
  });
  return { slices, fingerprint: fp.digest("hex"), entries };
}

/** What a real-content layer holds. */
export interface RealStats {
  entries: number;
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  /** Entries with a PAX header (long or non-ASCII names). */
  pax: number;
  largest: number;
  /** File bytes whose first 4 KiB hold no NUL byte (text). */
  textBytes: number;
}

/**
 * The tar stream of `entries`, in chunks: files read one at a time, every
 * entry owned by root (uid/gid 0) with mtime {@link REAL_MTIME}, and the
 * end-of-archive marker. A file whose size changed since it was listed is
 * written with the bytes read now.
 */
export async function* realTarChunks(
  entries: FoundEntry[],
  stats?: RealStats,
): AsyncGenerator<Uint8Array> {
  const links = new Map<string, string>();
  const common = { uid: 0, gid: 0, uname: "root", gname: "root", mtime: REAL_MTIME };
  for (const e of entries) {
    let spec: GoTarEntry;
    if (e.type === "5") {
      spec = { ...common, name: e.name, typeflag: "5", mode: e.mode };
      if (stats) stats.dirs++;
    } else if (e.type === "2") {
      spec = { ...common, name: e.name, typeflag: "2", mode: e.mode, linkname: e.linkname };
      if (stats) stats.symlinks++;
    } else if (e.inode !== undefined && links.has(e.inode)) {
      spec = { ...common, name: e.name, typeflag: "1", mode: e.mode, linkname: links.get(e.inode) };
      if (stats) stats.hardlinks++;
    } else {
      let data: Uint8Array;
      try {
        data = await Deno.readFile(e.path);
      } catch {
        continue; // vanished
      }
      if (e.inode !== undefined) links.set(e.inode, e.name);
      spec = { ...common, name: e.name, typeflag: "0", mode: e.mode, data };
      if (stats) {
        stats.files++;
        stats.largest = Math.max(stats.largest, data.length);
        if (!data.subarray(0, 4096).includes(0)) stats.textBytes += data.length;
      }
    }
    const bytes = goTar([spec], { endMarker: false });
    if (stats) {
      stats.entries++;
      if (bytes[156] === 0x78) stats.pax++;
    }
    yield bytes;
  }
  yield new Uint8Array(1024);
}

/** An empty {@link RealStats}. */
export function emptyRealStats(): RealStats {
  return {
    entries: 0,
    files: 0,
    dirs: 0,
    symlinks: 0,
    hardlinks: 0,
    pax: 0,
    largest: 0,
    textBytes: 0,
  };
}
