/**
 * Reading one file out of a layer through its zTOC: find the entry
 * (following links), fetch only the spans that hold it, check their
 * digests, and inflate from the span's checkpoint (`soci-format.md` §5.5).
 *
 * @module
 */
import { BadInputError, NotFoundError } from "../errors.ts";
import { inflateFromCheckpoint } from "../gzip/resume.ts";
import { Sha256 } from "../oci/digest.ts";
import type { FileMetadata, Ztoc } from "./model.ts";
import { type Zinfo, zinfoOf } from "./spans.ts";

const utf8 = new TextDecoder();
const MAX_LINKS = 40;

/** Normalizes a path the way tar names are compared: no `./`, no leading or doubled `/`. */
function cleanPath(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return out.join("/");
}

function nameOf(m: FileMetadata): string {
  return utf8.decode(m.name);
}

/**
 * Finds a file in a TOC. The name is first matched exactly (as upstream
 * does), then after cleaning (`/etc/x`, `./etc/x` and `etc/x` are the same
 * file). Hard links are followed to their target; symlinks too, resolved
 * against the link's directory, up to 40 hops. A name that is not there is
 * a NotFoundError `file <name> does not exist in metadata`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findFile } from "./extract.ts";
 * import type { FileMetadata } from "./model.ts";
 * const b = (s: string) => new TextEncoder().encode(s);
 * const entry = (name: string, type: string, link = ""): FileMetadata => ({
 *   name: b(name), type, linkname: b(link), uncompressedOffset: 0, uncompressedSize: 0,
 *   mode: 0, uid: 0, gid: 0, uname: b(""), gname: b(""), modTime: "", devmajor: 0,
 *   devminor: 0, xattrs: [],
 * });
 * const toc = [entry("./usr/bin/python3.11", "reg"), entry("./usr/bin/python3", "symlink", "python3.11")];
 * assert.ok(new TextDecoder().decode(findFile(toc, "/usr/bin/python3").name) === "./usr/bin/python3.11");
 * ```
 */
export function findFile(toc: FileMetadata[], name: string): FileMetadata {
  let exact: Map<string, FileMetadata> | undefined;
  let cleaned: Map<string, FileMetadata> | undefined;
  const lookup = (n: string): FileMetadata | undefined => {
    exact ??= new Map(toc.map((m) => [nameOf(m), m]));
    const hit = exact.get(n);
    if (hit) return hit;
    cleaned ??= new Map(toc.map((m) => [cleanPath(nameOf(m)), m]));
    return cleaned.get(cleanPath(n));
  };
  let current = lookup(name);
  if (current === undefined) throw new NotFoundError(`file ${name} does not exist in metadata`);
  for (let hops = 0; current.linkname.length > 0; hops++) {
    if (hops >= MAX_LINKS) throw new BadInputError(`too many levels of links at ${name}`);
    const link = utf8.decode(current.linkname);
    let target = link;
    if (current.type === "symlink" && !link.startsWith("/")) {
      const own = cleanPath(nameOf(current));
      const dir = own.includes("/") ? own.slice(0, own.lastIndexOf("/")) : "";
      target = `${dir}/${link}`;
    }
    const next = lookup(target);
    if (next === undefined) {
      throw new NotFoundError(`file ${link} does not exist in metadata (link from ${name})`);
    }
    current = next;
  }
  return current;
}

/** Reads compressed layer bytes `[start, end)`. */
export type RangeReader = (start: number, end: number) => AsyncIterable<Uint8Array>;

/**
 * Yields the compressed bytes of spans `[first, last]`, each span only once
 * its sha256 matches its digest in the zTOC (so nothing from a corrupt
 * span is ever passed on). At most one span is held back at a time.
 */
