/**
 * `oci-archive:FILE[:TAG]` as a destination: an OCI image layout in one
 * tar file, written in one pass. Entries are what containerd's exporter
 * (upstream's `--format oci-archive`) writes — `blobs/`, `blobs/<alg>/`,
 * `blobs/<alg>/<hex>` (mode 0444), `index.json` (0644) and `oci-layout`
 * (0444), owner 0, time 0, USTAR, ended by two zero blocks, no
 * `manifest.json` — blobs first, `index.json` and `oci-layout` last, as in
 * upstream's name-sorted archive.
 *
 * Every blob's size is known before its bytes come, so each gets its place
 * in the file up front: the layers (sorted by digest, laid out by
 * {@link OciArchiveWriter.prepare}) are written where they belong while they
 * are read for their scans, several at once, and the rest is appended at
 * the end. Nothing is written twice. The tar is built in a temp file next
 * to FILE and renamed over it at the end; a failure leaves FILE as it was.
 *
 * @module
 */
import { createHash, type Hash } from "node:crypto";
import { type FileHandle, open as openFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { BadInputError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { parseDigest } from "../oci/digest.ts";
import { encodeIndex } from "../oci/json_encode.ts";
import { ANNOTATION_REF_NAME, OCI_INDEX } from "../oci/media_types.ts";
import { entrySpan, TAR_TRAILER, tarHeader } from "../tar/writer.ts";
import { syncDir } from "../util/atomic_file.ts";
import { checkLayoutTag } from "./layout_core.ts";
import {
  type BlobSink,
  type CommitImageOptions,
  type ContentFetcher,
  graphNodes,
  type ImageWriter,
  missingNode,
  pourBlob,
} from "./writer.ts";

const ENC = new TextEncoder();

/** Where one blob goes in the archive. */
interface Slot {
  desc: Descriptor;
  /** Offset of its header. */
  offset: number;
  /** Its bytes are in place. */
  written: boolean;
  /** A sink is writing it. */
  busy: boolean;
}

function entryName(digest: string): string {
  const d = parseDigest(digest);
  const i = d.indexOf(":");
  return `blobs/${d.slice(0, i)}/${d.slice(i + 1)}`;
}

/** Writes all of `data` at `position`. */
async function pwrite(file: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const { bytesWritten } = await file.write(data, off, data.length - off, position + off);
    off += bytesWritten;
  }
}

/** A sink writing a blob's bytes at its place in the archive. */
class SlotSink implements BlobSink {
  #hash: Hash;
  #pos: number;
  #size = 0;
  #done = false;
  constructor(private readonly file: FileHandle, private readonly slot: Slot) {
    this.#hash = createHash(slot.desc.digest.slice(0, slot.desc.digest.indexOf(":")));
    this.#pos = slot.offset + 512;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.#size + chunk.length > this.slot.desc.size) {
      throw new BadInputError(
        `blob ${this.slot.desc.digest}: more than the ${this.slot.desc.size} bytes of its descriptor`,
      );
    }
    this.#hash.update(chunk);
    await pwrite(this.file, chunk, this.#pos);
    this.#pos += chunk.length;
    this.#size += chunk.length;
  }

  async commit(): Promise<void> {
    const d = this.slot.desc;
    const got = `${d.digest.slice(0, d.digest.indexOf(":"))}:${this.#hash.digest("hex")}`;
    this.#done = true;
    this.slot.busy = false;
    if (got !== d.digest || this.#size !== d.size) {
      throw new BadInputError(
        `blob ${d.digest} (${d.size} bytes): digest mismatch: got ${got} (${this.#size} bytes)`,
      );
    }
    await pwrite(
      this.file,
      tarHeader({ name: entryName(d.digest), mode: 0o444, size: d.size, type: "file" }),
      this.slot.offset,
    );
    const pad = entrySpan(d.size) - 512 - d.size;
    if (pad > 0) await pwrite(this.file, new Uint8Array(pad), this.slot.offset + 512 + d.size);
    this.slot.written = true;
  }

  abort(): Promise<void> {
    if (!this.#done) {
      this.#done = true;
      this.slot.busy = false;
    }
    return Promise.resolve();
  }
}

/**
 * An OCI archive as a destination (see the module documentation).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OciArchiveWriter } from "./oci_archive_writer.ts";
 * import { OciArchiveSource } from "./oci_archive.ts";
 * import { sha256Digest } from "../oci/digest.ts";
 * const dir = await Deno.makeTempDir();
 * const config = new TextEncoder().encode("{}");
 * const cfg = { mediaType: "application/vnd.oci.image.config.v1+json",
 *   digest: sha256Digest(config), size: 2 };
 * const manifest = new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, config: cfg, layers: [] }));
 * const root = { mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   digest: sha256Digest(manifest), size: manifest.length };
 * const w = await OciArchiveWriter.open(`${dir}/img.tar`, "v1");
 * await w.commit(root, async (d) => d.digest === root.digest ? manifest : config);
 * const back = OciArchiveSource.fromReference(`oci-archive:${dir}/img.tar:v1`);
 * assert.equal((await back.resolve()).digest, root.digest);
 * await back.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class OciArchiveWriter implements ImageWriter {
  /** The destination as written. */
  readonly reference: string;
  /** The tag, or the file's base name. */
  readonly storeName: string;
  /** `oci-archive:<absolute path>[:TAG]`. */
  readonly layerSource: string;
  /** An archive can list an image whose manifests it lacks. */
  readonly allowsPartial = true;
  /** The archive file. */
  readonly path: string;
  /** The tag, if any. */
  readonly tag?: string;
  readonly #tmp: string;
  #file?: FileHandle;
  #slots = new Map<string, Slot>();
  /** Algorithms that have their `blobs/<alg>/` entry. */
  #dirs = new Set<string>();
  #end = 0;
  #started = false;
  #committed = false;

  private constructor(path: string, tag: string | undefined, reference?: string) {
    this.path = path;
    this.tag = tag;
    this.reference = reference ?? `oci-archive:${path}${tag !== undefined ? ":" + tag : ""}`;
    this.storeName = tag ?? basename(path);
    this.layerSource = `oci-archive:${resolve(path)}${tag !== undefined ? ":" + tag : ""}`;
    this.#tmp = join(
      dirname(resolve(path)),
      `.${basename(path)}.soci-${crypto.randomUUID().slice(0, 8)}.tmp`,
    );
  }

  /**
   * A writer for the archive `path` (tag `tag`): its directory must exist
   * and `path` must not be a directory (checked before any work).
   */
  static async open(
    path: string,
    tag?: string,
    options: { reference?: string } = {},
  ): Promise<OciArchiveWriter> {
    if (path === "") throw new BadInputError("missing file in the oci-archive: destination");
    checkLayoutTag(tag, options.reference ?? `oci-archive:${path}:${tag}`);
    try {
      const parent = await Deno.stat(dirname(resolve(path)));
      if (!parent.isDirectory) throw new Deno.errors.NotFound();
    } catch {
      throw new BadInputError(`cannot write OCI archive ${path}: its directory does not exist`);
    }
    try {
      if ((await Deno.stat(path)).isDirectory) {
        throw new BadInputError(`cannot write OCI archive ${path}: it is a directory`);
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    return new OciArchiveWriter(path, tag, options.reference);
  }

  async #start(): Promise<FileHandle> {
    if (this.#file) return this.#file;
    this.#file = await openFile(this.#tmp, "wx+", 0o644);
    if (!this.#started) {
      this.#started = true;
      this.#end = 0;
      await this.#dir("blobs/");
      this.#dirs.add("sha256");
      await this.#dir("blobs/sha256/");
    }
    return this.#file;
  }

  async #dir(name: string): Promise<void> {
    await pwrite(this.#file!, tarHeader({ name, mode: 0o755, size: 0, type: "dir" }), this.#end);
    this.#end += 512;
  }

  /** Gives `desc` its place at the end of what is laid out so far. */
  async #slot(desc: Descriptor): Promise<Slot> {
    let slot = this.#slots.get(desc.digest);
    if (slot) return slot;
    await this.#start();
    const d = parseDigest(desc.digest);
    const alg = d.slice(0, d.indexOf(":"));
    if (!this.#dirs.has(alg)) {
      this.#dirs.add(alg);
      await this.#dir(`blobs/${alg}/`);
    }
    slot = { desc, offset: this.#end, written: false, busy: false };
    this.#end += entrySpan(desc.size);
    this.#slots.set(desc.digest, slot);
    return slot;
  }

  /** Lays out the layers, sorted by digest, before any is written. */
  async prepare(layers: readonly Descriptor[]): Promise<void> {
    const unique = new Map(layers.map((l) => [l.digest, l]));
    for (const digest of [...unique.keys()].sort()) await this.#slot(unique.get(digest)!);
  }

  /** True when the blob is already in the archive. */
  has(desc: Descriptor): Promise<boolean> {
    const s = this.#slots.get(desc.digest);
    return Promise.resolve(s !== undefined && (s.written || s.busy));
  }

  /** Same as {@link OciArchiveWriter.has}. */
  obtain(desc: Descriptor): Promise<boolean> {
    return this.has(desc);
  }

  /** A sink writing the blob at its place. */
  async openBlob(desc: Descriptor): Promise<BlobSink> {
    const slot = await this.#slot(desc);
    if (slot.written || slot.busy) {
      throw new BadInputError(`blob ${desc.digest} is already being written to ${this.path}`);
    }
    slot.busy = true;
    return new SlotSink(this.#file!, slot);
  }

  /** Writes the rest of the graph, `index.json`, `oci-layout`, the end, and puts the file in place. */
  async commit(
    root: Descriptor,
    fetch: ContentFetcher,
    options: CommitImageOptions = {},
  ): Promise<void> {
    const file = await this.#start();
    const nodes = await graphNodes(root, fetch, options.absent);
    // Planned blobs first (their place is known), then the others sorted by digest.
    const byPlace = nodes.filter((n) => this.#slots.has(n.desc.digest));
    const rest = nodes.filter((n) => !this.#slots.has(n.desc.digest))
      .sort((a, b) => a.desc.digest < b.desc.digest ? -1 : a.desc.digest > b.desc.digest ? 1 : 0);
    for (const node of [...byPlace, ...rest]) {
      if (await this.has(node.desc)) {
        options.onEvent?.({ kind: "skipped", desc: node.desc });
        continue;
      }
      const got = node.bytes ?? await fetch(node.desc);
      const sink = await this.openBlob(node.desc);
      await pourBlob(sink, got);
      options.onEvent?.({ kind: "written", desc: node.desc });
    }
    for (const s of this.#slots.values()) {
      if (!s.written) throw missingNode(s.desc, "the image written");
    }
    const entry: Descriptor = { mediaType: root.mediaType, digest: root.digest, size: root.size };
    if (this.tag !== undefined) entry.annotations = { [ANNOTATION_REF_NAME]: this.tag };
    const index = encodeIndex({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [entry] });
    await this.#appendFile("index.json", 0o644, index);
    await this.#appendFile("oci-layout", 0o444, ENC.encode('{"imageLayoutVersion":"1.0.0"}'));
    await pwrite(file, TAR_TRAILER, this.#end);
    this.#end += TAR_TRAILER.length;
    await file.truncate(this.#end);
    await file.sync();
    await file.close();
    this.#file = undefined;
    await Deno.rename(this.#tmp, this.path);
    await syncDir(dirname(resolve(this.path)));
    this.#committed = true;
    options.onEvent?.({ kind: "tagged", desc: root });
  }

  async #appendFile(name: string, mode: number, data: Uint8Array): Promise<void> {
    await pwrite(
      this.#file!,
      tarHeader({ name, mode, size: data.length, type: "file" }),
      this.#end,
    );
    await pwrite(this.#file!, data, this.#end + 512);
    const pad = entrySpan(data.length) - 512 - data.length;
    if (pad > 0) await pwrite(this.#file!, new Uint8Array(pad), this.#end + 512 + data.length);
    this.#end += entrySpan(data.length);
  }

  /** Removes the temp file. */
  async abort(): Promise<void> {
    if (this.#committed) return;
    await this.#file?.close().catch(() => {});
    this.#file = undefined;
    await Deno.remove(this.#tmp).catch(() => {});
  }

  /** Closes the temp file if still open (and removes it unless committed). */
  close(): Promise<void> {
    return this.abort();
  }
}
