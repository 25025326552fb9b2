/**
 * Using an image's SOCI index to list and read its files without pulling
 * it: `listFiles(image)` is the merged file tree of its layers,
 * `openFile(image, path)` a stream of one file's bytes. Works for any
 * image source (`oci:`, `oci-archive:`, `docker://`, an image of the local
 * store, and whatever else `openImage` opens).
 *
 * The index is found as the snapshotter finds it (`index_discovery.ts`).
 * A layer with a zTOC has its TOC read from the zTOC and its file bytes
 * fetched by ranged reads of just the spans that hold them, each span's
 * digest checked before use (`soci-format.md` §5.5); a layer without one
 * is streamed in full (and checked against its digest).
 *
 * @module
 */
import { BadInputError, NotFoundError } from "../errors.ts";
import { openImage, type OpenImageOptions } from "../image/open.ts";
import { RegistrySource } from "../image/registry_source.ts";
import { type SelectedManifest, selectManifest } from "../image/select.ts";
import { type ImageSource, wrapSource } from "../image/source.ts";
import { StoreSource } from "../image/store_source.ts";
import type { Descriptor, Platform } from "../oci/descriptor.ts";
import { Sha256, sha256Digest } from "../oci/digest.ts";
import {
  ANNOTATION_LAYER_DIGEST,
  isIndexType,
  PREFETCH_MEDIA_TYPE,
  ZTOC_MEDIA_TYPE,
} from "../oci/media_types.ts";
import { isLayerMediaType } from "../oci/layer_types.ts";
import { hostPlatform } from "../oci/platform.ts";
import {
  cleanPath,
  LayerFiles,
  type LayerLookup,
  lookupPath,
  mergeLayers,
  nameText,
  resolvePath,
  type TreeNode,
} from "../soci/merged_tree.ts";
import { ZtocLayerIndex } from "../soci/ztoc_layer_index.ts";
import type { ArtifactStore } from "../store/artifact_store.ts";
import { extractFile } from "../ztoc/extract.ts";
import { decodeZtoc } from "../ztoc/codec.ts";
import type { FileMetadata, Ztoc, ZtocHeader } from "../ztoc/model.ts";
import { validateZtoc, validateZtocHeader, type Zinfo } from "../ztoc/spans.ts";
import { ZtocView } from "../ztoc/ztoc_view.ts";
import { fullLayerRange, fullLayerToc } from "./full_layer.ts";
import { ANNOTATION_PLAIN_HTTP, ANNOTATION_SOURCE } from "./image_names.ts";
import { discoverIndex, type Discovery } from "./index_discovery.ts";
import { choosePlatforms, resolvePlatforms } from "./platforms.ts";
import { pieceRangeReader } from "./range_pieces.ts";
import { countingSource, type ReadStats } from "./read_stats.ts";

const utf8 = new TextDecoder();

/** One file of an image's merged tree. */
export interface FileInfo {
  /** Path from the image's root, without a leading `/` (`etc/os-release`). */
  path: string;
  /** `reg`, `dir`, `symlink`, `hardlink`, `char`, `block` or `fifo`. */
  type: string;
  /** Permission bits (with setuid, setgid and sticky): `mode & 0o7777`. */
  mode: number;
  /** Bytes of data: a regular file's size, a hard link's target's; 0 for the rest. */
  size: number;
  /** Owner user id. */
  uid: number;
  /** Owner group id. */
  gid: number;
  /** Owner user name (may be empty). */
  uname: string;
  /** Owner group name (may be empty). */
  gname: string;
  /** Modification time, RFC 3339 (empty for an implicit directory). */
  modTime: string;
  /** Target of a symlink or hard link (as recorded); empty otherwise. */
  linkname: string;
  /** Device numbers of a `char` or `block` device. */
  devmajor: number;
  /** Device numbers of a `char` or `block` device. */
  devminor: number;
  /** Position of the layer it comes from among the manifest's layers (0 = lowest). */
  layer: number;
  /** Digest of that layer. */
  layerDigest: string;
  /** A directory no layer lists, there because entries are under it. */
  implicit: boolean;
}

