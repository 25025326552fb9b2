/**
 * The OCI image layout logic shared by `oci:` directories and
 * `oci-archive:` tar files: `index.json` and `oci-layout` checks, choice of
 * the image by its `org.opencontainers.image.ref.name` tag, blob paths
 * `blobs/<alg>/<hex>`, verified reads, streams and range reads. Where the
 * files live is abstracted by {@link LayoutFiles}.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { BadInputError, NotFoundError } from "../errors.ts";
import type { Descriptor, ImageIndex } from "../oci/descriptor.ts";
import { parseDigest } from "../oci/digest.ts";
import { decodeIndex } from "../oci/json_decode.ts";
import { ANNOTATION_REF_NAME } from "../oci/media_types.ts";
import { readFileChunks } from "./file_layer.ts";
import type { ImageSource } from "./source.ts";

/** Chunk size of blob streams (within the 64 KiB–1 MiB range). */
export const STREAM_CHUNK = 256 * 1024;

/**
 * Read access to the files of one OCI image layout, wherever they are
 * stored. Paths are layout-relative with `/` separators (`index.json`,
 * `blobs/sha256/<hex>`).
 */
export interface LayoutFiles {
  /** How to name the layout in messages, e.g. `OCI layout ./dir`. */
  readonly label: string;
  /** Checks that the container (directory, archive) exists and can be read. */
  open(): Promise<void>;
  /** Size of a regular file, or `undefined` when there is none at `path`. */
  size(path: string): Promise<number | undefined>;
  /** Bytes `[start, end)` of a file known to exist with at least `end` bytes. */
  read(path: string, start: number, end: number): Promise<Uint8Array>;
  /** Streams bytes `[start, end)` of a file known to exist. */
  stream(path: string, start: number, end: number): Promise<ReadableStream<Uint8Array>>;
  /** The file on disk that holds a layout file, and where in it (archives). */
  locate(path: string): Promise<{ file: string; offset: number }>;
}

/**
 * Reads `length` bytes at `offset` of a file (a short file is a
 * `BadInputError`).
 */
export async function readFileRange(
  path: string,
  offset: number,
  length: number,
): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  if (length === 0) return out;
  using file = await Deno.open(path, { read: true });
  await file.seek(offset, Deno.SeekMode.Start);
  let got = 0;
  while (got < length) {
    const n = await file.read(out.subarray(got));
    if (n === null) {
      throw new BadInputError(`${path}: unexpected end of file at byte ${offset + got}`);
    }
    got += n;
  }
  return out;
}

/**
 * Streams `length` bytes at `offset` of a file in chunks of
 * {@link STREAM_CHUNK} bytes; the file is opened on the first pull and
 * closed at the end, on error or on cancel.
 */
export function fileRangeStream(
  path: string,
  offset: number,
  length: number,
): ReadableStream<Uint8Array> {
  let file: Deno.FsFile | undefined;
  let left = length;
  const close = () => {
    try {
      file?.close();
    } catch {
      // already closed
    }
    file = undefined;
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        if (left === 0) {
          close();
          controller.close();
          return;
        }
        if (!file) {
          file = await Deno.open(path, { read: true });
          await file.seek(offset, Deno.SeekMode.Start);
        }
        const buf = new Uint8Array(Math.min(STREAM_CHUNK, left));
        let got = 0;
        while (got < buf.length) {
          const n = await file.read(buf.subarray(got));
          if (n === null) break;
          got += n;
        }
        if (got === 0) {
          throw new BadInputError(
            `${path}: unexpected end of file at byte ${offset + length - left}`,
          );
        }
        left -= got;
        controller.enqueue(got === buf.length ? buf : buf.subarray(0, got));
        if (left === 0) {
          close();
          controller.close();
        }
      } catch (err) {
        close();
        controller.error(err);
      }
    },
    cancel() {
      close();
    },
  });
}

/**
 * Splits `TRANSPORT:PATH[:TAG]` after the transport at the first `:` (as
 * skopeo does; an empty tag means none). `what` names the path in errors.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { splitPathAndTag } from "./layout_core.ts";
 * assert.deepEqual(splitPathAndTag("oci:./dir:app", "oci", "directory"), { path: "./dir", tag: "app" });
 * ```
 */
