/**
 * An image in containerd, named `containerd:NAME` or by a plain name, read
 * through containerd's gRPC content service: the image record gives the
 * target, blobs are streamed from `Content.Read` (no export, no temp
 * files), ranges use ranged reads, manifests and configs are verified
 * against their descriptors.
 *
 * Names are looked up normalized as containerd and nerdctl normalize them
 * (`app:1` → `docker.io/library/app:1`); when that record does not exist,
 * the name exactly as written is tried too (e.g. names `ctr images import`
 * made).
 *
 * ```ts ignore
 * import { ContainerdSource } from "./containerd_source.ts";
 * const src = new ContainerdSource("containerd:app:1", { namespace: "default" });
 * try {
 *   const target = await src.resolve(); // the record of docker.io/library/app:1
 *   console.error(src.storeName, target.digest);
 * } finally {
 *   await src.close();
 * }
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import { BadInputError, NotFoundError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { parseDigest } from "../oci/digest.ts";
import { ContainerdClient, type ContainerdClientOptions } from "../containerd/client.ts";
import { ContainerdContent, eagerStream } from "../containerd/content.ts";
import { ContainerdImages, type ImageRecord } from "../containerd/images.ts";
import { contentStoreRoot } from "../containerd/introspection.ts";
import { normalizeImageName } from "../containerd/names.ts";
import { readFileChunks } from "./file_layer.ts";
import type { ImageSource } from "./source.ts";

/** The transport prefix that names a containerd image explicitly. */
export const CONTAINERD_TRANSPORT = "containerd:";

/** Options of {@link ContainerdSource}: a client to share, or how to make one. */
export interface ContainerdSourceOptions extends ContainerdClientOptions {
  /** A client to use (its namespace is used); the source does not close it. */
  client?: ContainerdClient;
  /**
   * Stream layers (`readChunks`) from the blob files of containerd's content
   * store instead of `Content.Read`, when this process may read them: `true`
   * asks containerd where its content store is (Introspection), a string is
   * that folder (`…/io.containerd.content.v1.content`). Each blob is still
   * looked up in the namespace first (`Content.Info`); without read
   * permission (checked without prompting) or when the file is missing or
   * has another size, the source reads over gRPC. Default: off.
   */
  directRead?: boolean | string;
}

/**
 * The image name in a reference: `containerd:NAME` loses its prefix, a
 * plain name is kept. An empty name is a `BadInputError`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { containerdImageName } from "./containerd_source.ts";
 * assert.equal(containerdImageName("containerd:app:1"), "app:1");
 * assert.equal(containerdImageName("docker.io/library/app:1"), "docker.io/library/app:1");
 * ```
 */
export function containerdImageName(reference: string): string {
  const name = reference.startsWith(CONTAINERD_TRANSPORT)
    ? reference.slice(CONTAINERD_TRANSPORT.length)
    : reference;
  if (name === "") throw new BadInputError(`missing image name in ${reference}`);
  return name;
}

function checkRange(desc: Descriptor, start: number, end: number): void {
  if (!(Number.isSafeInteger(start) && Number.isSafeInteger(end)) || start < 0 || end < start) {
    throw new BadInputError(`invalid range [${start}, ${end}) of blob ${desc.digest}`);
  }
  if (end > desc.size) {
    throw new BadInputError(
      `range [${start}, ${end}) is beyond the end of blob ${desc.digest} (${desc.size} bytes)`,
    );
  }
}

/**
 * `ImageSource` over an image record in containerd.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ContainerdSource } from "./containerd_source.ts";
 * const src = new ContainerdSource("containerd:app:1", { address: "/nonexistent/containerd.sock" });
 * assert.equal(src.storeName, "docker.io/library/app:1");
 * await assert.rejects(src.resolve(), /containerd socket \/nonexistent\/containerd.sock does not exist/);
 * await src.close();
 * ```
 */
export class ContainerdSource implements ImageSource {
  /** The reference as given. */
  readonly reference: string;
  /** The name as written (without `containerd:`). */
  readonly name: string;
  /** The client every call goes through. */
  readonly client: ContainerdClient;
  /** The content service of the client's namespace. */
  readonly content: ContainerdContent;
  /** The image service of the client's namespace. */
  readonly images: ContainerdImages;
  readonly #ownsClient: boolean;
  readonly #normalized?: string;
  readonly #directRead: boolean | string;
  #contentRoot?: Promise<string | undefined>;
  #record?: ImageRecord;
  #small = new Map<string, Uint8Array>();

  /**
   * Parses the reference; nothing is asked of containerd until `resolve()`.
   *
   * @param reference `containerd:NAME` or `NAME`
   * @param options a client to share, or the address, namespace and timeout of a new one
   */
  constructor(reference: string, options: ContainerdSourceOptions = {}) {
    this.reference = reference;
    this.name = containerdImageName(reference);
    try {
      this.#normalized = normalizeImageName(this.name);
    } catch {
      // Not a reference containerd could normalize: only the exact name can match.
    }
    if (options.client) {
      this.client = options.client;
      this.#ownsClient = false;
    } else {
      this.client = new ContainerdClient(options);
      this.#ownsClient = true;
    }
    this.content = new ContainerdContent(this.client);
    this.images = new ContainerdImages(this.client);
    this.#directRead = options.directRead ?? false;
  }