/** Options of {@link ImageFiles.open}, {@link listFiles} and {@link openFile}. */
export interface ReadImageOptions {
  /**
   * The local store: for bare image names, for indexes built by `create`,
   * and for an `indexDigest` stored there.
   */
  store?: ArtifactStore;
  /** Registry options (credentials, TLS, plain HTTP, timeout). */
  registry?: OpenImageOptions["registry"];
  /** More options for `openImage` (e.g. a containerd socket), for every source opened. */
  open?: OpenImageOptions;
  /** The platform to read; default the image's own (one manifest) or the host's. */
  platform?: Platform;
  /** Use this SOCI index (digest, or with a store a unique prefix). */
  indexDigest?: string;
  /** Counts what is fetched (`--stats`). */
  stats?: ReadStats;
  /** Problems that do not stop the read (a zTOC that does not load, …). */
  onWarning?: (text: string) => void;
  /**
   * Stops the reading. When it aborts, what is pending (opening the image,
   * finding its index, a listing, a read of a file's stream) rejects with
   * its reason, requests in flight are stopped, and the image is closed.
   * Already aborted, it fails at once, before anything is read.
   */
  signal?: AbortSignal;
}

/** One layer of the image, and its zTOC's descriptor when the index has one. */
export interface ImageLayer {
  /** Position in the manifest (0 = lowest). */
  index: number;
  /** The layer's descriptor. */
  descriptor: Descriptor;
  /** The zTOC's descriptor in the SOCI index, when there is one. */
  ztoc?: Descriptor;
}

/**
 * Runs `work` under `signal`: fails at once with its reason when it is
 * already aborted, and with its reason, rather than whatever `work` failed
 * with, when it aborted meanwhile (a read of a source closed under it, an
 * error that wraps the reason).
 */
async function abortable<T>(signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
  signal?.throwIfAborted();
  try {
    return await work();
  } catch (e) {
    throw signal?.aborted ? signal.reason : e;
  }
}

/**
 * The source with every read given `signal` (a registry stops its
 * requests when it aborts), checked before each read and between chunks
 * (so that a local layer is not read to its end), and failing with its
 * reason once it aborted.
 */
function stoppableSource(source: ImageSource, signal: AbortSignal | undefined): ImageSource {
  if (signal === undefined) return source;
  const run = <T>(work: () => Promise<T>) => abortable(signal, work);
  const check = (chunk: Uint8Array) => {
    signal.throwIfAborted();
    return chunk;
  };
  async function* checked(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    try {
      for await (const chunk of chunks) yield check(chunk);
    } catch (e) {
      throw signal!.aborted ? signal!.reason : e;
    }
  }
  const chunks = source.readChunks?.bind(source);
  const range = source.readRange?.bind(source);
  return wrapSource(source, {
    resolve: () => run(() => source.resolve(signal)),
    fetchBytes: (desc: Descriptor) => run(() => source.fetchBytes(desc, signal)),
    openBlob: (desc: Descriptor) =>
      run(async () =>
        (await source.openBlob(desc, signal)).pipeThrough(
          new TransformStream({ transform: (chunk, c) => c.enqueue(check(chunk)) }),
        )
      ),
    readChunks: chunks && ((desc: Descriptor) => checked(chunks(desc, signal))),
    readRange: range &&
      ((desc: Descriptor, start: number, end: number) =>
        run(() => range(desc, start, end, signal))),
  });
}

/** Documents (manifests, configs) up to this size are fetched once per opened image. */
const MEMO_MAX = 1 << 20;

/**
 * The source with `fetchBytes` remembered for small documents: platform
 * selection reads the same manifest and config more than once.
 */
function memoSource(source: ImageSource): ImageSource {
  const memo = new Map<string, Promise<Uint8Array>>();
  return wrapSource(source, {
    fetchBytes(desc: Descriptor) {
      if (desc.size > MEMO_MAX) return source.fetchBytes(desc);
      const key = `${desc.digest} ${desc.size}`;
      let p = memo.get(key);
      if (p === undefined) {
        p = source.fetchBytes(desc);
        memo.set(key, p);
        p.catch(() => memo.delete(key));
      }
      return p;
    },
  });
}

/** A zTOC loaded for reading. */
export interface LoadedZtoc {
  /** The decoded zTOC. */
  ztoc: Ztoc;
  /** Its span geometry. */
  zinfo: Zinfo;
}