export function splitPathAndTag(
  reference: string,
  transport: string,
  what: string,
): { path: string; tag?: string } {
  if (!reference.startsWith(`${transport}:`)) {
    throw new BadInputError(`not an ${transport}: reference: ${reference}`);
  }
  const rest = reference.slice(transport.length + 1);
  const i = rest.indexOf(":");
  const path = i < 0 ? rest : rest.slice(0, i);
  const tag = i < 0 ? "" : rest.slice(i + 1);
  if (path === "") throw new BadInputError(`missing ${what} in ${reference}`);
  return tag === "" ? { path } : { path, tag };
}

/** The OCI image layout's grammar of `org.opencontainers.image.ref.name` values. */
const REF_COMPONENT = "[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*";
const REF_NAME = new RegExp(`^${REF_COMPONENT}(?:/${REF_COMPONENT})*$`);

/**
 * Checks a tag to be written into a layout: it must be a valid ref name
 * (as skopeo insists too), else a `BadInputError` naming `reference`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkLayoutTag } from "./layout_core.ts";
 * checkLayoutTag("v1.0", "oci:dir:v1.0");
 * assert.throws(() => checkLayoutTag("bad tag", "oci:dir:bad tag"), /invalid tag "bad tag"/);
 * ```
 */
export function checkLayoutTag(tag: string | undefined, reference: string): void {
  if (tag === undefined || REF_NAME.test(tag)) return;
  throw new BadInputError(
    `invalid tag ${JSON.stringify(tag)} in ${reference}: a tag of an OCI layout is letters and ` +
      "digits joined by one of - . _ : @ + or by --, in parts separated by /",
  );
}

/** The last path element of `path` (trailing slashes ignored; `.` resolved). */
export function baseName(path: string): string {
  let p = path.replace(/\/+$/, "");
  if (p === "" || p === "." || p === ".." || p.endsWith("/.") || p.endsWith("/..")) {
    try {
      p = Deno.realPathSync(path || ".");
    } catch {
      // keep the text as given
    }
  }
  const i = p.lastIndexOf("/");
  return i < 0 ? p : p.slice(i + 1) || p;
}

function tagOf(d: Descriptor): string | undefined {
  return d.annotations?.[ANNOTATION_REF_NAME];
}

/** Describes the tags of a layout's entries for error messages. */
function describeTags(entries: Descriptor[]): string {
  const tags = entries.map(tagOf).filter((t): t is string => t !== undefined);
  const untagged = entries.length - tags.length;
  let text = tags.length ? tags.join(", ") : "none";
  if (untagged > 0) text += ` (and ${untagged} untagged)`;
  return text;
}

/**
 * An {@link ImageSource} over an OCI image layout reached through a
 * {@link LayoutFiles}. `oci:` directories and `oci-archive:` files are
 * thin subclasses.
 */
export class LayoutImageSource implements ImageSource {
  /** The reference as the user wrote it. */
  readonly reference: string;
  /** The tag, or the layout's base name when no tag was given. */
  readonly storeName: string;
  /** The tag asked for, if any. */
  readonly tag?: string;
  #files: LayoutFiles;
  #index?: Promise<ImageIndex>;

  /**
   * Creates the source; nothing is read until the first call.
   *
   * @param files where the layout's files are
   * @param reference the reference as the user wrote it
   * @param tag the image's ref name, or undefined for the only image
   * @param baseName the store name used when no tag is given
   */
  constructor(files: LayoutFiles, reference: string, tag: string | undefined, baseName: string) {
    this.#files = files;
    this.reference = reference;
    this.tag = tag;
    this.storeName = tag ?? baseName;
  }

  /**
   * The layout's `index.json`, decoded (Go rules), after checking that the
   * layout exists and has an `oci-layout` file. Read once.
   */
  index(): Promise<ImageIndex> {
    this.#index ??= this.#loadIndex();
    return this.#index;
  }

