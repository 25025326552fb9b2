/**
 * The file tree an image's layers make together, by the OCI image spec's
 * changeset rules (image-spec `layer.md`): layers apply bottom to top, an
 * upper entry replaces a lower one at the same path (a directory over a
 * directory only updates its metadata and keeps the children; anything else
 * drops what the lower layers had under that path), a whiteout `.wh.NAME` hides `NAME`
 * and everything under it in the lower layers, an opaque marker
 * `.wh..wh..opq` hides every lower entry under its directory, and
 * whiteouts never hide entries of their own layer. A directory that no
 * layer lists but that holds entries exists implicitly.
 *
 * Two views of the same rules: {@link mergeLayers} builds the whole tree
 * (for `ls`), {@link lookupPath} answers for one path walking the layers
 * from the top and loading only the ones it needs (for `cat`), and
 * {@link resolvePath} follows symlinks, within the image, on top of it.
 *
 * Names are the raw tar names (decoded as UTF-8) cleaned: no leading `/`
 * or `./`, no trailing `/`, `.` and empty parts dropped, `..` applied
 * (never above the root). The root directory itself is not an entry.
 *
 * @module
 */
import { BadInputError, NotFoundError } from "../errors.ts";
import { cleanPath } from "../ztoc/clean_path.ts";
import type { FileMetadata } from "../ztoc/model.ts";

export { cleanPath };

/** The prefix of a whiteout's base name: `.wh.NAME` hides `NAME`. */
export const WHITEOUT_PREFIX = ".wh.";
/** The base name of an opaque directory marker. */
export const OPAQUE_MARKER = ".wh..wh..opq";
/** Symlinks followed in one path before giving up (Linux's limit). */
const MAX_SYMLINKS = 40;

const utf8 = new TextDecoder();

/** An entry of the merged tree. */
export interface TreeNode {
  /** Cleaned path, e.g. `etc/os-release`. */
  path: string;
  /** The TOC entry that made it (for an implicit directory, a synthetic one). */
  meta: FileMetadata;
  /** Index of the layer it comes from (0 = the lowest). */
  layer: number;
  /** A directory no layer lists, made for the entries under it. */
  implicit: boolean;
  /** For a hard link: the entry it links to (its data is that entry's). */
  target?: TreeNode;
}

function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "" : path.slice(0, i);
}

