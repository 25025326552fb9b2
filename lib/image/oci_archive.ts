/**
 * `oci-archive:FILE[:TAG]`: an image in a tar of an OCI image layout (as
 * written by `skopeo copy … oci-archive:…`, `soci convert --format
 * oci-archive`, `docker save` with an `index.json`). The tar is read in
 * place: its headers are walked once (seeking over the data) to map member
 * names to their data offsets, and blobs are then served by seeking. Nothing
 * is unpacked or written to disk.
 *
 * @module
 */
import { BadInputError, NotFoundError } from "../errors.ts";
import {
  baseName,
  fileRangeStream,
  type LayoutFiles,
  LayoutImageSource,
  readFileRange,
  splitPathAndTag,
} from "./layout_core.ts";

/** Where a member's data lives in the archive. */
interface Member {
  offset: number;
  size: number;
}

const BLOCK = 512;
/** Largest PAX or GNU long-name header body accepted. */
const MAX_META = 1024 * 1024;
const UTF8 = new TextDecoder();

/** Parses a numeric tar header field: octal text, or GNU base-256. */
function parseNumber(b: Uint8Array, label: string): number {
  if (b.length > 0 && (b[0] & 0x80) !== 0) {
    if (b[0] & 0x40) throw new BadInputError(`${label}: negative number in tar header`);
    let v = b[0] & 0x3f;
    for (let i = 1; i < b.length; i++) v = v * 256 + b[i];
    if (!Number.isSafeInteger(v)) {
      throw new BadInputError(`${label}: number too large in tar header`);
    }
    return v;
  }
  let text = "";
  for (const c of b) {
    if (c === 0) break;
    text += String.fromCharCode(c);
  }
  text = text.trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw new BadInputError(`${label}: invalid number in tar header`);
  return parseInt(text, 8);
}

/** True when the header's checksum field matches its bytes (unsigned or signed sum). */
function checksumOk(header: Uint8Array): boolean {
  let stored: number;
  try {
    stored = parseNumber(header.subarray(148, 156), "");
  } catch {
    return false;
  }
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : header[i];
    unsigned += c;
    signed += (c << 24) >> 24;
  }
  return stored === unsigned || stored === signed;
}

/** A NUL-terminated header string field. */
function cString(b: Uint8Array): string {
  const end = b.indexOf(0);
  return UTF8.decode(end < 0 ? b : b.subarray(0, end));
}

/** Layout path of a tar member name: `./` and `/` prefixes removed. */
function cleanName(name: string): string {
  let n = name;
  for (;;) {
    if (n.startsWith("./")) n = n.slice(2);
    else if (n.startsWith("/")) n = n.slice(1);
    else break;
  }
  return n;
}

/** Parses PAX records (`"<len> <key>=<value>\n"`…). */
function parsePax(body: Uint8Array, label: string): Map<string, string> {
  const out = new Map<string, string>();
  let p = 0;
  while (p < body.length) {
    let q = p;
    while (q < body.length && body[q] !== 0x20) q++;
    const len = parseInt(UTF8.decode(body.subarray(p, q)), 10);
    if (!Number.isSafeInteger(len) || len <= q - p || p + len > body.length) {
      throw new BadInputError(`${label}: invalid PAX header`);
    }
    const rec = UTF8.decode(body.subarray(q + 1, p + len - 1));
    const eq = rec.indexOf("=");
    if (eq < 0 || body[p + len - 1] !== 0x0a) {
      throw new BadInputError(`${label}: invalid PAX header`);
    }
    out.set(rec.slice(0, eq), rec.slice(eq + 1));
    p += len;
  }
  return out;
}

