/**
 * Reading one file out of a layer through its zTOC: find the entry
 * (following links), fetch only the spans that hold it, check their
 * digests, and inflate from a checkpoint (`soci-format.md` §5.5).
 *
 * Nothing read through a zTOC is trusted before it is checked: span digests
 * cover the compressed bytes, and for gzip layers the 32 KiB window of
 * every checkpoint crossed is compared with the output that precedes it.
 * The window of the checkpoint a read starts from cannot be checked that
 * way without inflating the span before it; a read starts there only when
 * the bytes it yields provably do not depend on that window (and the
 * checkpoint's offsets check out against the file's tar header), else one
 * checkpoint early (see `docs/hardening.md`). Work and memory are bounded
 * by the spans actually read, whatever sizes and offsets the zTOC claims.
 *
 * @module
 */
import { BadInputError, NotFoundError, UnsupportedError } from "../errors.ts";
import { WINDOW_SIZE } from "../gzip/checkpoint.ts";
import { CheckpointResumer, inflateFromCheckpoint } from "../gzip/resume.ts";
import { parseHeader } from "../tar/header.ts";
import { Sha256 } from "../oci/digest.ts";
import { cleanPath } from "./clean_path.ts";
import { MAX_SPAN_BYTES } from "./limits.ts";
import type { FileMetadata, ZtocHeader } from "./model.ts";
import { type Zinfo, zinfoOf } from "./spans.ts";

const utf8 = new TextDecoder();
const MAX_LINKS = 40;

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
function spanRange(z: ZtocHeader, zinfo: Zinfo, i: number): [number, number] {
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
  z: ZtocHeader,
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
function checkReadable(z: ZtocHeader, zinfo: Zinfo, name: string, off: number, size: number): void {
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

  /** The last `n` (≤ 32 KiB) bytes of output. */
  tail(n: number): Uint8Array {
    return this.#history.subarray(WINDOW_SIZE - n);
  }

  /**
   * Takes output `bytes` that start at output offset `pos`, checking the
   * window of every checkpoint they reach; their part within `[from, to)`
   * is copied to `out`.
   */
  pass(bytes: Uint8Array, pos: number, from: number, to: number, out?: Uint8Array[]): void {
    while (bytes.length > 0) {
      if (pos === this.#due) this.#check();
      const n = Math.min(bytes.length, this.#due - pos);
      const piece = bytes.subarray(0, n);
      this.#feed(piece);
      const a = Math.max(from, pos);
      const b = Math.min(to, pos + n);
      if (b > a) out?.push(copy(piece, a - pos, b - pos));
      pos += n;
      bytes = bytes.subarray(n);
    }
  }

  /** Takes output bytes (never crossing the next due checkpoint). */
  #feed(bytes: Uint8Array): void {
    const h = this.#history;
    if (bytes.length >= WINDOW_SIZE) {
      h.set(bytes.subarray(bytes.length - WINDOW_SIZE));
    } else if (bytes.length > 0) {
      h.copyWithin(0, bytes.length);
      h.set(bytes, WINDOW_SIZE - bytes.length);
    }
  }

  /** Called when the output reached the next checkpoint: compares the window, moves on. */
  #check(): void {
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
 * spans that hold it. For gzip the read starts at the checkpoint of the
 * file's first span when the bytes it yields cannot depend on that
 * checkpoint's window (inflated side by side with the complement window
 * until the two agree for 32 KiB, before the file) and the file's tar
 * header is where the TOC says; otherwise (or if that does not inflate) it
 * also reads the span before, from whose output the window is checked.
 * Each span's compressed bytes are checked against its digest before any of
 * it is decompressed, and every checkpoint window crossed is checked
 * against the output before the bytes after it are yielded, so a corrupt
 * layer or zTOC yields nothing wrong: it fails with a BadInputError naming
 * the span or checkpoint. A zTOC whose spans do not match its
 * `max_span_id` and span digests, or whose file lies outside its tar stream,
 * is refused before anything is read.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { extractFile, findFile } from "./extract.ts";
 * import { buildZtoc } from "./builder.ts";
 * import { scanLayer } from "./scan.ts";
 * import { readFileChunks } from "../image/file_layer.ts";
 * const layer = "fixtures/sample-image/blobs/sha256/" +
 *   "db5df77dec8b7d533aed0cff4e6b58d4130d063b42d6d988c110fdbbb8e54d0b";
 * const { size } = await Deno.stat(layer);
 * const ztoc = buildZtoc(await scanLayer(readFileChunks(layer, 0, size),
 *   { compression: "detect", spanSize: 1 << 16 }));
 * const entry = findFile(ztoc.toc, "app/main.js");
 * let text = "";
 * for await (const part of extractFile(ztoc, entry, (s, e) => readFileChunks(layer, s, e))) {
 *   text += new TextDecoder().decode(part);
 * }
 * assert.equal(text.length, entry.uncompressedSize);
 * ```
 */
export async function* extractFile(
  z: ZtocHeader,
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
  const fileEnd = off + size;
  if (first > 0 && off - zinfo.checkpoints[first].out >= PROBE_MIN) {
    const fallback = yield* fromOwnCheckpoint(z, zinfo, entry, first, last, read);
    if (fallback === undefined) return;
    yield* fromCheckpointBefore(
      zinfo,
      first - 1,
      last,
      off,
      fileEnd,
      replay(z, zinfo, first, last, read, fallback),
    );
    return;
  }
  // Checkpoint 0 has no window to check.
  const start = first > 0 ? first - 1 : 0;
  yield* fromCheckpointBefore(
    zinfo,
    start,
    last,
    off,
    fileEnd,
    verifiedSpans(z, zinfo, start, last, read),
  );
}

/**
 * Inflates from checkpoint `start` (the one before the file's span, or 0)
 * and yields `[off, fileEnd)`: every window crossed is checked against the
 * real output, the first span's included.
 */
async function* fromCheckpointBefore(
  zinfo: Zinfo,
  start: number,
  last: number,
  off: number,
  fileEnd: number,
  chunks: AsyncIterable<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  const cp = zinfo.checkpoints[start];
  // The inflater stops reading once it has the file: the rest of the last
  // span is read afterwards (its digest is checked before any of its bytes
  // are inflated anyway). An early stop or a failure closes the reader.
  const it = chunks[Symbol.asyncIterator]();
  let drained = false;
  try {
    if (!(cp.out >= 0 && cp.out <= off)) {
      throw new BadInputError(`invalid ztoc: checkpoint ${start} starts after the file's data`);
    }
    const windows = new WindowCheck(zinfo, start, last);
    const shared: AsyncIterable<Uint8Array> = {
      [Symbol.asyncIterator]: () => ({ next: () => it.next() }),
    };
    let pos = cp.out;
    for await (const out of inflateFromCheckpoint(cp, shared, 0, fileEnd - cp.out)) {
      const file: Uint8Array[] = [];
      windows.pass(out, pos, off, fileEnd, file);
      yield* file;
      pos += out.length;
    }
    while (!(await it.next()).done) { /* read to the end of the span */ }
    drained = true;
  } finally {
    if (!drained) await it.return?.(undefined);
  }
}