function baseOf(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/**
 * The strict ancestors of a path, nearest first (the root `""` not included).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ancestors } from "./merged_tree.ts";
 * assert.deepEqual(ancestors("a/b/c"), ["a/b", "a"]);
 * ```
 */
export function ancestors(path: string): string[] {
  const out: string[] = [];
  for (let p = parentOf(path); p !== ""; p = parentOf(p)) out.push(p);
  return out;
}

/**
 * A tar name as text: ASCII directly, anything else through UTF-8 decoding.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nameText } from "./merged_tree.ts";
 * assert.equal(nameText(new Uint8Array([0x61, 0xff])), "a\ufffd");
 * ```
 */
export function nameText(b: Uint8Array): string {
  if (b.length > 1024) return utf8.decode(b);
  for (let i = 0; i < b.length; i++) if (b[i] >= 0x80) return utf8.decode(b);
  return String.fromCharCode.apply(null, b as unknown as number[]);
}

/** What a whiteout name does (see {@link markerOf}). */
export interface Marker {
  /** An opaque marker: the directory whose lower content it hides. */
  opaque?: string;
  /** A whiteout: the path it hides in the lower layers. */
  hides?: string;
}

/**
 * What a cleaned path is for the merge when its base name starts with
 * `.wh.`: an opaque marker (`{ opaque: dir }`), a whiteout (`{ hides: path
 * }`), or nothing at all (`{}`: AUFS internals `.wh..wh.*`, or a whiteout
 * of `.` or `..`). `undefined` for an ordinary entry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { markerOf } from "./merged_tree.ts";
 * assert.deepEqual(markerOf("a/.wh.b"), { hides: "a/b" });
 * assert.deepEqual(markerOf("c/.wh..wh..opq"), { opaque: "c" });
 * assert.deepEqual(markerOf("d/.wh..wh.plnk"), {});
 * assert.equal(markerOf("a/b"), undefined);
 * ```
 */
export function markerOf(path: string): Marker | undefined {
  const base = baseOf(path);
  if (!base.startsWith(WHITEOUT_PREFIX)) return undefined;
  const dir = parentOf(path);
  if (base === OPAQUE_MARKER) return { opaque: dir };
  // `.wh..wh.*` names other than the opaque marker are AUFS internals.
  if (base.startsWith(WHITEOUT_PREFIX + WHITEOUT_PREFIX)) return {};
  const hidden = (dir === "" ? "" : dir + "/") + base.slice(WHITEOUT_PREFIX.length);
  if (hidden !== "" && baseOf(hidden) !== "." && baseOf(hidden) !== "..") return { hides: hidden };
  return {};
}

/**
 * What {@link lookupPath} needs of one layer: its entries by cleaned path
 * and the paths it hides below it. {@link LayerFiles} (the whole TOC,
 * indexed) is one; `ZtocLayerIndex` (over a lazily read zTOC) another.
 */
export interface LayerLookup {
  /** The layer's index in the image (0 = the lowest). */
  readonly layer: number;
  /** The entry at a cleaned path (the last one in tar order); whiteouts are not entries. */
  entry(path: string): FileMetadata | undefined;
  /** Whether entries of this layer (whiteouts included) lie under directory `path`. */
  impliesDir(path: string): boolean;
  /**
   * True when this layer hides `path` of the lower layers: a whiteout of
   * it or of a directory above it, an opaque marker in a directory above
   * it, or a non-directory entry of its own at a directory above it.
   */
  hidesBelow(path: string): boolean;
}

const noBytes = new Uint8Array(0);
const utf8Encoder = new TextEncoder();

/** A synthetic directory entry for an implicit directory. */
function implicitDir(path: string): FileMetadata {
  return {
    name: utf8Encoder.encode(path + "/"),
    type: "dir",
    uncompressedOffset: 0,
    uncompressedSize: 0,
    linkname: noBytes,
    mode: 0o755,
    uid: 0,
    gid: 0,
    uname: noBytes,
    gname: noBytes,
    modTime: "",
    devmajor: 0,
    devminor: 0,
    xattrs: [],
  };
}

/**
 * One layer's TOC, indexed for the merge rules: its entries by cleaned path
 * (a later entry for the same path wins, as extraction would), its
 * whiteouts and opaque directories, and the directories its entries imply.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LayerFiles } from "./merged_tree.ts";
 * import type { FileMetadata } from "../ztoc/model.ts";
 * const b = (s: string) => new TextEncoder().encode(s);
 * const e = (name: string, type = "reg"): FileMetadata => ({
 *   name: b(name), type, uncompressedOffset: 0, uncompressedSize: 0, linkname: b(""),
 *   mode: 0o644, uid: 0, gid: 0, uname: b(""), gname: b(""), modTime: "",
 *   devmajor: 0, devminor: 0, xattrs: [],
 * });
 * const l = new LayerFiles([e("./a/"), e("./a/.wh.b"), e("./c/.wh..wh..opq"), e("./c/d")], 1);
 * assert.deepEqual([...l.whiteouts], ["a/b"]);
 * assert.deepEqual([...l.opaque], ["c"]);
 * assert.deepEqual([...l.entries.keys()], ["a", "c/d"]);
 * ```
 */
export class LayerFiles implements LayerLookup {
  /** The layer's index in the image (0 = the lowest). */
  readonly layer: number;
  /** Entries by cleaned path, in tar order of their first appearance (whiteouts left out). */
  readonly entries: Map<string, FileMetadata> = new Map();
  /** Paths hidden in the lower layers by `.wh.NAME` files. */
  readonly whiteouts: Set<string> = new Set();
  /** Directories whose lower content is hidden by `.wh..wh..opq`. */
  readonly opaque: Set<string> = new Set();
  /** Directories that hold entries of this layer (the root not included). */
  readonly impliedDirs: Set<string> = new Set();
  /**
   * Paths with a non-directory entry in this layer (even one a later
   * directory entry replaced): what the lower layers had under them is gone.
   */
  readonly nonDirs: Set<string> = new Set();

  /** Indexes `toc`, the TOC of layer number `layer`. */
  constructor(toc: Iterable<FileMetadata>, layer: number) {
    this.layer = layer;
    for (const m of toc) {
      const path = cleanPath(nameText(m.name));
      if (path === "") continue; // the root directory
      const marker = markerOf(path);
      if (marker !== undefined) {
        if (marker.opaque !== undefined) this.opaque.add(marker.opaque);
        else if (marker.hides !== undefined) this.whiteouts.add(marker.hides);
      } else {
        this.entries.delete(path); // a later entry wins, and takes the later place
        this.entries.set(path, m);
        if (m.type !== "dir") this.nonDirs.add(path);
      }
      for (let i = path.lastIndexOf("/"); i > 0; i = path.lastIndexOf("/", i - 1)) {
        const a = path.slice(0, i);
        if (this.impliedDirs.has(a)) break;
        this.impliedDirs.add(a);
      }
    }
  }

  /** The entry at a cleaned path (see {@link LayerLookup.entry}). */
  entry(path: string): FileMetadata | undefined {
    return this.entries.get(path);
  }

  /** Whether entries of this layer lie under directory `path`. */
  impliesDir(path: string): boolean {
    return this.impliedDirs.has(path);
  }

  /**
   * True when this layer hides `path` of the lower layers: a whiteout of
   * it or of a directory above it, an opaque marker in a directory above
   * it, or a non-directory entry of its own at a directory above it.
   */
  hidesBelow(path: string): boolean {
    if (this.whiteouts.has(path)) return true;
    for (const a of ancestors(path)) {
      if (this.whiteouts.has(a) || this.opaque.has(a) || this.nonDirs.has(a)) return true;
    }
    return this.opaque.has("") && path !== "";
  }
}

/** Resolves a hard link's target name to a node, or undefined. */
type TargetLookup = (path: string) => TreeNode | undefined;

function linkTarget(
  node: TreeNode,
  own: LayerLookup,
  lower: TargetLookup,
  depth = 0,
): TreeNode | undefined {
  const name = cleanPath(utf8.decode(node.meta.linkname));
  const same = own.entry(name);
  let target: TreeNode | undefined = same !== undefined && name !== node.path
    ? { path: name, meta: same, layer: own.layer, implicit: false }
    : lower(name);
  if (target?.meta.type === "hardlink" && depth < MAX_SYMLINKS) {
    if (target.target === undefined) {
      target.target = target.layer === own.layer
        ? linkTarget(target, own, lower, depth + 1)
        : undefined;
    }
    target = target.target ?? target;
  }
  // A hard link names a file; a directory (or nothing) there leaves it dangling.
  return target?.meta.type === "dir" ? undefined : target;
}

/**
 * Merges the TOCs of an image's layers (lowest first) into its file tree,
 * by the rules of the module documentation. The map is keyed by cleaned
 * path and ordered by path (byte order of the UTF-16 text). Hard links
 * get their `target` when it exists (in their own layer, else below).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LayerFiles, mergeLayers } from "./merged_tree.ts";
 * import type { FileMetadata } from "../ztoc/model.ts";
 * const b = (s: string) => new TextEncoder().encode(s);
 * const e = (name: string, type = "reg"): FileMetadata => ({
 *   name: b(name), type, uncompressedOffset: 0, uncompressedSize: 0, linkname: b(""),
 *   mode: 0o644, uid: 0, gid: 0, uname: b(""), gname: b(""), modTime: "",
 *   devmajor: 0, devminor: 0, xattrs: [],
 * });
 * const lower = new LayerFiles([e("etc/", "dir"), e("etc/a"), e("etc/b"), e("tmp/", "dir"), e("tmp/x")], 0);
 * const upper = new LayerFiles([e("etc/.wh.a"), e("tmp/.wh..wh..opq"), e("tmp/y")], 1);
 * const tree = mergeLayers([lower, upper]);
 * assert.deepEqual([...tree.keys()], ["etc", "etc/b", "tmp", "tmp/y"]);
 * assert.equal(tree.get("tmp/y")!.layer, 1);
 * ```
 */
export function mergeLayers(layers: readonly LayerFiles[]): Map<string, TreeNode> {
  const tree = new Map<string, TreeNode>();
  for (const files of layers) {
    // Hard links into lower layers see the tree as it was before this layer.
    let hasLinks = false;
    for (const m of files.entries.values()) if (m.type === "hardlink") hasLinks = true;
    const lowerView = hasLinks ? new Map(tree) : tree;
    // 1. This layer's whiteouts and opaque markers act on the layers below,
    //    and so do its non-directories: what was under them is gone. A node's
    //    directories are all in the tree, so only the non-directories at a
    //    path of the tree can cut anything.
    const cuts = new Set([...files.whiteouts, ...files.opaque]);
    for (const p of files.nonDirs) if (tree.has(p)) cuts.add(p);
    if (files.opaque.has("")) tree.clear();
    else if (cuts.size > 0) {
      for (const p of tree.keys()) {
        let gone = files.whiteouts.has(p);
        for (let i = p.lastIndexOf("/"); !gone && i > 0; i = p.lastIndexOf("/", i - 1)) {
          gone = cuts.has(p.slice(0, i));
        }
        if (gone) tree.delete(p);
      }
    }
    // 2. The directories its entries (and whiteouts) sit in, shallowest first.
    //    (Those it has a directory entry for are set in step 3.)
    const implied = [...files.impliedDirs].sort((a, b) => a.length - b.length);
    for (const dir of implied) {
      if (files.entries.get(dir)?.type === "dir") continue;
      const at = tree.get(dir);
      if (at === undefined || at.meta.type !== "dir") {
        tree.set(dir, { path: dir, meta: implicitDir(dir), layer: files.layer, implicit: true });
      }
    }
    // 3. Its entries, in order.
    const links: TreeNode[] = [];
    for (const [path, meta] of files.entries) {
      const node: TreeNode = { path, meta, layer: files.layer, implicit: false };
      tree.set(path, node);
      if (meta.type === "hardlink") links.push(node);
    }
    for (const node of links) {
      node.target = linkTarget(node, files, (p) => lowerView.get(p));
    }
  }
  return new Map([...tree.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Gives the indexed TOC of layer `i` (loading it when needed). */
export type LayerLoader = (layer: number) => Promise<LayerLookup>;

/**
 * The node at `path` in the merged tree of `count` layers, walking from
 * the top layer down and loading only the layers that decide (see the
 * module documentation); `undefined` when the path does not exist. No
 * symlink is followed (see {@link resolvePath}). Gives the same answer as
 * {@link mergeLayers} for every path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LayerFiles, lookupPath } from "./merged_tree.ts";
 * import type { FileMetadata } from "../ztoc/model.ts";
 * const b = (s: string) => new TextEncoder().encode(s);
 * const e = (name: string, type = "reg"): FileMetadata => ({
 *   name: b(name), type, uncompressedOffset: 0, uncompressedSize: 0, linkname: b(""),
 *   mode: 0o644, uid: 0, gid: 0, uname: b(""), gname: b(""), modTime: "",
 *   devmajor: 0, devminor: 0, xattrs: [],
 * });
 * const layers = [new LayerFiles([e("a"), e("b")], 0), new LayerFiles([e(".wh.a")], 1)];
 * const loaded: number[] = [];
 * const load = (i: number) => { loaded.push(i); return Promise.resolve(layers[i]); };
 * assert.equal(await lookupPath(2, load, "a"), undefined);
 * assert.deepEqual(loaded, [1]); // the top layer decided: layer 0 was not needed
 * assert.equal((await lookupPath(2, load, "/b"))!.layer, 0);
 * ```
 */
export async function lookupPath(
  count: number,
  load: LayerLoader,
  path: string,
  below = count,
): Promise<TreeNode | undefined> {
  const p = cleanPath(path);
  if (p === "") return undefined;
  let implied: TreeNode | undefined;
  for (let i = Math.min(count, below) - 1; i >= 0; i--) {
    const files = await load(i);
    const meta = files.entry(p);
    if (meta !== undefined) {
      if (implied !== undefined && meta.type !== "dir") return implied;
      const node: TreeNode = { path: p, meta, layer: files.layer, implicit: false };
      if (meta.type === "hardlink") {
        // The names the link (through links of this layer) needs from below,
        // looked up first; then the link is resolved with them.
        const asked = new Set<string>();
        linkTarget(node, files, (n) => {
          asked.add(n);
          return undefined;
        });
        const below = new Map<string, TreeNode | undefined>();
        for (const n of asked) below.set(n, await lookupPath(count, load, n, i));
        node.target = linkTarget(node, files, (n) => below.get(n));
      }
      return node;
    }
    // The lowest layer that implies the directory (with nothing hiding it in
    // between) is the one that made it, as a bottom-up merge would.
    if (files.impliesDir(p)) {
      implied = { path: p, meta: implicitDir(p), layer: files.layer, implicit: true };
    }
    if (files.hidesBelow(p)) return implied;
  }
  return implied;
}

/** Options of {@link resolvePath}. */
export interface ResolveOptions {
  /** Follow a symlink at the last component too (default true). */
  followLast?: boolean;
}

/**
 * Resolves `path` in an image, following symlinks component by component
 * within the image (an absolute target starts again at the image's root,
 * `..` never leaves it), at most 40 of them. Missing components are a
 * `NotFoundError` `no such file or directory: <path>`; a non-directory in
 * the middle, `not a directory: <path>`; too many links, a BadInputError.
 * A directory that is only implied by its entries resolves too.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolvePath, type TreeNode } from "./merged_tree.ts";
 * import type { FileMetadata } from "../ztoc/model.ts";
 * const b = (s: string) => new TextEncoder().encode(s);
 * const node = (path: string, type: string, link = ""): TreeNode => ({
 *   path, layer: 0, implicit: false,
 *   meta: { name: b(path), type, uncompressedOffset: 0, uncompressedSize: 0,
 *     linkname: b(link), mode: 0o777, uid: 0, gid: 0, uname: b(""), gname: b(""),
 *     modTime: "", devmajor: 0, devminor: 0, xattrs: [] } as FileMetadata,
 * });
 * const tree = new Map([
 *   ["usr", node("usr", "dir")], ["usr/bin", node("usr/bin", "dir")],
 *   ["usr/bin/py3.11", node("usr/bin/py3.11", "reg")],
 *   ["usr/bin/py", node("usr/bin/py", "symlink", "py3.11")],
 *   ["bin", node("bin", "symlink", "/usr/bin")],
 * ]);
 * const found = await resolvePath((p) => Promise.resolve(tree.get(p)), "/bin/py");
 * assert.equal(found.path, "usr/bin/py3.11");
 * ```
 */
export async function resolvePath(
  lookup: (path: string) => Promise<TreeNode | undefined>,
  path: string,
  options: ResolveOptions = {},
): Promise<TreeNode> {
  const followLast = options.followLast ?? true;
  let parts = path.split("/").filter((s) => s !== "" && s !== ".");
  const done: string[] = [];
  let links = 0;
  let node: TreeNode | undefined;
  if (parts.length === 0) throw new BadInputError(`${path || '""'} is the root directory`);
  while (parts.length > 0) {
    const part = parts.shift()!;
    if (part === "..") {
      done.pop();
      node = undefined;
      continue;
    }
    const candidate = [...done, part].join("/");
    node = await lookup(candidate);
    const last = parts.length === 0;
    if (node === undefined) throw new NotFoundError(`no such file or directory: ${path}`);
    if (node.meta.type === "symlink" && (!last || followLast)) {
      if (++links > MAX_SYMLINKS) {
        throw new BadInputError(`too many levels of symbolic links: ${path}`);
      }
      const link = utf8.decode(node.meta.linkname);
      if (link.startsWith("/")) done.length = 0;
      parts = [...link.split("/").filter((s) => s !== "" && s !== "."), ...parts];
      node = undefined;
      continue;
    }
    if (!last && node.meta.type !== "dir") {
      throw new NotFoundError(`not a directory: ${candidate} (in ${path})`);
    }
    done.push(part);
  }
  if (node === undefined) {
    // The path ended on `..` or a symlink to a directory: look the result up.
    const at = done.join("/");
    if (at === "") throw new BadInputError(`${path} is the root directory`);
    node = await lookup(at);
    if (node === undefined) throw new NotFoundError(`no such file or directory: ${path}`);
  }
  return node;
}