async function* verifiedSpans(
  z: Ztoc,
  zinfo: Zinfo,
  first: number,
  last: number,
  read: RangeReader,
): AsyncGenerator<Uint8Array> {
  const ranges: Array<[number, number]> = [];
  for (let i = first; i <= last; i++) {
    ranges.push(zinfo.compressedRange(i, z.compressedArchiveSize));
  }
  const start = ranges[0][0];
  const end = ranges[ranges.length - 1][1];
  const hashes = ranges.map(() => new Sha256());
  // Bytes read but not handed on yet (copies: the reader may reuse its buffer).
  const held: Uint8Array[] = [];
  let heldFrom = start;
  let pos = start;
  let next = 0; // first span not verified yet
  for await (const chunk of read(start, end)) {
    const chunkEnd = pos + chunk.length;
    for (let i = next; i < ranges.length; i++) {
      const [s, e] = ranges[i];
      if (s >= chunkEnd) break;
      const a = Math.max(s, pos);
      const b = Math.min(e, chunkEnd);
      if (b > a) hashes[i].update(chunk.subarray(a - pos, b - pos));
    }
    held.push(chunk.slice());
    pos = chunkEnd;
    let releaseTo = -1;
    while (next < ranges.length && ranges[next][1] <= pos) {
      const want = z.spanDigests[first + next];
      const got = hashes[next].digest();
      if (want && got !== want) {
        throw new BadInputError(
          `span ${first + next} of the layer does not match the zTOC: expected ${want}, ` +
            `got ${got}`,
        );
      }
      releaseTo = ranges[next][1];
      next++;
    }
    while (held.length > 0 && heldFrom < releaseTo) {
      const c = held[0];
      if (heldFrom + c.length <= releaseTo) {
        held.shift();
        heldFrom += c.length;
        yield c;
      } else {
        const n = releaseTo - heldFrom;
        held[0] = c.subarray(n);
        heldFrom = releaseTo;
        yield c.subarray(0, n);
      }
    }
  }
  if (pos < end) {
    throw new BadInputError(`layer ended at byte ${pos}, before the end of span ${last} (${end})`);
  }
}

/**
 * Yields the bytes of a regular file of the layer, decompressing only the
 * spans that hold it. Each span's compressed bytes are checked against its
 * digest before any of it is decompressed, so a corrupt layer yields
 * nothing wrong: it fails with a BadInputError naming the span.
 *
 * @example
 * ```ts ignore
 * import { extractFile, findFile } from "./extract.ts";
 * import { readFileChunks } from "../image/file_layer.ts";
 * const entry = findFile(ztoc.toc, "etc/os-release");
 * for await (const part of extractFile(ztoc, entry, (s, e) => readFileChunks("layer.tgz", s, e))) {
 *   await Deno.stdout.write(part);
 * }
 * ```
 */
export async function* extractFile(
  z: Ztoc,
  entry: FileMetadata,
  read: RangeReader,
  zinfo: Zinfo = zinfoOf(z),
): AsyncGenerator<Uint8Array> {
  if (entry.type !== "reg") {
    throw new BadInputError(`${nameOf(entry)} is not a regular file (${entry.type})`);
  }
  const off = entry.uncompressedOffset;
  const size = entry.uncompressedSize;
  if (size === 0) return;
  if (zinfo.numSpans === 0) throw new BadInputError("the zTOC has no spans");
  const first = zinfo.spanOf(off);
  const last = Math.min(zinfo.spanOf(off + size), zinfo.numSpans - 1);
  const chunks = verifiedSpans(z, zinfo, first, last, read);
  if (zinfo.kind === "tar") {
    // Spans are layer bytes: cut the file out of them.
    let pos = zinfo.compressedRange(first, z.compressedArchiveSize)[0];
    for await (const chunk of chunks) {
      const a = Math.max(off, pos);
      const b = Math.min(off + size, pos + chunk.length);
      if (b > a) yield chunk.slice(a - pos, b - pos);
      pos += chunk.length;
    }
    return;
  }
  const cp = zinfo.checkpoints[first];
  // The inflater stops reading once it has the file: the rest of the last
  // span is read afterwards (its digest is checked before any of its bytes
  // are inflated anyway). An early stop or a failure closes the reader.
  const it = chunks[Symbol.asyncIterator]();
  const shared: AsyncIterable<Uint8Array> = {
    [Symbol.asyncIterator]: () => ({ next: () => it.next() }),
  };
  let drained = false;
  try {
    yield* inflateFromCheckpoint(cp, shared, off - cp.out, size);
    while (!(await it.next()).done) { /* read to the end of the span */ }
    drained = true;
  } finally {
    if (!drained) await it.return?.(undefined);
  }
}