  /**
   * The image record's name: the normalized name (or, before `resolve()`
   * found it under the exact spelling, the name as written).
   */
  get storeName(): string {
    return this.#record?.name ?? this.#normalized ?? this.name;
  }

  /** The image record, once `resolve()` found it. */
  get record(): ImageRecord | undefined {
    return this.#record;
  }

  /**
   * The image record's target (media type, digest and size; annotations
   * that `ctr images import` keeps on it are in {@link record}). The
   * normalized name is looked up first,
   * then the name as written. Missing: a `NotFoundError` naming the image
   * (normalized) and the namespace, or saying the namespace does not exist.
   */
  async resolve(): Promise<Descriptor> {
    const names = [this.#normalized, this.name].filter((n, i, all): n is string =>
      n !== undefined && all.indexOf(n) === i
    );
    let first: unknown;
    for (const name of names) {
      try {
        this.#record = await this.images.get(name);
        const { mediaType, digest, size } = this.#record.target;
        return { mediaType, digest, size };
      } catch (e) {
        if (!(e instanceof NotFoundError)) throw e;
        first ??= e;
        if (/namespace .* does not exist/.test(e.message)) break;
      }
    }
    throw first;
  }

  /**
   * A manifest, index or config, verified against `desc.digest` and
   * `desc.size` (a mismatch is a `BadInputError` naming both). At most
   * `desc.size + 1` bytes are read.
   */
  async fetchBytes(desc: Descriptor): Promise<Uint8Array> {
    const cached = this.#small.get(desc.digest);
    if (cached && cached.length === desc.size) return cached;
    const digest = parseDigest(desc.digest);
    const bytes = await this.content.readBytes(digest, { size: desc.size + 1 });
    const alg = digest.slice(0, digest.indexOf(":"));
    const actual = `${alg}:${createHash(alg).update(bytes).digest("hex")}`;
    if (bytes.length !== desc.size || actual !== digest) {
      const more = bytes.length > desc.size ? "more than " : "";
      throw new BadInputError(
        `containerd blob does not match its descriptor: expected ${digest} (${desc.size} bytes), ` +
          `got ${actual} (${more}${bytes.length} bytes)`,
      );
    }
    if (bytes.length <= 1 << 20) this.#small.set(digest, bytes);
    return bytes;
  }

  /**
   * Streams a blob (not verified here: the consumer hashes it). A missing
   * blob is a `NotFoundError` from this call, not from the stream.
   */
  async openBlob(desc: Descriptor): Promise<ReadableStream<Uint8Array>> {
    return await eagerStream(this.#chunks(desc, false));
  }

  /**
   * Streams a blob as containerd sends it (about 1 MiB per chunk, views of
   * the received messages: no copy, and each stays valid). With
   * `directRead`, from the blob's file when it may be read (1 MiB reads
   * into one reused buffer: each chunk is valid until the next).
   */
  readChunks(desc: Descriptor): AsyncGenerator<Uint8Array> {
    return this.#chunks(desc, true);
  }

  async *#chunks(desc: Descriptor, reuse: boolean): AsyncGenerator<Uint8Array> {
    const digest = parseDigest(desc.digest);
    const file = await this.#blobFile(digest);
    if (file) yield* readFileChunks(file.path, 0, file.size, { reuse });
    else yield* this.content.read(digest);
  }

  /** The content store folder for direct reads, or undefined (off, unknown, not readable). */
  #root(): Promise<string | undefined> {
    this.#contentRoot ??= (async () => {
      if (this.#directRead === false) return undefined;
      if (typeof this.#directRead === "string") return this.#directRead;
      try {
        return await contentStoreRoot(this.client);
      } catch {
        return undefined;
      }
    })();
    return this.#contentRoot;
  }

  /**
   * The file of a blob in the content store when direct reads are on and
   * allowed; the blob must be in this namespace (else `NotFoundError`).
   */
  async #blobFile(digest: string): Promise<{ path: string; size: number } | undefined> {
    const root = await this.#root();
    if (root === undefined) return undefined;
    const info = await this.content.info(digest);
    const i = digest.indexOf(":");
    const path = `${root}/blobs/${digest.slice(0, i)}/${digest.slice(i + 1)}`;
    if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") {
      this.#contentRoot = Promise.resolve(undefined);
      return undefined;
    }
    try {
      const st = await Deno.stat(path);
      if (st.isFile && st.size === info.size) return { path, size: info.size };
    } catch {
      // not on this host's file system (or gone): read over gRPC
    }
    return undefined;
  }

  /** Bytes `[start, end)` of a blob through a ranged `Content.Read`. */
  async readRange(desc: Descriptor, start: number, end: number): Promise<Uint8Array> {
    checkRange(desc, start, end);
    if (start === end) return new Uint8Array(0);
    const bytes = await this.content.readBytes(parseDigest(desc.digest), {
      offset: start,
      size: end - start,
    });
    if (bytes.length !== end - start) {
      throw new BadInputError(
        `range [${start}, ${end}) is beyond the end of blob ${desc.digest} in containerd ` +
          `(got ${bytes.length} bytes)`,
      );
    }
    return bytes;
  }

  /** Closes the client when this source made it. */
  close(): Promise<void> {
    if (this.#ownsClient) this.client.close();
    return Promise.resolve();
  }
}