/** A zTOC opened for reading, its entries decoded only as they are asked for. */
export interface LoadedZtocView {
  /** The lazy view. */
  view: ZtocView;
  /** Its span geometry. */
  zinfo: Zinfo;
}

/** Blobs from this size on are hashed as they arrive rather than after. */
const STREAM_MIN = 256 * 1024;

/**
 * An image opened for reading files: its manifest, the SOCI index found
 * for it, and lazily loaded layer TOCs. Close it (or `await using`) when
 * done.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ImageFiles } from "./read_files.ts";
 * await using files = await ImageFiles.open("oci:./fixtures/sample-image:latest");
 * assert.equal(files.index, undefined); // no SOCI index: layers are read in full
 * const list = await files.list();
 * assert.ok(list.some((f) => f.path === "app/main.js" && f.type === "reg"));
 * const text = await new Response(await files.open("/app/main.js")).text();
 * assert.equal(text.length, list.find((f) => f.path === "app/main.js")!.size);
 * ```
 */
export class ImageFiles implements AsyncDisposable {
  /** The image's target (manifest or index). */
  readonly target: Descriptor;
  /** The platform's manifest. */
  readonly manifest: SelectedManifest;
  /** The image's layers, lowest first. */
  readonly layers: readonly ImageLayer[];
  /** The SOCI index found, and where it was looked for. */
  readonly discovery: Discovery;
  readonly #source: ImageSource;
  readonly #layerSource: ImageSource | undefined;
  readonly #toClose: ImageSource[];
  readonly #options: ReadImageOptions;
  readonly #views = new Map<number, Promise<LoadedZtocView | undefined>>();
  /** zTOCs decoded whole (for listing), by layer index. */
  readonly #decoded = new Map<
    number,
    Promise<(LoadedZtoc & { bytes: Uint8Array }) | undefined>
  >();
  /** zTOC bytes by layer index, fetched (or being fetched) and checked. */
  readonly #ztocBytes = new Map<number, Promise<Uint8Array>>();
  readonly #files = new Map<number, Promise<LayerFiles>>();
  readonly #lookups = new Map<number, Promise<LayerLookup>>();
  readonly #noLayerSource: string;
  #closing?: Promise<void>;
  /** Closes the image when the options' signal aborts. */
  readonly #onAbort = () => {
    this.close().catch(() => {}); // (whoever awaits `close()` sees a failure)
  };

  private constructor(init: {
    target: Descriptor;
    manifest: SelectedManifest;
    layers: ImageLayer[];
    discovery: Discovery;
    source: ImageSource;
    layerSource: ImageSource | undefined;
    toClose: ImageSource[];
    options: ReadImageOptions;
    noLayerSource: string;
  }) {
    this.target = init.target;
    this.manifest = init.manifest;
    this.layers = init.layers;
    this.discovery = init.discovery;
    this.#source = init.source;
    this.#layerSource = init.layerSource;
    this.#toClose = init.toClose;
    this.#options = init.options;
    this.#noLayerSource = init.noLayerSource;
    init.options.signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  /** The SOCI index used, if one was found. */
  get index(): Discovery["index"] {
    return this.discovery.index;
  }

  /**
   * Opens `image` (a reference for `openImage`, or a source) and finds its
   * manifest for the platform and its SOCI index. Nothing about layers is
   * read yet. An image of the local store reads its layers from where it
   * came from (the source recorded with its name).
   *
   * With `options.signal`, everything this object reads stops when it
   * aborts (the call pending rejects with its reason) and the image is
   * closed.
   */
  static async open(image: string | ImageSource, options: ReadImageOptions = {}): Promise<
    ImageFiles
  > {
    const signal = options.signal;
    const toClose: ImageSource[] = [];
    try {
      signal?.throwIfAborted();
      const raw = typeof image === "string"
        ? await openImage(image, {
          ...options.open,
          store: options.store,
          registry: options.registry,
        })
        : image;
      if (typeof image === "string") toClose.push(raw);
      signal?.throwIfAborted();
      const stats = options.stats;
      const fromStore = raw instanceof StoreSource ? "store" : "image";
      const stoppable = stoppableSource(raw, signal);
      const source = memoSource(stats ? countingSource(stoppable, stats, fromStore) : stoppable);
      const target = await source.resolve();
      let manifest: SelectedManifest;
      if (options.platform === undefined && !isIndexType(target.mediaType)) {
        // One manifest and no platform asked for: it is the one to read (its
        // config need not be read to learn its platform).
        manifest = await selectManifest(source, target, target.platform ?? hostPlatform());
      } else {
        const wanted = await choosePlatforms(
          source,
          target,
          options.platform ? [options.platform] : undefined,
        );
        const { found, missing } = await resolvePlatforms(source, target, wanted);
        if (found.length === 0) throw missing[0].error;
        manifest = found[0].manifest;
      }
      stats?.label(target.digest, "manifest");
      stats?.label(manifest.descriptor.digest, "manifest");
      stats?.label(manifest.manifest.config.digest, "config");

      // Where the layers are: the image's own source, or for an image of
      // the store the source its name records.
      let rawLayers: ImageSource | undefined = raw;
      let noLayerSource = "";
      if (raw instanceof StoreSource) {
        rawLayers = undefined;
        const img = await raw.store.image(raw.storeName);
        const from = img?.annotations[ANNOTATION_SOURCE];
        if (from) {
          const plainHttp = options.registry?.plainHttp ||
            img?.annotations[ANNOTATION_PLAIN_HTTP] === "true";
          rawLayers = await openImage(from, {
            ...options.open,
            store: options.store,
            registry: { ...options.registry, plainHttp },
          });
          toClose.push(rawLayers);
        } else {
          noLayerSource = `the layers of ${raw.storeName} are not in the local store and ` +
            "where the image came from is not recorded";
        }
      }
      const stoppableLayers = rawLayers && stoppableSource(rawLayers, signal);
      const layerSource = stoppableLayers && stats
        ? countingSource(stoppableLayers, stats)
        : stoppableLayers;
      signal?.throwIfAborted();

      const discovery = await discoverIndex(raw, manifest, {
        store: options.store,
        indexDigest: options.indexDigest,
        registry: rawLayers instanceof RegistrySource ? rawLayers : undefined,
        target,
        signal,
      });
      const ztocOf = new Map<string, Descriptor>();
      if (discovery.index) {
        const idx = discovery.index;
        stats?.label(idx.descriptor.digest, "index");
        stats?.add(idx.descriptor.digest, idx.bytes.length, idx.from);
        for (const d of idx.manifest.layers ?? []) {
          const layer = d.annotations?.[ANNOTATION_LAYER_DIGEST];
          if (d.mediaType !== ZTOC_MEDIA_TYPE || !layer || ztocOf.has(layer)) continue;
          ztocOf.set(layer, d);
        }
      }
      const layers: ImageLayer[] = [];
      (manifest.manifest.layers ?? []).forEach((d, index) => {
        if (d.mediaType === PREFETCH_MEDIA_TYPE) return;
        if (!isLayerMediaType(d.mediaType)) {
          throw new BadInputError(
            `layer ${index + 1} (${d.digest}) of ${manifest.descriptor.digest}: ` +
              `not a layer mediaType: ${d.mediaType}`,
          );
        }
        const z = ztocOf.get(d.digest);
        stats?.label(d.digest, "layer", index);
        if (z) stats?.label(z.digest, "ztoc", index);
        layers.push(z ? { index, descriptor: d, ztoc: z } : { index, descriptor: d });
      });
      signal?.throwIfAborted();
      return new ImageFiles({
        target,
        manifest,
        layers,
        discovery,
        source,
        layerSource,
        toClose,
        options,
        noLayerSource,
      });
    } catch (e) {
      for (const s of toClose) await s.close?.();
      throw signal?.aborted ? signal.reason : e;
    }
  }

  /**
   * Releases the sources this object opened (not the store); called again,
   * the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#options.signal?.removeEventListener("abort", this.#onAbort);
      // zTOCs fetched ahead that nobody asked for: let them end first.
      await Promise.allSettled(this.#ztocBytes.values());
      const list = this.#toClose.splice(0);
      for (const s of list) await s.close?.();
    })();
    return this.#closing;
  }

  /** Same as {@link ImageFiles.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #layerSourceOrFail(): ImageSource {
    if (this.#layerSource === undefined) throw new NotFoundError(this.#noLayerSource);
    return this.#layerSource;
  }

  /**
   * The bytes of a zTOC (or other blob of the index), verified against
   * `desc`: from the local store when it has it, else from the image's
   * sources.
   */
  blob(desc: Descriptor): Promise<Uint8Array> {
    return abortable(this.#options.signal, () => this.#blob(desc));
  }

  async #blob(desc: Descriptor): Promise<Uint8Array> {
    const store = this.#options.store;
    if (store !== undefined && (await store.has(desc.digest))) {
      const bytes = await store.readBlob(desc.digest);
      this.#options.stats?.add(desc.digest, bytes.length, "store");
      const got = sha256Digest(bytes);
      if (got !== desc.digest || bytes.length !== desc.size) {
        throw new BadInputError(`stored blob ${desc.digest} has digest ${got}`);
      }
      return bytes;
    }
    // The image's own source first, then (for an image of the store) where it came from.
    const sources = [this.#source];
    if (this.#layerSource && this.#source.reference !== this.#layerSource.reference) {
      sources.push(this.#layerSource);
    }
    for (let i = 0;; i++) {
      try {
        const src = sources[i];
        if (desc.size >= STREAM_MIN && src.readChunks) return await hashedBlob(src, desc);
        return await src.fetchBytes(desc);
      } catch (e) {
        if (!(e instanceof NotFoundError)) throw e;
        if (i === sources.length - 1) {
          // Say what the blob is: the sources' messages only name a blob.
          const where = store !== undefined ? "not in the local store, and " : "";
          throw new NotFoundError(`blob ${desc.digest} of the SOCI index: ${where}${e.message}`);
        }
      }
    }
  }

  /**
   * The zTOC of layer `i`, loaded and checked by the snapshotter's rules;
   * `undefined` when the layer has none, or when it does not load (then
   * the layer is read in full, with a warning).
   */
  async ztoc(i: number): Promise<LoadedZtoc | undefined> {
    const opened = this.#views.get(i);
    if (opened !== undefined) {
      const v = await opened;
      return v === undefined ? undefined : { ztoc: v.view.toZtoc(), zinfo: v.zinfo };
    }
    // Every entry is needed: decoded at once, without a view first.
    let p = this.#decoded.get(i);
    if (p === undefined) {
      p = this.#load(i, (bytes) => {
        const ztoc = decodeZtoc(bytes);
        validateZtoc(ztoc);
        return { ztoc, header: ztoc };
      });
      this.#decoded.set(i, p);
    }
    const l = await p;
    return l === undefined ? undefined : { ztoc: l.ztoc, zinfo: l.zinfo };
  }

  /**
   * The zTOC of layer `i` as a lazy view (see {@link ImageFiles.ztoc}):
   * what reading one file needs, without decoding every TOC entry.
   */
  ztocView(i: number): Promise<LoadedZtocView | undefined> {
    let p = this.#views.get(i);
    if (p === undefined) {
      p = this.#loadView(i);
      this.#views.set(i, p);
    }
    return p;
  }

  /** The bytes of layer `i`'s zTOC `desc`, fetched once. */
  #ztocBlob(i: number, desc: Descriptor): Promise<Uint8Array> {
    let p = this.#ztocBytes.get(i);
    if (p === undefined) {
      p = this.blob(desc);
      // Fetched ahead, maybe never awaited: its failure is reported to whoever awaits it.
      p.catch(() => {});
      this.#ztocBytes.set(i, p);
    }
    return p;
  }

  async #loadView(i: number): Promise<LoadedZtocView | undefined> {
    const decoded = this.#decoded.get(i);
    if (decoded !== undefined) {
      // Already decoded whole (and checked): a view of the same bytes.
      const d = await decoded;
      return d === undefined ? undefined : { view: ZtocView.decode(d.bytes), zinfo: d.zinfo };
    }
    const l = await this.#load(i, (bytes) => {
      const view = ZtocView.decode(bytes);
      return { view, header: view.header };
    });
    return l === undefined ? undefined : { view: l.view, zinfo: l.zinfo };
  }

  /**
   * Fetches layer `i`'s zTOC, decodes it with `decode` and checks it by the
   * snapshotter's rules; `undefined` (with a warning: the layer is then
   * read in full) when it does not load.
   */
  async #load<T extends { header: ZtocHeader }>(
    i: number,
    decode: (bytes: Uint8Array) => T,
  ): Promise<(T & { zinfo: Zinfo; bytes: Uint8Array }) | undefined> {
    const layer = this.#layer(i);
    if (layer.ztoc === undefined) return undefined;
    const bytes = await this.#ztocBlob(i, layer.ztoc);
    try {
      const decoded = decode(bytes);
      const zinfo = validateZtocHeader(decoded.header);
      if (decoded.header.compressedArchiveSize !== layer.descriptor.size) {
        throw new BadInputError(
          `it is for a layer of ${decoded.header.compressedArchiveSize} bytes, this one has ` +
            `${layer.descriptor.size}`,
        );
      }
      return { ...decoded, zinfo, bytes };
    } catch (e) {
      if (!(e instanceof BadInputError)) throw e;
      this.#options.onWarning?.(
        `zTOC ${layer.ztoc.digest} of layer ${layer.descriptor.digest} cannot be used ` +
          `(${e.message}): reading the layer in full`,
      );
      return undefined;
    }
  }

  #layer(i: number): ImageLayer {
    const layer = this.layers.find((l) => l.index === i);
    if (layer === undefined) throw new NotFoundError(`no layer ${i} in the image`);
    return layer;
  }

  /** Streams a layer's bytes from its first (chunks may be reused buffers). */
  async layerChunks(layer: ImageLayer): Promise<AsyncIterable<Uint8Array>> {
    const src = this.#layerSourceOrFail();
    return src.readChunks?.(layer.descriptor) ?? (await src.openBlob(layer.descriptor));
  }

  /** The TOC of layer `i` (from its zTOC, else by reading the layer in full), indexed. */
  layerFiles(i: number): Promise<LayerFiles> {
    let p = this.#files.get(i);
    if (p === undefined) {
      p = (async () => {
        const z = await this.ztoc(i);
        const toc = z ? z.ztoc.toc : await this.#fullToc(this.#layer(i));
        return new LayerFiles(toc, i);
      })();
      this.#files.set(i, p);
    }
    return p;
  }

  /**
   * What looking paths up in layer `i` needs: an index over its zTOC that
   * decodes only the entries asked for, else (no usable zTOC) its whole
   * TOC indexed.
   */
  #layerLookup(i: number): Promise<LayerLookup> {
    let p = this.#lookups.get(i);
    if (p === undefined) {
      const files = this.#files.get(i);
      p = files ?? (async () => {
        const v = await this.ztocView(i);
        if (v !== undefined) return new ZtocLayerIndex(v.view, i);
        return await this.layerFiles(i);
      })();
      this.#lookups.set(i, p);
    }
    return p;
  }

  async #fullToc(layer: ImageLayer): Promise<FileMetadata[]> {
    return await fullLayerToc(await this.layerChunks(layer), layer.descriptor);
  }

  /** The layer positions in the order the merge needs (lowest first). */
  #indexes(): number[] {
    return this.layers.map((l) => l.index);
  }

  /**
   * The merged file tree (every layer's TOC is needed), sorted by path;
   * with `path`, only that entry and, for a directory, everything under it
   * (symlinks in the path are followed, except at its end).
   */
  list(path?: string): Promise<FileInfo[]> {
    return abortable(this.#options.signal, () => this.#list(path));
  }

  async #list(path?: string): Promise<FileInfo[]> {
    const all = await Promise.all(this.#indexes().map((i) => this.layerFiles(i)));
    const tree = mergeLayers(all);
    let nodes = [...tree.values()];
    if (path !== undefined && path.split("/").some((s) => s !== "" && s !== ".")) {
      const node = await resolvePath((p) => Promise.resolve(tree.get(p)), path, {
        followLast: false,
      });
      const prefix = node.path + "/";
      nodes = node.meta.type === "dir"
        ? [node, ...nodes.filter((n) => n.path.startsWith(prefix))]
        : [node];
    }
    return nodes.map((n) => this.#info(n));
  }

  /**
   * Looks paths up from the top layer down; `path`, when given, is the one
   * about to be resolved: zTOC indexes answer for it and its ancestors
   * from one pass over their names.
   */
  #lookup(path?: string): (path: string) => Promise<TreeNode | undefined> {
    const count = this.layers.length;
    const hint = path === undefined ? "" : cleanPath(path);
    // Layers are looked up by position in `layers` (prefetch entries are not layers).
    const load = async (k: number) => {
      // A lookup that goes on below this layer needs that layer's zTOC next:
      // its download overlaps this layer's indexing.
      const here = this.#layerLookup(this.layers[k].index);
      const below = this.layers[k - 1];
      if (below?.ztoc !== undefined && !this.#lookups.has(below.index)) {
        this.#ztocBlob(below.index, below.ztoc);
      }
      const files = await here;
      if (files instanceof ZtocLayerIndex) files.prepare(hint);
      return files;
    };
    return async (p) => {
      const node = await lookupPath(count, load, p);
      return node;
    };
  }

  /**
   * One entry, found by walking the layers from the top (only the layers
   * that decide are read). Symlinks in the path are followed; at its end
   * only with `follow`.
   */
  stat(path: string, options: { follow?: boolean } = {}): Promise<FileInfo> {
    return abortable(this.#options.signal, () => this.#stat(path, options));
  }

  async #stat(path: string, options: { follow?: boolean }): Promise<FileInfo> {
    const node = await resolvePath(this.#lookup(path), path, {
      followLast: options.follow ?? false,
    });
    return this.#info(node);
  }

  /**
   * A stream of a regular file's bytes (symlinks followed within the
   * image, hard links to their target). For a layer with a zTOC only the
   * spans holding the file are fetched, each checked against its digest
   * before use; a layer without one is streamed in full.
   */
  async open(path: string): Promise<ReadableStream<Uint8Array>> {
    return ReadableStream.from(await this.bytes(path));
  }

  /** {@link ImageFiles.open} as an async generator. */
  bytes(path: string): Promise<AsyncGenerator<Uint8Array>> {
    return abortable(this.#options.signal, () => this.#bytes(path));
  }

  async #bytes(path: string): Promise<AsyncGenerator<Uint8Array>> {
    let node = await resolvePath(this.#lookup(path), path);
    if (node.meta.type === "hardlink") {
      if (node.target === undefined) {
        throw new NotFoundError(
          `${path}: hard link to ${utf8.decode(node.meta.linkname)}, which does not exist`,
        );
      }
      node = node.target;
    }
    if (node.meta.type === "dir") throw new BadInputError(`${path} is a directory`);
    if (node.meta.type !== "reg") {
      throw new BadInputError(`${path} is not a regular file (${node.meta.type})`);
    }
    const layer = this.layers.find((l) => l.index === node.layer)!;
    const meta = node.meta;
    const z = await this.ztocView(layer.index);
    if (z !== undefined) {
      const read = pieceRangeReader(this.#layerSourceOrFail(), layer.descriptor);
      return extractFile(z.view.header, meta, read, z.zinfo);
    }
    const chunks = await this.layerChunks(layer);
    return fullLayerRange(chunks, layer.descriptor, meta.uncompressedOffset, meta.uncompressedSize);
  }

  #info(n: TreeNode): FileInfo {
    const m = n.meta;
    const data = m.type === "hardlink" ? n.target?.meta : m;
    const layer = this.layers.find((l) => l.index === n.layer);
    return {
      path: n.path,
      type: m.type,
      mode: m.mode & 0o7777,
      size: data?.type === "reg" ? data.uncompressedSize : 0,
      uid: m.uid,
      gid: m.gid,
      uname: nameText(m.uname),
      gname: nameText(m.gname),
      modTime: m.modTime,
      linkname: nameText(m.linkname),
      devmajor: m.devmajor,
      devminor: m.devminor,
      layer: n.layer,
      layerDigest: layer?.descriptor.digest ?? "",
      implicit: n.implicit,
    };
  }
}

