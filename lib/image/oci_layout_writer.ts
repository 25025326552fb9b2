/**
 * `oci:DIR[:TAG]` as a destination: an OCI image layout directory
 * (`oci-layout`, `blobs/<alg>/<hex>`, `index.json`). Blobs are written to
 * temp files and renamed into place once their digest is checked;
 * `index.json` is rewritten last (atomically), so a failure never names a
 * half-written image. An existing layout keeps its other images; with
 * `replace` (upstream's `--standalone --format oci-dir`) the directory is
 * built aside and put in place of the old one at the end.
 *
 * @module
 */
import { createHash, type Hash } from "node:crypto";
import { open as openFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { BadInputError, SociError } from "../errors.ts";
import type { Descriptor, ImageIndex } from "../oci/descriptor.ts";
import { parseDigest } from "../oci/digest.ts";
import { decodeIndex } from "../oci/json_decode.ts";
import { encodeIndex } from "../oci/json_encode.ts";
import { ANNOTATION_REF_NAME, OCI_INDEX } from "../oci/media_types.ts";
import { syncDir, writeFileAtomic } from "../util/atomic_file.ts";
import { baseName, checkLayoutTag } from "./layout_core.ts";
import {
  type BlobSink,
  type CommitImageOptions,
  type ContentFetcher,
  graphNodes,
  type ImageWriter,
  missingNode,
  pourBlob,
} from "./writer.ts";

const OCI_LAYOUT = '{"imageLayoutVersion":"1.0.0"}';

/** Options of {@link OciLayoutWriter.open}. */
export interface OciLayoutWriterOptions {
  /** The reference as the user wrote it (default `oci:DIR[:TAG]`). */
  reference?: string;
  /**
   * Replace whatever is at `dir` by a new layout holding only this image
   * (built next to it and moved in place at the end).
   */
  replace?: boolean;
}

async function statOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw e;
  }
}

/** A sink writing a blob to a temp file next to its final path. */
class FileBlobSink implements BlobSink {
  #hash: Hash;
  #size = 0;
  #done = false;
  constructor(
    private readonly file: Awaited<ReturnType<typeof openFile>>,
    private readonly tmp: string,
    private readonly path: string,
    private readonly desc: Descriptor,
    private readonly onCommitted: (path: string) => void,
  ) {
    this.#hash = createHash(desc.digest.slice(0, desc.digest.indexOf(":")));
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.#hash.update(chunk);
    this.#size += chunk.length;
    let off = 0;
    while (off < chunk.length) {
      const { bytesWritten } = await this.file.write(chunk, off, chunk.length - off);
      off += bytesWritten;
    }
  }

  async commit(): Promise<void> {
    try {
      const alg = this.desc.digest.slice(0, this.desc.digest.indexOf(":"));
      const got = `${alg}:${this.#hash.digest("hex")}`;
      if (got !== this.desc.digest || this.#size !== this.desc.size) {
        throw new BadInputError(
          `blob ${this.desc.digest} (${this.desc.size} bytes): digest mismatch: got ${got} (${this.#size} bytes)`,
        );
      }
      await this.file.sync();
      await this.file.close();
      await Deno.rename(this.tmp, this.path);
      this.#done = true;
      this.onCommitted(this.path);
    } finally {
      if (!this.#done) await this.abort();
    }
  }

  async abort(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    await this.file.close().catch(() => {});
    await Deno.remove(this.tmp).catch(() => {});
  }
}

/**
 * An OCI layout directory as a destination (see the module documentation).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OciLayoutWriter } from "./oci_layout_writer.ts";
 * import { sha256Digest } from "../oci/digest.ts";
 * const dir = await Deno.makeTempDir();
 * const config = new TextEncoder().encode("{}");
 * const cfg = { mediaType: "application/vnd.oci.image.config.v1+json",
 *   digest: sha256Digest(config), size: 2 };
 * const manifest = new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, config: cfg, layers: [] }));
 * const root = { mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   digest: sha256Digest(manifest), size: manifest.length };
 * const w = await OciLayoutWriter.open(`${dir}/out`, "v1");
 * await w.commit(root, async (d) => d.digest === root.digest ? manifest : config);
 * const index = JSON.parse(await Deno.readTextFile(`${dir}/out/index.json`));
 * assert.equal(index.manifests[0].digest, root.digest);
 * assert.equal(index.manifests[0].annotations["org.opencontainers.image.ref.name"], "v1");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class OciLayoutWriter implements ImageWriter {
  /** The destination as written. */
  readonly reference: string;
  /** The tag, or the directory's base name. */
  readonly storeName: string;
  /** `oci:<absolute dir>[:TAG]`: where the image's layers can be read once written. */
  readonly layerSource: string;
  /** A layout can list an image whose manifests it lacks. */
  readonly allowsPartial = true;
  /** The layout directory. */
  readonly dir: string;
  /** The tag (`org.opencontainers.image.ref.name`), if any. */
  readonly tag?: string;
  readonly #replace: boolean;
  /** Where blobs go: `dir`, or the directory built aside (replace). */
  readonly #work: string;
  /** The directory did not exist: remove it all on abort. */
  readonly #fresh: boolean;
  #created: string[] = [];
  #dirsMade = false;
  /** This writer made the layout (`blobs/`, `oci-layout`) in an existing empty directory. */
  #madeLayout = false;
  #committed = false;

