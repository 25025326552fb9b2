/**
 * soci-deno (`@soci/cli`): build, inspect and push SOCI (Seekable OCI)
 * indexes for container images, byte-compatible with AWS soci-snapshotter,
 * without a daemon, root or temp disk.
 *
 * The library is a set of stages over async iterables —
 * `layers() → reuse() → spans() → ztoc() → storeZtocs() → index()` — plus
 * the image sources, the artifact stores, the codecs, and use cases
 * (`createIndexes`, `pushIndexes`, `rebuildDb`, …) that compose them. Each
 * stage is useful alone. Run as a program (`deno run -A jsr:@soci/cli
 * create IMAGE`), the module is the `soci` CLI (`./cli`).
 *
 * @example Index an image in an OCI layout
 * ```ts
 * import assert from "node:assert/strict";
 * import { index, layers, OciLayoutSource, pipe, spans, ztoc } from "@soci/cli";
 * const image = OciLayoutSource.fromReference("oci:./fixtures/sample-image:latest");
 * const soci = await pipe(
 *   image,
 *   layers({ minLayerSize: 0 }),
 *   spans({ spanSize: 1 << 18 }),
 *   ztoc(),
 *   index(),
 * );
 * assert.equal(soci.manifest.layers.length, 2);
 * assert.match(soci.descriptor.digest, /^sha256:[0-9a-f]{64}$/);
 * ```
 *
 * @example Make a SOCI-enabled image (v2): the stages, then an image writer
 * ```ts
 * import assert from "node:assert/strict";
 * import { index, layers, OciLayoutSource, OciLayoutWriter, pipe, spans, writeSociImage, ztoc }
 *   from "./mod.ts";
 * const image = OciLayoutSource.fromReference("oci:./fixtures/sample-image:latest");
 * const soci = await pipe(image, layers({ minLayerSize: 0 }), spans(), ztoc(), index({ version: 2 }));
 * const out = await Deno.makeTempDir();
 * const enabled = await writeSociImage(image, await OciLayoutWriter.open(`${out}/app`, "soci"), [soci]);
 * assert.equal(enabled.index.manifests[1].digest, soci.descriptor.digest);
 * await Deno.remove(out, { recursive: true });
 * ```
 *
 * @example Read one file out of a layer through its zTOC
 * ```ts
 * import assert from "node:assert/strict";
 * import { extractFile, fileLayer, findFile, readFileChunks, spans, ztoc } from "@soci/cli";
 * const path = "fixtures/sample-image/blobs/sha256/" +
 *   "db5df77dec8b7d533aed0cff4e6b58d4130d063b42d6d988c110fdbbb8e54d0b";
 * for await (const r of ztoc(spans([{ layer: await fileLayer(path) }]))) {
 *   const z = r.ztoc!.ztoc!;
 *   const entry = findFile(z.toc, "app/main.js");
 *   let n = 0;
 *   for await (const part of extractFile(z, entry, (s, e) => readFileChunks(path, s, e))) {
 *     n += part.length;
 *   }
 *   assert.equal(n, entry.uncompressedSize);
 * }
 * ```
 *
 * @example Create and record indexes in a local store, as `soci create` does
 * ```ts
 * import assert from "node:assert/strict";
 * import { createIndexes, LocalStore, openImage } from "@soci/cli";
 * const root = await Deno.makeTempDir();
 * using store = LocalStore.open(root);
 * const made = await createIndexes(await openImage("oci:./fixtures/sample-image:latest"),
 *   store, { minLayerSize: 0 });
 * assert.equal(store.db.listIndexes()[0].digest, made.indexes[0].index.descriptor.digest);
 * await Deno.remove(root, { recursive: true });
 * ```
 *
 * @module
 */

export {
  type BuiltLayer,
  type BuiltSociIndex,
  type FailedLayer,
  index,
  type IndexedLayer,
  type IndexInput,
  type IndexOptions,
  isSettled,
  type Layer,
  type LayerResult,
  layers,
  type LayersOptions,
  type LayersOutput,
  manifestLayers,
  type PendingLayer,
  pipe,
  prefetch,
  type PrefetchInput,
  type PrefetchOptions,
  type PrefetchStage,
  reuse,
  type ReusedLayer,
  type ReuseOutput,
  type ReuseStage,
  type ScannedLayer,
  type SettledLayer,
  type SinkFor,
  type SkippedLayer,
  type SociIndex,
  spans,
  type SpansInput,
  type SpansOptions,
  type SpansOutput,
  type SpansStage,
  type StageInput,
  storeZtocs,
  type StoreZtocsOptions,
  type StoreZtocsStage,
  tee,
  teeChunks,
  type TeeStage,
  writeIndex,
  type WriteIndexOptions,
  writeSociImage,
  type WriteSociImageOptions,
  ztoc,
  type ZtocBlob,
  type ZtocFinder,
  type ZtocInput,
  type ZtocOptions,
  type ZtocOutput,
  type ZtocStage,
} from "./lib/pipeline.ts";