/**
 * A blob read as a stream into one buffer of its size, hashed as it
 * arrives, and checked against `desc` (size and digest).
 */
async function hashedBlob(source: ImageSource, desc: Descriptor): Promise<Uint8Array> {
  const out = new Uint8Array(desc.size);
  const hash = new Sha256();
  let n = 0;
  for await (const chunk of source.readChunks!(desc)) {
    if (n + chunk.length > desc.size) {
      throw new BadInputError(`blob ${desc.digest} has more than the ${desc.size} bytes expected`);
    }
    hash.update(chunk);
    out.set(chunk, n);
    n += chunk.length;
  }
  if (n !== desc.size) {
    throw new BadInputError(`blob ${desc.digest} has ${n} bytes, expected ${desc.size}`);
  }
  const got = hash.digest();
  if (got !== desc.digest) throw new BadInputError(`blob ${desc.digest} has digest ${got}`);
  return out;
}

/**
 * Opens `image` for reading its files ({@link ImageFiles.open}) and fails
 * when the index named by `options.indexDigest` is not for this image
 * (none of its zTOCs is for one of the image's layers: nothing of it would
 * be used, every layer would be read in full).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openImageForReading } from "./read_files.ts";
 * await using files = await openImageForReading("oci:./fixtures/sample-image:latest");
 * assert.equal(files.layers.length, 2);
 * ```
 */