/**
 * Where the read of the file's own checkpoint stood when it gave up: the
 * compressed chunks it took (from the start of the file's first span) and
 * the reader of the rest, for {@link replay}.
 */
interface Fallback {
  held: Uint8Array[];
  rest?: AsyncIterator<Uint8Array>;
}

/**
 * The compressed stream of the checked path after a fallback: the span
 * before the file's (read now, digest-checked), then what the first
 * attempt read, then the rest of its reader.
 */
async function* replay(
  z: ZtocHeader,
  zinfo: Zinfo,
  first: number,
  last: number,
  read: RangeReader,
  fb: Fallback,
): AsyncGenerator<Uint8Array> {
  try {
    if (fb.rest === undefined) {
      yield* verifiedSpans(z, zinfo, first - 1, last, read);
      return;
    }
    yield* verifiedSpans(z, zinfo, first - 1, first - 1, read);
    // Neighbouring spans may share one byte (F§5.3): it was just yielded.
    let skip = spanRange(z, zinfo, first - 1)[1] - spanRange(z, zinfo, first)[0];
    for (const chunk of fb.held) {
      const n = Math.min(skip, chunk.length);
      skip -= n;
      if (chunk.length > n) yield chunk.subarray(n);
    }
    fb.held.length = 0;
    for (;;) {
      const r = await fb.rest.next();
      if (r.done) return;
      const n = Math.min(skip, r.value.length);
      skip -= n;
      if (r.value.length > n) yield r.value.subarray(n);
    }
  } finally {
    await fb.rest?.return?.(undefined);
  }
}

/** Output bytes inflated at a time while the two inflaters are compared. */
const PROBE_STEP = 64 * 1024;
/**
 * The window dependence is given up on after this much output: the output
 * of most spans stops depending on the starting window within a few
 * hundred KiB, a few never do.
 */
const PROBE_LIMIT = 1 << 20;
/** Fewest bytes between the checkpoint and the file for the probe to be worth it. */
const PROBE_MIN = WINDOW_SIZE + 512;
/** Output bytes inflated at a time while yielding the file. */
const OUT_STEP = 1 << 20;

/**
 * Reads the file from its own checkpoint, without inflating the span
 * before it, when that is as safe as the checked path: the checkpoint's
 * window is unchecked, so the bytes read must not depend on it, and its
 * offsets are unchecked, so the output must be where the TOC says.
 *
 * * Window: deflate copies bytes from the window but never decides
 *   anything from their values, so inflating with the stored window and
 *   with its complement (every byte different) gives equal bytes exactly
 *   where the output does not depend on the window; once 32 KiB in a row
 *   are equal, everything after is independent of it too. The two run side
 *   by side until then.
 * * Offsets: the 512 bytes before the file's data must be its tar header
 *   (valid checksum, the file's size and name).
 *
 * Nothing is yielded before both hold. If they do not (the file starts
 * too close to the checkpoint, the output depends on the window for too
 * long, the header does not match, the data does not inflate), the read
 * returns a {@link Fallback} and goes on the checked path, from the span
 * before, reusing what it read. Checkpoints crossed later are checked as
 * on the checked path.
 */