export type { ImageSource } from "./lib/image/source.ts";
export { openImage, type OpenImageOptions, transportOf } from "./lib/image/open.ts";
export { type LayoutFiles, LayoutImageSource } from "./lib/image/layout_core.ts";
export { OciLayoutSource } from "./lib/image/oci_layout.ts";
export { OciArchiveSource } from "./lib/image/oci_archive.ts";
export { RegistrySource, type RegistrySourceOptions } from "./lib/image/registry_source.ts";
export { StoreSource } from "./lib/image/store_source.ts";
export {
  CONTAINERD_TRANSPORT,
  containerdImageName,
  ContainerdSource,
  type ContainerdSourceOptions,
} from "./lib/image/containerd_source.ts";
export {
  type BlobSink,
  childrenOf,
  type CommitImageOptions,
  type GraphNode,
  graphNodes,
  type ImageWriter,
  type WriteEvent,
} from "./lib/image/writer.ts";
export { OciLayoutWriter, type OciLayoutWriterOptions } from "./lib/image/oci_layout_writer.ts";
export { OciArchiveWriter } from "./lib/image/oci_archive_writer.ts";
export {
  parseDestination,
  RegistryWriter,
  type RegistryWriterOptions,
} from "./lib/image/registry_writer.ts";
export { StoreImageWriter } from "./lib/image/store_writer.ts";
export {
  ContainerdImageWriter,
  type ContainerdWriterOptions,
} from "./lib/image/containerd_writer.ts";
export { openImageWriter, type OpenWriterOptions } from "./lib/image/open_writer.ts";
export { FILE_CHUNK, fileLayer, readFileChunks } from "./lib/image/file_layer.ts";
export type { LayerCompression } from "./lib/image/layer.ts";
export {
  imagePlatforms,
  readIndex,
  readManifest,
  type SelectedManifest,
  selectManifest,
} from "./lib/image/select.ts";

export type { CompressionAlgorithm, FileMetadata, Ztoc, ZtocHeader } from "./lib/ztoc/model.ts";
export { decodeZtoc, encodeZtoc } from "./lib/ztoc/codec.ts";
export { type TocSource, ztocSizeBound } from "./lib/ztoc/ztoc_writer.ts";
export { PackedEntries } from "./lib/tar/entry_codec.ts";
export { ZtocView } from "./lib/ztoc/ztoc_view.ts";
export {
  buildZtoc,
  type BuildZtocOptions,
  type EncodedZtoc,
  encodeScan,
  type EncodeScanOptions,
  EntryCheck,
  fileMetadata,
  type PackedScan,
} from "./lib/ztoc/builder.ts";
export { LayerDecoder } from "./lib/ztoc/layer_decoder.ts";
export {
  detectCompression,
  LayerHasher,
  type LayerScan,
  scanLayer,
  type ScanOptions,
  type SpanStart,
} from "./lib/ztoc/scan.ts";
export { type ScannedZtoc, ScanPool } from "./lib/ztoc/scan_pool.ts";
export { extractFile, findFile, type RangeReader } from "./lib/ztoc/extract.ts";
export {
  tarMaxSpanId,
  validateZtoc,
  validateZtocHeader,
  type Zinfo,
  zinfoOf,
} from "./lib/ztoc/spans.ts";
export { formatZtocInfoJson, type ZtocFileInfo, type ZtocInfo, ztocInfo } from "./lib/ztoc/info.ts";

export { type Checkpoint, WINDOW_SIZE } from "./lib/gzip/checkpoint.ts";
export { CheckpointInflater, type InflateSink, type InflateSummary } from "./lib/gzip/inflater.ts";
export { CheckpointResumer, inflateFromCheckpoint } from "./lib/gzip/resume.ts";
export { decodeGzipZinfo, encodeGzipZinfo, type GzipZinfo } from "./lib/gzip/zinfo.ts";
export { decodeTarZinfo, encodeTarZinfo, type TarZinfo } from "./lib/gzip/tar_zinfo.ts";

export type { TarEntry } from "./lib/tar/entry.ts";
export { TarReader } from "./lib/tar/reader.ts";
export { formatModTime } from "./lib/tar/mod_time.ts";