export async function openImageForReading(
  image: string | ImageSource,
  options: ReadImageOptions = {},
): Promise<ImageFiles> {
  const files = await ImageFiles.open(image, options);
  const idx = files.index;
  const ztocs = (idx?.manifest.layers ?? []).filter((d) => d.mediaType === ZTOC_MEDIA_TYPE);
  if (idx?.via === "explicit" && ztocs.length > 0 && !files.layers.some((l) => l.ztoc)) {
    await files.close();
    throw new BadInputError(
      `index ${idx.descriptor.digest} is not for this image: none of its ${ztocs.length} ` +
        `zTOCs is for a layer of ${files.manifest.descriptor.digest}`,
    );
  }
  return files;
}

/**
 * The merged file tree of an image, sorted by path (see
 * {@link ImageFiles.list}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { listFiles } from "./read_files.ts";
 * const files = await listFiles("oci:./fixtures/sample-image:latest");
 * assert.ok(files.some((f) => f.path === "app/main.js"));
 * // A signal stops it (here before anything is read):
 * const stop = new AbortController();
 * stop.abort(new Error("no longer needed"));
 * await assert.rejects(
 *   listFiles("oci:./fixtures/sample-image:latest", { signal: stop.signal }),
 *   /no longer needed/,
 * );
 * ```
 */