  private constructor(
    dir: string,
    tag: string | undefined,
    options: OciLayoutWriterOptions,
    fresh: boolean,
  ) {
    this.dir = dir;
    this.tag = tag;
    this.reference = options.reference ?? `oci:${dir}${tag !== undefined ? ":" + tag : ""}`;
    this.storeName = tag ?? baseName(dir);
    this.layerSource = `oci:${resolve(dir)}${tag !== undefined ? ":" + tag : ""}`;
    this.#replace = options.replace ?? false;
    this.#fresh = fresh;
    this.#work = this.#replace
      ? join(dirname(resolve(dir)), `.${baseName(dir)}.soci-${crypto.randomUUID().slice(0, 8)}`)
      : dir;
  }

  /**
   * A writer for the layout `dir` (tag `tag`). Checks first that `dir` is
   * absent, an empty directory, or an OCI layout (unless `replace`), and
   * that its parent exists, so that a bad destination fails before any work.
   */
  static async open(
    dir: string,
    tag?: string,
    options: OciLayoutWriterOptions = {},
  ): Promise<OciLayoutWriter> {
    if (dir === "") throw new BadInputError("missing directory in the oci: destination");
    checkLayoutTag(tag, options.reference ?? `oci:${dir}:${tag}`);
    const info = await statOrUndefined(dir);
    if (info === undefined || options.replace) {
      // The parent is looked at only when it matters, and only when it may be
      // read: `--allow-write=<dir>` alone is enough to write a new layout.
      const parent = await statOrUndefined(dirname(resolve(dir))).catch((e) => {
        if (e instanceof Deno.errors.NotCapable) return "unknown" as const;
        throw e;
      });
      if (parent === undefined || (parent !== "unknown" && !parent.isDirectory)) {
        throw new BadInputError(
          `cannot write OCI layout ${dir}: its parent directory does not exist`,
        );
      }
    }
    if (info !== undefined && !options.replace) {
      if (!info.isDirectory) {
        throw new BadInputError(`cannot write OCI layout ${dir}: not a directory`);
      }
      let empty = true;
      for await (const _ of Deno.readDir(dir)) {
        empty = false;
        break;
      }
      if (!empty && (await statOrUndefined(join(dir, "oci-layout"))) === undefined) {
        throw new BadInputError(
          `cannot write OCI layout ${dir}: the directory is not empty and not an OCI layout`,
        );
      }
    }
    return new OciLayoutWriter(dir, tag, options, info === undefined);
  }

  #blobPath(desc: Descriptor): string {
    const d = parseDigest(desc.digest);
    const i = d.indexOf(":");
    return join(this.#work, "blobs", d.slice(0, i), d.slice(i + 1));
  }