/** Walks the tar headers once and maps member names to data ranges. */
async function indexTar(path: string, label: string): Promise<Map<string, Member>> {
  using file = await Deno.open(path, { read: true });
  const fileSize = (await file.stat()).size;
  const members = new Map<string, Member>();
  const header = new Uint8Array(BLOCK);
  let pos = 0;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Map<string, string> | undefined;
  let first = true;
  if (fileSize > 0 && fileSize < BLOCK) throw new BadInputError(`${label}: not a tar archive`);

  const readAt = async (offset: number, buf: Uint8Array): Promise<void> => {
    await file.seek(offset, Deno.SeekMode.Start);
    let got = 0;
    while (got < buf.length) {
      const n = await file.read(buf.subarray(got));
      if (n === null) throw new BadInputError(`${label}: truncated tar archive`);
      got += n;
    }
  };

  while (pos + BLOCK <= fileSize) {
    await readAt(pos, header);
    if (header.every((c) => c === 0)) break;
    if (!checksumOk(header)) {
      throw new BadInputError(
        first ? `${label}: not a tar archive` : `${label}: invalid tar header at byte ${pos}`,
      );
    }
    first = false;
    const typeflag = header[156] === 0 ? "0" : String.fromCharCode(header[156]);
    let size = parseNumber(header.subarray(124, 136), label);
    const dataOffset = pos + BLOCK;
    const paxSize = pax?.get("size");
    if (paxSize !== undefined && typeflag !== "x" && typeflag !== "g") {
      if (!/^\d+$/.test(paxSize)) throw new BadInputError(`${label}: invalid PAX size`);
      size = Number(paxSize);
    }
    if (dataOffset + size > fileSize) throw new BadInputError(`${label}: truncated tar archive`);
    const next = dataOffset + Math.ceil(size / BLOCK) * BLOCK;

    if (typeflag === "x" || typeflag === "L" || typeflag === "K") {
      if (size > MAX_META) throw new BadInputError(`${label}: tar meta header too large`);
      const body = new Uint8Array(size);
      await readAt(dataOffset, body);
      if (typeflag === "x") {
        pax = new Map([...(pax ?? []), ...parsePax(body, label)]);
      } else if (typeflag === "L") longName = cString(body);
      else longLink = cString(body);
      pos = next;
      continue;
    }

    if (typeflag !== "g") {
      let name = cString(header.subarray(0, 100));
      const magic = UTF8.decode(header.subarray(257, 263));
      if (magic === "ustar\0") {
        const prefix = cString(header.subarray(345, 500));
        if (prefix) name = prefix + "/" + name;
      }
      name = pax?.get("path") ?? longName ?? name;
      const link = pax?.get("linkpath") ?? longLink ?? cString(header.subarray(157, 257));
      const key = cleanName(name);
      if (typeflag === "0" || typeflag === "7") {
        members.set(key, { offset: dataOffset, size });
      } else if (typeflag === "1") {
        const target = members.get(cleanName(link));
        if (target) members.set(key, target);
      }
    }
    pax = undefined;
    longName = undefined;
    longLink = undefined;
    pos = next;
  }
  return members;
}

/** The files of a layout stored in a tar archive. */
class TarFiles implements LayoutFiles {
  readonly label: string;
  #members?: Map<string, Member>;
  #opening?: Promise<void>;
  constructor(readonly file: string) {
    this.label = `OCI archive ${file}`;
  }

  open(): Promise<void> {
    this.#opening ??= this.#index();
    return this.#opening;
  }

  async #index(): Promise<void> {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(this.file);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) {
        throw new NotFoundError(`${this.label}: no such file`);
      }
      throw new BadInputError(`${this.label}: ${(err as Error).message}`);
    }
    if (!info.isFile) throw new BadInputError(`${this.label}: not a file`);
    this.#members = await indexTar(this.file, this.label);
  }

  #member(path: string): Member | undefined {
    if (!this.#members) throw new Error("archive not opened");
    return this.#members.get(path);
  }

  async size(path: string): Promise<number | undefined> {
    await this.open();
    return this.#member(path)?.size;
  }

  async read(path: string, start: number, end: number): Promise<Uint8Array> {
    await this.open();
    const m = this.#member(path)!;
    return readFileRange(this.file, m.offset + start, end - start);
  }

  async stream(path: string, start: number, end: number): Promise<ReadableStream<Uint8Array>> {
    await this.open();
    const m = this.#member(path)!;
    return fileRangeStream(this.file, m.offset + start, end - start);
  }

  async locate(path: string): Promise<{ file: string; offset: number }> {
    await this.open();
    return { file: this.file, offset: this.#member(path)!.offset };
  }
}

/**
 * An image in an OCI layout stored as an (uncompressed) tar file: the same
 * rules as `OciLayoutSource` (tags, verified reads, streams, range reads),
 * served straight from the archive without unpacking it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OciArchiveSource } from "./oci_archive.ts";
 * const src = OciArchiveSource.fromReference("oci-archive:/no/such/image.tar");
 * assert.ok(src.storeName === "image.tar");
 * let failed = false;
 * try { await src.resolve(); } catch { failed = true; }
 * assert.ok(failed);
 * ```
 */
export class OciArchiveSource extends LayoutImageSource {
  /** The archive file. */
  readonly file: string;

  /**
   * Creates the source; nothing is read until the first call.
   *
   * @param file the tar file
   * @param tag the image's ref name, or undefined for the only image
   * @param reference the reference as written (default `oci-archive:FILE[:TAG]`)
   */
  constructor(file: string, tag?: string, reference?: string) {
    super(
      new TarFiles(file),
      reference ?? `oci-archive:${file}${tag !== undefined ? ":" + tag : ""}`,
      tag,
      baseName(file),
    );
    this.file = file;
  }

  /** Creates a source from `oci-archive:FILE[:TAG]` (split at the first `:`). */
  static fromReference(reference: string): OciArchiveSource {
    const { path, tag } = splitPathAndTag(reference, "oci-archive", "file");
    return new OciArchiveSource(path, tag, reference);
  }

  /**
   * Parses `oci-archive:…` like {@link OciArchiveSource.fromReference} and reads the
   * layout's `index.json` once, so that a missing or malformed layout fails
   * here.
   */
  static async open(reference: string): Promise<OciArchiveSource> {
    const src = OciArchiveSource.fromReference(reference);
    await src.index();
    return src;
  }
}
