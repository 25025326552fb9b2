/**
 * Reading one file out of a layer through its zTOC: find the entry
 * (following links), fetch only the spans that hold it, check their
 * digests, and inflate from a checkpoint (`soci-format.md` §5.5).
 *
 * Nothing read through a zTOC is trusted before it is checked: span digests
 * cover the compressed bytes, and for gzip layers the 32 KiB window of
 * every checkpoint crossed is compared with the output that precedes it
 * (which costs one extra span per read: inflating starts one checkpoint
 * early). Work and memory are bounded by the spans actually read, whatever
 * sizes and offsets the zTOC claims.
 *
 * @module
 */
import { BadInputError, NotFoundError, UnsupportedError } from "../errors.ts";
import { WINDOW_SIZE } from "../gzip/checkpoint.ts";
import { inflateFromCheckpoint } from "../gzip/resume.ts";
import { Sha256 } from "../oci/digest.ts";
import { MAX_SPAN_BYTES } from "./limits.ts";
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
 * file). Links are followed, up to 40 hops: a link's target is first looked
 * up as the exact archive path (upstream's rule), and a relative symlink
 * target that is not there is then resolved against the link's directory.
 * A name that is not there is a NotFoundError `file <name> does not exist
 * in metadata`.
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
    let next = lookup(link);
    if (next === undefined && current.type === "symlink" && !link.startsWith("/")) {
      const own = cleanPath(nameOf(current));
      const dir = own.includes("/") ? own.slice(0, own.lastIndexOf("/")) : "";
      next = lookup(`${dir}/${link}`);
    }
    if (next === undefined) {
      throw new NotFoundError(`file ${link} does not exist in metadata (link from ${name})`);
    }
    current = next;
  }
  return current;
}

/**
 * Checks that an entry found by {@link findFile} has bytes to read: a
 * directory, a device or a fifo is a `BadInputError` saying what it is, and
 * a regular file recorded as a GNU sparse file (by a tool that indexed it
 * anyway) an `UnsupportedError` (its stored bytes are not the file's).
 * Regular files, empty ones included, pass.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkFileKind } from "./extract.ts";
 * import type { FileMetadata } from "./model.ts";
 * const b = (s: string) => new TextEncoder().encode(s);
 * const entry = (type: string, xattrs: Array<[Uint8Array, Uint8Array]> = []): FileMetadata => ({
 *   name: b("x"), type, linkname: b(""), uncompressedOffset: 512, uncompressedSize: 0,
 *   mode: 0, uid: 0, gid: 0, uname: b(""), gname: b(""), modTime: "", devmajor: 0,
 *   devminor: 0, xattrs,
 * });
 * checkFileKind(entry("reg"), "x");
 * assert.throws(() => checkFileKind(entry("dir"), "etc"), /^BadInputError: etc is a directory$/);
 * assert.throws(() => checkFileKind(entry("reg", [[b("GNU.sparse.major"), b("1")]]), "x"),
 *   /sparse/);
 * ```
 */
export function checkFileKind(entry: FileMetadata, name: string): void {
  const kinds: Record<string, string> = {
    dir: "a directory",
    char: "a character device",
    block: "a block device",
    fifo: "a fifo",
  };
  const kind = kinds[entry.type];
  if (kind !== undefined) throw new BadInputError(`${name} is ${kind}`);
  for (const [key] of entry.xattrs) {
    if (utf8.decode(key).startsWith("GNU.sparse.")) {
      throw new UnsupportedError(
        `${name} is a sparse file: the layer stores its data packed, which a zTOC cannot read`,
      );
    }
  }
}

/** A copy of `b[start, end)`, also when `b` is a Node Buffer (whose `slice` is a view). */
function copy(b: Uint8Array, start: number, end: number): Uint8Array {
  return new Uint8Array(b.subarray(start, end));
}

/** Reads compressed layer bytes `[start, end)`. */
export type RangeReader = (start: number, end: number) => AsyncIterable<Uint8Array>;

/**
 * The compressed range of span `i`, checked: inside the layer, not empty,
 * not larger than {@link MAX_SPAN_BYTES}, and with a digest to check it.
 */
function spanRange(z: Ztoc, zinfo: Zinfo, i: number): [number, number] {
  const [s, e] = zinfo.compressedRange(i, z.compressedArchiveSize);
  if (!(s >= 0 && s < e && e <= z.compressedArchiveSize)) {
    throw new BadInputError(
      `invalid ztoc: span ${i} covers layer bytes [${s}, ${e}), ` +
        `not inside the ${z.compressedArchiveSize}-byte layer`,
    );
  }
  if (e - s > MAX_SPAN_BYTES) {
    throw new BadInputError(
      `invalid ztoc: span ${i} is ${e - s} bytes, more than the limit of ${MAX_SPAN_BYTES} ` +
        "(MAX_SPAN_BYTES)",
    );
  }
  if (!z.spanDigests[i]) {
    throw new BadInputError(`invalid ztoc: span ${i} has no valid digest, so it cannot be checked`);
  }
  return [s, e];
}