  async #ensureDirs(): Promise<void> {
    if (this.#dirsMade) return;
    await Deno.mkdir(join(this.#work, "blobs", "sha256"), { recursive: true });
    const layout = join(this.#work, "oci-layout");
    if ((await statOrUndefined(layout)) === undefined) {
      await writeFileAtomic(layout, [new TextEncoder().encode(OCI_LAYOUT)]);
      this.#madeLayout = true;
    }
    this.#dirsMade = true;
  }

  /** True when the layout has a blob file of the descriptor's size. */
  async has(desc: Descriptor): Promise<boolean> {
    const info = await statOrUndefined(this.#blobPath(desc));
    return info !== undefined && info.isFile && info.size === desc.size;
  }

  /** Same as {@link OciLayoutWriter.has}: a layout cannot get a blob without its bytes. */
  obtain(desc: Descriptor): Promise<boolean> {
    return this.has(desc);
  }

  /** A temp file that becomes the blob once its digest is checked. */
  async openBlob(desc: Descriptor): Promise<BlobSink> {
    await this.#ensureDirs();
    const path = this.#blobPath(desc);
    await Deno.mkdir(dirname(path), { recursive: true });
    const tmp = join(
      dirname(path),
      `.${desc.digest.slice(desc.digest.indexOf(":") + 1)}.${crypto.randomUUID().slice(0, 8)}.tmp`,
    );
    const file = await openFile(tmp, "wx", 0o644);
    return new FileBlobSink(file, tmp, path, desc, (p) => this.#created.push(p));
  }

  /** Writes the missing blobs of the graph, then `index.json` (the image's name). */
  async commit(
    root: Descriptor,
    fetch: ContentFetcher,
    options: CommitImageOptions = {},
  ): Promise<void> {
    await this.#ensureDirs();
    for (const node of await graphNodes(root, fetch, options.absent)) {
      if (await this.has(node.desc)) {
        options.onEvent?.({ kind: "skipped", desc: node.desc });
        continue;
      }
      const got = node.bytes ?? await fetch(node.desc).catch((e) => {
        throw e instanceof SociError ? e : missingNode(node.desc, "the source");
      });
      const sink = await this.openBlob(node.desc);
      await pourBlob(sink, got);
      options.onEvent?.({ kind: "written", desc: node.desc });
    }
    await syncDir(join(this.#work, "blobs", "sha256"));
    await this.#writeIndexJson(root);
    if (this.#replace) {
      await Deno.remove(this.dir, { recursive: true }).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      });
      await Deno.rename(this.#work, this.dir);
      await syncDir(dirname(resolve(this.dir)));
    }
    this.#committed = true;
    options.onEvent?.({ kind: "tagged", desc: root });
  }

  async #writeIndexJson(root: Descriptor): Promise<void> {
    const path = join(this.#work, "index.json");
    let index: ImageIndex = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
    if (!this.#replace) {
      try {
        index = decodeIndex(await Deno.readFile(path));
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) {
          throw new BadInputError(
            `cannot update ${path}: ${(e as Error).message}`,
            { cause: e },
          );
        }
      }
    }
    const entry: Descriptor = { mediaType: root.mediaType, digest: root.digest, size: root.size };
    if (this.tag !== undefined) entry.annotations = { [ANNOTATION_REF_NAME]: this.tag };
    const keep = index.manifests.filter((e) =>
      (e.annotations?.[ANNOTATION_REF_NAME] ?? undefined) !== this.tag
    );
    index = { ...index, manifests: [...keep, entry] };
    await writeFileAtomic(path, [encodeIndex(index)]);
  }

  /** Removes the blobs this writer added (everything, when it made the directory). */
  async abort(): Promise<void> {
    if (this.#committed) return;
    if (this.#replace) {
      await Deno.remove(this.#work, { recursive: true }).catch(() => {});
      return;
    }
    if (this.#fresh) {
      await Deno.remove(this.dir, { recursive: true }).catch(() => {});
      return;
    }
    if (this.#madeLayout) {
      await Deno.remove(join(this.dir, "blobs"), { recursive: true }).catch(() => {});
      await Deno.remove(join(this.dir, "oci-layout")).catch(() => {});
      return;
    }
    for (const p of this.#created) await Deno.remove(p).catch(() => {});
    this.#created = [];
  }

  /** Nothing to release. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