export async function listFiles(
  image: string | ImageSource,
  options: ReadImageOptions & { path?: string } = {},
): Promise<FileInfo[]> {
  await using files = await openImageForReading(image, options);
  return await files.list(options.path);
}

/**
 * A stream of one file's bytes (see {@link ImageFiles.open}); the image
 * is closed when the stream ends or is cancelled, or when
 * `options.signal` aborts (a read then rejects with the signal's reason).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openFile } from "./read_files.ts";
 * const stream = await openFile("oci:./fixtures/sample-image:latest", "app/main.js");
 * const text = await new Response(stream).text();
 * assert.ok(text.length > 0);
 * ```
 */
export async function openFile(
  image: string | ImageSource,
  path: string,
  options: ReadImageOptions = {},
): Promise<ReadableStream<Uint8Array>> {
  const files = await openImageForReading(image, options);
  let gen: AsyncGenerator<Uint8Array>;
  try {
    gen = await files.bytes(path);
  } catch (e) {
    await files.close();
    throw e;
  }
  // (not ReadableStream.from: cancelling before the first read would skip
  // an unstarted generator's `finally`, and the image would stay open)
  const signal = options.signal;
  let onAbort = () => {};
  const finish = () => {
    signal?.removeEventListener("abort", onAbort);
    return files.close();
  };
  return new ReadableStream<Uint8Array>({
    start(controller) {
      // A read waiting fails at once; the generator ends once the read in
      // progress has stopped (the image closes itself on the abort).
      onAbort = () => {
        controller.error(signal!.reason);
        gen.return(undefined).catch(() => {});
      };
      if (signal?.aborted) onAbort();
      else signal?.addEventListener("abort", onAbort, { once: true });
    },
    async pull(controller) {
      let r: IteratorResult<Uint8Array>;
      try {
        r = await gen.next();
      } catch (e) {
        await finish();
        throw e;
      }
      if (r.done) {
        await finish();
        controller.close();
      } else controller.enqueue(r.value);
    },
    async cancel() {
      try {
        await gen.return(undefined);
      } finally {
        await finish();
      }
    },
  }, { highWaterMark: 0 });
}