export {
  canDisableXattrs,
  sociIndexManifest,
  type SociIndexVersion,
  ztocDescriptor,
  type ZtocDescriptorInput,
} from "./lib/soci/soci_index.ts";
export {
  boundSociIndex,
  type BuiltV2Index,
  rewriteManifest,
  type RewrittenManifest,
  sociEnabledImage,
  type SociImage,
  type SociImageInput,
} from "./lib/soci/soci_image.ts";
export {
  countSpans,
  decodePrefetch,
  encodePrefetch,
  fileSpanRange,
  mergeRanges,
  normalizePrefetchPath,
  PREFETCH_VERSION,
  type PrefetchArtifact,
  type PrefetchBlob,
  prefetchBlob,
  PrefetchSearch,
  type SpanRange,
} from "./lib/soci/prefetch.ts";
export type { BuildOptions } from "./lib/use_cases/build_options.ts";
export {
  type ConvertedIndex,
  convertImage,
  type ConvertOptions,
  type ConvertResult,
} from "./lib/use_cases/convert.ts";
export { type BlobPresence, sourceHas, StoredImageSource } from "./lib/use_cases/stored_image.ts";
export { openStandaloneInput } from "./lib/use_cases/standalone.ts";
export {
  ANNOTATION_SOURCE,
  containerdOrigin,
  type CreatedIndex,
  createIndexes,
  type CreateOptions,
  type CreateResult,
  existingZtoc,
} from "./lib/use_cases/create.ts";
export {
  choosePlatforms,
  type MissingPlatform,
  type PlatformChoice,
  type PlatformManifest,
  resolvePlatforms,
} from "./lib/use_cases/platforms.ts";
export {
  type ChosenIndex,
  type ExistingIndexPolicy,
  indexesToPush,
  pushChosen,
  type PushEvent,
  pushIndexes,
  type PushIndexesOptions,
} from "./lib/use_cases/push.ts";
export { indexesToRemove, removeIndexes } from "./lib/use_cases/remove.ts";
export { rebuildDb, type RebuildOptions, type RebuildResult } from "./lib/use_cases/rebuild.ts";
export {
  artifactRecord,
  imageManifests,
  imageZtocs,
  loadStoredZtoc,
  type StoredZtoc,
} from "./lib/use_cases/lookup.ts";
export { nameImage, namesByDigest } from "./lib/use_cases/image_names.ts";
export {
  openingRangeReader,
  sourceRangeReader,
  storedLayerReader,
} from "./lib/use_cases/layer_reader.ts";

export type {
  AddIndexOptions,
  ArtifactStore,
  ArtifactTransaction,
  BlobInfo,
  CommitStep,
  ContentStoreKind,
  TagImageOptions,
  TransactionOptions,
} from "./lib/store/artifact_store.ts";
export {
  ContainerdStore,
  type ContainerdStoreOptions,
  recordNames,
} from "./lib/store/containerd_store.ts";
export { withRootLock } from "./lib/store/root_lock.ts";
export {
  type CallContext,
  ContainerdClient,
  type ContainerdClientOptions,
  ContainerdError,
  type DuplexCall,
} from "./lib/containerd/client.ts";
export {
  type BlobData,
  ContainerdContent,
  type ContentInfo,
  type WriteOptions,
  type WriteResult,
} from "./lib/containerd/content.ts";
export { ContainerdImages, type ImageRecord } from "./lib/containerd/images.ts";
export {
  ContainerdLeases,
  type CreateLeaseOptions,
  type LeaseInfo,
  type LeaseResource,
} from "./lib/containerd/leases.ts";
export { ContainerdNamespaces } from "./lib/containerd/namespaces.ts";
export { SERVICES as CONTAINERD_SERVICES } from "./lib/containerd/descriptor.ts";
export { normalizeImageName } from "./lib/containerd/names.ts";
export { LocalStore, type LocalStoreOptions } from "./lib/store/local_store.ts";
export {
  ArtifactsDb,
  type ArtifactsDbOptions,
  type StoredImage,
} from "./lib/store/artifacts_db.ts";
export {
  type ArtifactRecord,
  type ArtifactType,
  indexRecord,
  prefetchRecord,
  ztocRecord,
} from "./lib/store/artifact_record.ts";
export { artifactsDbPath, contentDir, ensureRoot, resolveRoot } from "./lib/store/root.ts";