/**
 * Yields the compressed bytes of spans `[first, last]`, each span only once
 * its sha256 matches its digest in the zTOC (so nothing from a corrupt
 * span is ever passed on). At most one span is held back at a time; span
 * ranges are worked out as the reading gets to them.
 */
async function* verifiedSpans(
  z: Ztoc,
  zinfo: Zinfo,
  first: number,
  last: number,
  read: RangeReader,
): AsyncGenerator<Uint8Array> {
  const start = spanRange(z, zinfo, first)[0];
  const end = zinfo.compressedRange(last, z.compressedArchiveSize)[1];
  // Spans being hashed: neighbours may share one byte (F§5.3), so at most two.
  const active: Array<{ i: number; s: number; e: number; hash: Sha256 }> = [];
  let nextSpan = first;
  let nextStart = start;
  // Bytes read but not handed on yet (copies: the reader may reuse its buffer).
  const held: Uint8Array[] = [];
  let heldFrom = start;
  let pos = start;
  for await (const chunk of read(start, end)) {
    const chunkEnd = Math.min(pos + chunk.length, end);
    while (nextSpan <= last && nextStart < chunkEnd) {
      const [s, e] = spanRange(z, zinfo, nextSpan);
      active.push({ i: nextSpan, s, e, hash: new Sha256() });
      nextSpan++;
      if (nextSpan <= last) nextStart = zinfo.compressedRange(nextSpan, z.compressedArchiveSize)[0];
    }
    for (const span of active) {
      const a = Math.max(span.s, pos);
      const b = Math.min(span.e, chunkEnd);
      if (b > a) span.hash.update(chunk.subarray(a - pos, b - pos));
    }
    held.push(copy(chunk, 0, chunkEnd - pos));
    pos = chunkEnd;
    let releaseTo = -1;
    while (active.length > 0 && active[0].e <= pos) {
      const span = active.shift()!;
      const want = z.spanDigests[span.i];
      const got = span.hash.digest();
      if (got !== want) {
        throw new BadInputError(
          `span ${span.i} of the layer does not match the zTOC: expected ${want}, got ${got}`,
        );
      }
      releaseTo = span.e;
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
    if (pos >= end) break;
  }
  if (pos < end) {
    throw new BadInputError(`layer ended at byte ${pos}, before the end of span ${last} (${end})`);
  }
}

/**
 * The checks made before anything is read: the span count the zinfo
 * implies matches `max_span_id` and the number of span digests (so that
 * every loop over spans is bounded by the zTOC's size), and the file lies
 * inside the tar stream the zTOC describes.
 */
function checkReadable(z: Ztoc, zinfo: Zinfo, name: string, off: number, size: number): void {
  const n = zinfo.numSpans;
  if (!(n >= 1)) throw new BadInputError("invalid ztoc: it has no spans");
  if (z.maxSpanId + 1 !== n || z.spanDigests.length !== n) {
    throw new BadInputError(
      `invalid ztoc: the zinfo has ${n} spans, but max_span_id is ${z.maxSpanId} and there are ` +
        `${z.spanDigests.length} span digests`,
    );
  }
  if (!(off >= 0 && size >= 0 && off + size <= z.uncompressedArchiveSize)) {
    throw new BadInputError(
      `invalid ztoc: ${name} has data [${off}, ${off + size}), outside the ` +
        `${z.uncompressedArchiveSize}-byte tar stream`,
    );
  }
}

/**
 * Checks each checkpoint window crossed while inflating: at output offset
 * `out` of checkpoint i, the last 32 KiB of output (the starting window
 * first, zeros before the start of the stream) must equal its window.
 */
class WindowCheck {
  readonly #zinfo: Zinfo;
  /** The last 32 KiB of output. */
  #history = new Uint8Array(WINDOW_SIZE);
  /** Next checkpoint to check, and the output offset where it is due. */
  #next: number;
  #due: number;
  readonly #last: number;

  constructor(zinfo: Zinfo, start: number, last: number) {
    this.#zinfo = zinfo;
    const cps = zinfo.checkpoints;
    for (let i = start; i < last; i++) {
      if (!(cps[i].out < cps[i + 1].out)) {
        throw new BadInputError(
          `invalid ztoc: checkpoint ${i + 1} does not come after checkpoint ${i} ` +
            `(uncompressed offsets ${cps[i].out} and ${cps[i + 1].out})`,
        );
      }
    }
    const cp = cps[start];
    if (cp.out > 0) this.#history.set(cp.window.subarray(cp.window.length - WINDOW_SIZE));
    this.#last = last;
    this.#next = start + 1;
    this.#due = this.#next <= last ? zinfo.checkpoints[this.#next].out : Infinity;
  }

  /** Output offset of the next checkpoint to check (Infinity when none is left). */
  get due(): number {
    return this.#due;
  }

  /** Takes output bytes (never crossing {@link due}). */
  feed(bytes: Uint8Array): void {
    const h = this.#history;
    if (bytes.length >= WINDOW_SIZE) {
      h.set(bytes.subarray(bytes.length - WINDOW_SIZE));
    } else if (bytes.length > 0) {
      h.copyWithin(0, bytes.length);
      h.set(bytes, WINDOW_SIZE - bytes.length);
    }
  }

  /** Called when the output reached {@link due}: compares the window, moves on. */
  check(): void {
    const i = this.#next;
    const w = this.#zinfo.checkpoints[i].window;
    const h = this.#history;
    let same = w.length === WINDOW_SIZE;
    for (let k = 0; same && k < WINDOW_SIZE; k++) same = w[k] === h[k];
    if (!same) {
      throw new BadInputError(
        `the zTOC is damaged: the window of checkpoint ${i} differs from the output of span ` +
          `${i - 1} before uncompressed offset ${this.#zinfo.checkpoints[i].out} ` +
          `(checkpoint ${i} or ${i - 1} was altered)`,
      );
    }
    this.#next = i + 1;
    this.#due = this.#next <= this.#last ? this.#zinfo.checkpoints[this.#next].out : Infinity;
  }
}

/**
 * Yields the bytes of a regular file of the layer, decompressing only the
 * spans that hold it (gzip: and the span before, for the window check).
 * Each span's compressed bytes are checked against its digest before any of
 * it is decompressed, and for gzip every checkpoint window crossed is
 * checked against the output before the bytes after it are yielded, so a
 * corrupt layer or zTOC yields nothing wrong: it fails with a BadInputError
 * naming the span or checkpoint. A zTOC whose spans do not match its
 * `max_span_id` and span digests, or whose file lies outside its tar stream,
 * is refused before anything is read.
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
  checkReadable(z, zinfo, nameOf(entry), off, size);
  const first = zinfo.spanOf(off);
  const last = Math.min(zinfo.spanOf(off + size), zinfo.numSpans - 1);
  if (zinfo.kind === "tar") {
    // Spans are layer bytes: cut the file out of them.
    let pos = spanRange(z, zinfo, first)[0];
    for await (const chunk of verifiedSpans(z, zinfo, first, last, read)) {
      const a = Math.max(off, pos);
      const b = Math.min(off + size, pos + chunk.length);
      if (b > a) yield copy(chunk, a - pos, b - pos);
      pos += chunk.length;
    }
    return;
  }
  // Inflate from the checkpoint before the file's first span, so that the
  // first span's window (and every later one) can be checked against real
  // output; checkpoint 0 has no window to check.
  const start = first > 0 ? first - 1 : 0;
  const cp = zinfo.checkpoints[start];
  if (!(cp.out >= 0 && cp.out <= off)) {
    throw new BadInputError(`invalid ztoc: checkpoint ${start} starts after the file's data`);
  }
  const windows = new WindowCheck(zinfo, start, last);
  const chunks = verifiedSpans(z, zinfo, start, last, read);
  // The inflater stops reading once it has the file: the rest of the last
  // span is read afterwards (its digest is checked before any of its bytes
  // are inflated anyway). An early stop or a failure closes the reader.
  const it = chunks[Symbol.asyncIterator]();
  const shared: AsyncIterable<Uint8Array> = {
    [Symbol.asyncIterator]: () => ({ next: () => it.next() }),
  };
  let drained = false;
  try {
    let pos = cp.out;
    for await (let out of inflateFromCheckpoint(cp, shared, 0, off + size - cp.out)) {
      while (out.length > 0) {
        if (pos === windows.due) windows.check();
        const n = Math.min(out.length, windows.due - pos);
        const piece = out.subarray(0, n);
        windows.feed(piece);
        const a = Math.max(off, pos);
        const b = Math.min(off + size, pos + n);
        if (b > a) yield copy(piece, a - pos, b - pos);
        pos += n;
        out = out.subarray(n);
      }
    }
    while (!(await it.next()).done) { /* read to the end of the span */ }
    drained = true;
  } finally {
    if (!drained) await it.return?.(undefined);
  }
}