async function* fromOwnCheckpoint(
  z: ZtocHeader,
  zinfo: Zinfo,
  entry: FileMetadata,
  first: number,
  last: number,
  read: RangeReader,
): AsyncGenerator<Uint8Array, Fallback | undefined> {
  const cp = zinfo.checkpoints[first];
  let windows: WindowCheck;
  try {
    windows = new WindowCheck(zinfo, first, last);
  } catch (e) {
    if (e instanceof BadInputError) return { held: [] };
    throw e;
  }
  const off = entry.uncompressedOffset;
  const fileEnd = off + entry.uncompressedSize;
  const it = verifiedSpans(z, zinfo, first, last, read)[Symbol.asyncIterator]();
  let handedOver = false;
  const main = new CheckpointResumer(cp);
  let probe: CheckpointResumer | undefined = new CheckpointResumer(
    cp,
    cp.window.map((b) => b ^ 0xff),
  );
  const held: Uint8Array[] = [];
  /** Output of `main` not yet compared, from `cmpFrom`. */
  const cmp = new Uint8Array(PROBE_STEP);
  let agree = 0;
  try {
    // Up to the file's first byte: both inflaters, then the decision.
    const target = off - cp.out;
    let sure = false;
    /** A failed read (a span that does not match its digest): fails the read on any path. */
    let readFailed: unknown;
    try {
      for (;;) {
        if (main.produced >= target) {
          sure = probe === undefined && headerMatches(windows.tail(512), entry);
          break;
        }
        if (main.needsInput) {
          let r;
          try {
            r = await it.next();
          } catch (e) {
            readFailed = e;
            throw e;
          }
          if (r.done) break;
          held.push(r.value);
          main.feed(r.value);
          probe?.feed(r.value);
        }
        const from = main.produced;
        main.run(Math.min(target, from + PROBE_STEP), (v) => {
          const at = main.produced - v.length;
          windows.pass(v, cp.out + at, off, fileEnd);
          if (probe) cmp.set(v, at - from);
        });
        if (probe === undefined) continue;
        let at = from;
        probe.run(main.produced, (v) => {
          const base = at - from;
          for (let i = 0; i < v.length; i++) agree = v[i] === cmp[base + i] ? agree + 1 : 0;
          at += v.length;
        });
        if (probe.produced !== main.produced) break;
        if (agree >= WINDOW_SIZE) {
          probe.free();
          probe = undefined;
        } else if (main.produced >= PROBE_LIMIT) break;
      }
    } catch (e) {
      // Data that does not inflate from this checkpoint: the checked path decides.
      if (!(e instanceof BadInputError) || e === readFailed) throw e;
    }
    if (!sure) {
      handedOver = true;
      return { held, rest: it };
    }
    held.length = 0;
    probe?.free();
    // The file: one inflater, checkpoints crossed checked as on the checked path.
    const end = fileEnd - cp.out;
    while (main.produced < end) {
      if (main.needsInput) {
        const r = await it.next();
        if (r.done) {
          throw new BadInputError(
            `cannot decompress span: compressed data ended ${end - main.produced} bytes short`,
          );
        }
        main.feed(r.value);
      }
      const out: Uint8Array[] = [];
      main.run(Math.min(end, main.produced + OUT_STEP), (v) => {
        windows.pass(v, cp.out + main.produced - v.length, off, fileEnd, out);
      });
      for (const piece of out) yield piece;
    }
    while (!(await it.next()).done) { /* read to the end of the span */ }
    return undefined;
  } finally {
    main.free();
    probe?.free();
    if (!handedOver) await it.return?.(undefined);
  }
}

/**
 * Whether `block` is the tar header of `entry`: a valid header whose size
 * (unless a PAX record sets it) and name (unless a PAX record sets it, or
 * it is a long name the header can only begin) are the entry's.
 */
function headerMatches(block: Uint8Array, entry: FileMetadata): boolean {
  let h;
  try {
    h = parseHeader(block, 0);
  } catch {
    return false;
  }
  const pax = new Set(entry.xattrs.map(([k]) => utf8.decode(k)));
  if (!pax.has("size") && h.size !== entry.uncompressedSize) return false;
  if (pax.has("path")) return true;
  const name = entry.name;
  if (h.name.length === name.length || (name.length > 100 && h.name.length >= 100)) {
    for (let i = 0; i < h.name.length; i++) if (h.name[i] !== name[i]) return false;
    return h.name.length > 0;
  }
  return false;
}