export { RegistryClient, type RegistryClientOptions } from "./lib/registry/client.ts";
export {
  type BlobOptions,
  type BlobReadOptions,
  Blobs,
  parseContentRange,
} from "./lib/registry/blobs.ts";
export {
  BlobUpload,
  type StartUploadOptions,
  type UploadMode,
  type UploadSession,
} from "./lib/registry/blob_upload.ts";
export {
  type FetchedManifest,
  Manifests,
  type PutManifestResult,
  type RequestOptions,
} from "./lib/registry/manifests.ts";
export {
  type FallbackIndex,
  fallbackTag,
  Referrers,
  type ReferrersListing,
  type ReferrersSupport,
} from "./lib/registry/referrers.ts";
export {
  type HttpMethod,
  type HttpRequest,
  type SignalOptions,
  Transport,
  type TransportOptions,
} from "./lib/registry/transport.ts";
export {
  type ContentFetcher,
  type CopyEvent,
  copyGraph,
  type CopyGraphOptions,
  type CopyGraphResult,
  successorsOf,
} from "./lib/registry/copy_graph.ts";
export {
  type CredentialOptions,
  type Credentials,
  resolveCredentials,
} from "./lib/registry/credentials.ts";
export {
  type BlobGetter,
  existingIndexMessage,
  listReferrers,
  type PushEventKind,
  pushIndex,
  type PushOptions,
  type PushResult,
} from "./lib/registry/push.ts";
export type { FallbackOptions } from "./lib/registry/referrers_fallback.ts";
export { type RetryPolicy, TransientRegistryError } from "./lib/registry/retry.ts";

export type { Descriptor, ImageIndex, ImageManifest, Platform } from "./lib/oci/descriptor.ts";
export { digestHex, parseDigest, Sha256, sha256Digest } from "./lib/oci/digest.ts";
export { decodeIndex, decodeManifest } from "./lib/oci/json_decode.ts";
export { encodeIndex, encodeManifest } from "./lib/oci/json_encode.ts";
export { indentGoJson } from "./lib/go/json_indent.ts";
export {
  dedupePlatforms,
  formatPlatform,
  hostPlatform,
  normalizePlatform,
  parsePlatform,
  platformMatches,
} from "./lib/oci/platform.ts";
export { type DockerReference, parseDockerReference } from "./lib/oci/reference.ts";
export * from "./lib/oci/media_types.ts";
export {
  BadInputError,
  NotFoundError,
  RegistryError,
  SociError,
  UnsupportedError,
  UsageError,
  withContext,
} from "./lib/errors.ts";

// Using the index: reading files of an image, verifying an index.
export {
  type FileInfo,
  ImageFiles,
  type ImageLayer,
  listFiles,
  type LoadedZtoc,
  type LoadedZtocView,
  openFile,
  openImageForReading,
  type ReadImageOptions,
} from "./lib/use_cases/read_files.ts";
export {
  decodeSociIndex,
  discoverIndex,
  type Discovery,
  type DiscoveryOptions,
  type FoundIndex,
  type IndexVia,
} from "./lib/use_cases/index_discovery.ts";
export {
  checkIndexDocument,
  type LayerReport,
  verifyImage,
  type VerifyOptions,
  type VerifyReport,
} from "./lib/use_cases/verify.ts";
export {
  type BlobCount,
  type BlobKind,
  countingSource,
  ReadStats,
} from "./lib/use_cases/read_stats.ts";
export {
  fullLayerRange,
  fullLayerToc,
  sniffCompression,
  type StreamCompression,
  tarBytes,
} from "./lib/use_cases/full_layer.ts";
export { DEFAULT_PIECE, pieceRangeReader } from "./lib/use_cases/range_pieces.ts";
export {
  cleanPath,
  LayerFiles,
  type LayerLoader,
  type LayerLookup,
  lookupPath,
  mergeLayers,
  type ResolveOptions,
  resolvePath,
  type TreeNode,
} from "./lib/soci/merged_tree.ts";
export { ZtocLayerIndex } from "./lib/soci/ztoc_layer_index.ts";
export {
  type ClaimedSizes,
  type DecodeFindings,
  DEFAULT_RESUME_CHECK,
  type HashFindings,
  type LayerCheck,
  LayerDecodeCheck,
  LayerHashCheck,
  LayerVerifier,
  type LayerVerifierOptions,
  type ResumeMismatch,
  type WindowMismatch,
} from "./lib/ztoc/verify_layer.ts";
export {
  type CheckOptions,
  VerifyPool,
  type VerifyRequest,
  type VerifyResponse,
} from "./lib/ztoc/verify_pool.ts";
export { ResumeProbe } from "./lib/ztoc/resume_probe.ts";
export {
  entryDifference,
  TocCheck,
  type TocEntries,
  tocEntries,
  type TocFindings,
} from "./lib/ztoc/toc_check.ts";
export { gzipHeaderLength } from "./lib/ztoc/gzip_header.ts";

// `deno run jsr:@soci/cli …` runs the CLI (loaded only then).
if (import.meta.main) {
  const { main } = await import("./cli.ts");
  Deno.exit(await main(Deno.args));
}