  async #loadIndex(): Promise<ImageIndex> {
    const files = this.#files;
    await files.open();
    const indexSize = await files.size("index.json");
    if (indexSize === undefined) {
      throw new BadInputError(`${files.label}: not an OCI image layout: index.json is missing`);
    }
    if (await files.size("oci-layout") === undefined) {
      throw new BadInputError(`${files.label}: not an OCI image layout: oci-layout is missing`);
    }
    const bytes = await files.read("index.json", 0, indexSize);
    try {
      return decodeIndex(bytes);
    } catch (err) {
      if (err instanceof BadInputError) {
        throw new BadInputError(`${files.label}: index.json: ${err.message}`, { cause: err });
      }
      throw err;
    }
  }

  /**
   * The image's target: the `index.json` entry tagged with the tag, or the
   * only entry when no tag was given.
   */
  async resolve(): Promise<Descriptor> {
    const entries = (await this.index()).manifests;
    const label = this.#files.label;
    if (this.tag !== undefined) {
      const found = entries.find((d) => tagOf(d) === this.tag);
      if (!found) {
        throw new NotFoundError(
          `${label}: no image tagged ${JSON.stringify(this.tag)}; available tags: ${
            describeTags(entries)
          }`,
        );
      }
      return found;
    }
    if (entries.length === 1) return entries[0];
    if (entries.length === 0) throw new NotFoundError(`${label}: index.json lists no images`);
    throw new BadInputError(
      `${label} holds ${entries.length} images; name one with :TAG (tags: ${
        describeTags(entries)
      })`,
    );
  }

  /** Layout path of a blob (`blobs/<alg>/<hex>`), validating the digest. */
  blobPath(desc: Descriptor): string {
    const digest = parseDigest(desc.digest);
    const i = digest.indexOf(":");
    return `blobs/${digest.slice(0, i)}/${digest.slice(i + 1)}`;
  }

  /** True when the layout holds a blob file for `desc`. */
  async hasBlob(desc: Descriptor): Promise<boolean> {
    return await this.#files.size(this.blobPath(desc)) !== undefined;
  }

  async #blobSize(desc: Descriptor): Promise<{ path: string; size: number }> {
    const path = this.blobPath(desc);
    const size = await this.#files.size(path);
    if (size === undefined) {
      throw new NotFoundError(`${this.#files.label}: blob ${desc.digest} not found`);
    }
    return { path, size };
  }

  /** Reads a whole blob and verifies its size and digest. */
  async fetchBytes(desc: Descriptor): Promise<Uint8Array> {
    const { path, size } = await this.#blobSize(desc);
    const alg = desc.digest.slice(0, desc.digest.indexOf(":"));
    if (size !== desc.size) {
      const hash = createHash(alg);
      const stream = await this.#files.stream(path, 0, size);
      for await (const chunk of stream) hash.update(chunk);
      throw new BadInputError(
        `${this.#files.label}: blob ${path} does not match its descriptor: expected ${desc.digest} ` +
          `(${desc.size} bytes), got ${alg}:${hash.digest("hex")} (${size} bytes)`,
      );
    }
    const bytes = await this.#files.read(path, 0, size);
    const actual = alg + ":" + createHash(alg).update(bytes).digest("hex");
    if (actual !== desc.digest) {
      throw new BadInputError(
        `${this.#files.label}: blob ${path} does not match its descriptor: expected ${desc.digest}, ` +
          `got ${actual}`,
      );
    }
    return bytes;
  }

  /** Streams a blob from its first byte (not verified). */
  async openBlob(desc: Descriptor): Promise<ReadableStream<Uint8Array>> {
    const { path, size } = await this.#blobSize(desc);
    return this.#files.stream(path, 0, size);
  }

  /** Streams a blob into one reused buffer (each chunk valid until the next). */
  async *readChunks(desc: Descriptor): AsyncGenerator<Uint8Array> {
    const { path, size } = await this.#blobSize(desc);
    const { file, offset } = await this.#files.locate(path);
    yield* readFileChunks(file, offset, offset + size, { reuse: true });
  }

  /** Reads bytes `[start, end)` of a blob. */
  async readRange(desc: Descriptor, start: number, end: number): Promise<Uint8Array> {
    const { path, size } = await this.#blobSize(desc);
    if (!(Number.isSafeInteger(start) && Number.isSafeInteger(end)) || start < 0 || end < start) {
      throw new BadInputError(`invalid range [${start}, ${end}) of blob ${desc.digest}`);
    }
    if (end > size) {
      throw new BadInputError(
        `range [${start}, ${end}) is beyond the end of blob ${desc.digest} (${size} bytes)`,
      );
    }
    return this.#files.read(path, start, end);
  }

  /** Nothing to release: every read opens and closes its own file handle. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
