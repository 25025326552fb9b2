/**
 * `oci:DIR[:TAG]`: an image in an OCI image layout directory (as written
 * by skopeo, umoci, crane, oras, buildkit).
 *
 * @module
 */
import { join } from "node:path";
import { BadInputError, NotFoundError } from "../errors.ts";
import {
  baseName,
  fileRangeStream,
  type LayoutFiles,
  LayoutImageSource,
  readFileRange,
  splitPathAndTag,
} from "./layout_core.ts";

/** The files of a layout directory. */
class DirFiles implements LayoutFiles {
  readonly label: string;
  constructor(readonly dir: string) {
    this.label = `OCI layout ${dir}`;
  }

  async open(): Promise<void> {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(this.dir);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) {
        throw new NotFoundError(`${this.label}: no such directory`);
      }
      throw new BadInputError(`${this.label}: ${(err as Error).message}`);
    }
    if (!info.isDirectory) throw new BadInputError(`${this.label}: not a directory`);
  }

  async size(path: string): Promise<number | undefined> {
    try {
      const info = await Deno.stat(join(this.dir, path));
      return info.isFile ? info.size : undefined;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) {
        return undefined;
      }
      throw err;
    }
  }

  read(path: string, start: number, end: number): Promise<Uint8Array> {
    return readFileRange(join(this.dir, path), start, end - start);
  }

  stream(path: string, start: number, end: number): Promise<ReadableStream<Uint8Array>> {
    return Promise.resolve(fileRangeStream(join(this.dir, path), start, end - start));
  }

  locate(path: string): Promise<{ file: string; offset: number }> {
    return Promise.resolve({ file: join(this.dir, path), offset: 0 });
  }
}

/**
 * An image in an OCI layout directory. `TAG` selects the `index.json`
 * entry whose `org.opencontainers.image.ref.name` annotation equals it;
 * without a tag the layout must list exactly one entry. Blobs are read from
 * `blobs/<alg>/<hex>`; `fetchBytes` verifies size and digest, `openBlob`
 * streams, `readRange` seeks.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OciLayoutSource } from "./oci_layout.ts";
 * const src = OciLayoutSource.fromReference("oci:/no/such/layout:app");
 * assert.ok(src.storeName === "app");
 * let failed = false;
 * try { await src.resolve(); } catch { failed = true; }
 * assert.ok(failed);
 * ```
 */
export class OciLayoutSource extends LayoutImageSource {
  /** The layout directory. */
  readonly dir: string;

  /**
   * Creates the source; nothing is read until the first call.
   *
   * @param dir the layout directory
   * @param tag the image's ref name, or undefined for the only image
   * @param reference the reference as written (default `oci:DIR[:TAG]`)
   */
  constructor(dir: string, tag?: string, reference?: string) {
    super(
      new DirFiles(dir),
      reference ?? `oci:${dir}${tag !== undefined ? ":" + tag : ""}`,
      tag,
      baseName(dir),
    );
    this.dir = dir;
  }

  /**
   * Creates a source from `oci:DIR[:TAG]` (split at the first `:` after
   * the transport, as skopeo does; an empty tag means none).
   */
  static fromReference(reference: string): OciLayoutSource {
    const { path, tag } = splitPathAndTag(reference, "oci", "directory");
    return new OciLayoutSource(path, tag, reference);
  }

  /**
   * Parses `oci:…` like {@link OciLayoutSource.fromReference} and reads the
   * layout's `index.json` once, so that a missing or malformed layout fails
   * here.
   */
  static async open(reference: string): Promise<OciLayoutSource> {
    const src = OciLayoutSource.fromReference(reference);
    await src.index();
    return src;
  }
}
