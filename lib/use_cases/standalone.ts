/**
 * Upstream's `convert --standalone IN OUT` inputs (`soci-cli.md` §6.2): IN
 * is an OCI layout directory or an OCI archive (any other file is read as
 * a tar), and the image is chosen from its `index.json` by upstream's
 * rules, with upstream's messages.
 *
 * @module
 */
import { BadInputError, NotFoundError } from "../errors.ts";
import type { LayoutImageSource } from "../image/layout_core.ts";
import { OciArchiveSource } from "../image/oci_archive.ts";
import { OciLayoutSource } from "../image/oci_layout.ts";
import type { ImageSource } from "../image/source.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { sha256Digest } from "../oci/digest.ts";
import { decodeIndex } from "../oci/json_decode.ts";
import { encodeIndex } from "../oci/json_encode.ts";
import { isIndexType, OCI_INDEX } from "../oci/media_types.ts";

/** Go's text for a missing path (`stat <path>: no such file or directory`). */
function statError(path: string, e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return `stat ${path}: no such file or directory`;
  if (e instanceof Deno.errors.PermissionDenied) return `stat ${path}: permission denied`;
  return (e as Error).message;
}

/**
 * The image of a standalone input, chosen as upstream chooses it:
 *
 * * `index.json` lists nothing → `index.json contains no manifests`;
 * * one entry that is not an index → that manifest;
 * * one entry that is an index → its children are the list, else the
 *   entries of `index.json` are;
 * * children whose blob is missing are dropped (none left → `manifest
 *   list contains no entries with available blobs`); one manifest left →
 *   that manifest; nothing dropped from a nested index → that index as it
 *   is; otherwise a new index of the available children (the list's media
 *   type, else the OCI index type), served from memory.
 *
 * A path that cannot be read is `failed to access input <path>: <reason>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openStandaloneInput } from "./standalone.ts";
 * const src = await openStandaloneInput("./fixtures/sample-image");
 * assert.equal((await src.resolve()).mediaType, "application/vnd.oci.image.manifest.v1+json");
 * await assert.rejects(openStandaloneInput("/no/such/input"), /failed to access input/);
 * ```
 */
export async function openStandaloneInput(path: string): Promise<ImageSource> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    throw new NotFoundError(`failed to access input ${path}: ${statError(path, e)}`);
  }
  const inner: LayoutImageSource = info.isDirectory
    ? new OciLayoutSource(path, undefined, path)
    : new OciArchiveSource(path, undefined, path);
  let entries: Descriptor[];
  try {
    entries = (await inner.index()).manifests;
  } catch (e) {
    await inner.close();
    throw new BadInputError(`failed to read index.json from ${path}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  if (entries.length === 0) {
    await inner.close();
    throw new BadInputError("index.json contains no manifests");
  }
  if (entries.length === 1 && !isIndexType(entries[0].mediaType)) {
    return new ChosenImage(inner, entries[0]);
  }
  let list = entries;
  let listType: string | undefined;
  let nested: Descriptor | undefined;
  if (entries.length === 1) {
    nested = entries[0];
    const doc = decodeIndex(await inner.fetchBytes(nested));
    list = doc.manifests;
    listType = doc.mediaType || nested.mediaType;
  } else {
    listType = (await inner.index()).mediaType;
  }
  const available: Descriptor[] = [];
  for (const d of list) if (await inner.hasBlob(d)) available.push(d);
  if (available.length === 0) {
    await inner.close();
    throw new BadInputError("manifest list contains no entries with available blobs");
  }
  if (available.length === 1 && !isIndexType(available[0].mediaType)) {
    return new ChosenImage(inner, available[0]);
  }
  if (nested && available.length === list.length) return new ChosenImage(inner, nested);
  const mediaType = listType || OCI_INDEX;
  const bytes = encodeIndex({ schemaVersion: 2, mediaType, manifests: available });
  const target = { mediaType, digest: sha256Digest(bytes), size: bytes.length };
  return new ChosenImage(inner, target, bytes);
}

/** A layout source whose target is chosen (and maybe made) by the standalone rules. */
class ChosenImage implements ImageSource {
  readonly reference: string;
  readonly storeName: string;
  constructor(
    private readonly inner: LayoutImageSource,
    private readonly target: Descriptor,
    private readonly made?: Uint8Array,
  ) {
    this.reference = inner.reference;
    this.storeName = inner.storeName;
  }
  resolve(): Promise<Descriptor> {
    const { mediaType, digest, size } = this.target;
    return Promise.resolve(
      this.target.platform
        ? { mediaType, digest, size, platform: this.target.platform }
        : { mediaType, digest, size },
    );
  }
  fetchBytes(desc: Descriptor): Promise<Uint8Array> {
    if (this.made && desc.digest === this.target.digest) return Promise.resolve(this.made);
    return this.inner.fetchBytes(desc);
  }
  openBlob(desc: Descriptor): Promise<ReadableStream<Uint8Array>> {
    if (this.made && desc.digest === this.target.digest) {
      const made = this.made;
      return Promise.resolve(
        new ReadableStream({
          start(c) {
            c.enqueue(made);
            c.close();
          },
        }),
      );
    }
    return this.inner.openBlob(desc);
  }
  readChunks(desc: Descriptor): AsyncIterable<Uint8Array> {
    return this.inner.readChunks(desc);
  }
  readRange(desc: Descriptor, start: number, end: number): Promise<Uint8Array> {
    return this.inner.readRange(desc, start, end);
  }
  async hasBlob(desc: Descriptor): Promise<boolean> {
    if (this.made && desc.digest === this.target.digest) return true;
    return await this.inner.hasBlob(desc);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
