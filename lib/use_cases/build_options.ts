/**
 * The options `create` and `convert` share: how zTOCs are built, which
 * platforms, prefetch files, and the callbacks that report progress.
 *
 * @module
 */
import type { Layer } from "../image/layer.ts";
import type { Platform } from "../oci/descriptor.ts";
import type { PrefetchBlob } from "../soci/prefetch.ts";
import type { IndexInput } from "../stages/index.ts";
import type { PlatformChoice } from "./platforms.ts";

/** Options of {@link createIndexes} and {@link convertImage} alike. */
export interface BuildOptions {
  /** Span size; default 4 MiB. */
  spanSize?: number;
  /** Minimum layer size; default 10 MiB. */
  minLayerSize?: number;
  /** Platforms to index (see `platforms.ts`); default the image's (or the host's). */
  platforms?: PlatformChoice;
  /** Never reuse zTOCs of earlier runs (`convert`: also convert SOCI-enabled platforms again). */
  force?: boolean;
  /** The `xattr` optimization (F§7.5). */
  disableXattrs?: boolean;
  /** Write an index even when no layer got a zTOC. */
  allowEmpty?: boolean;
  /** Layers scanned at once (default: the number of CPUs). */
  concurrency?: number;
  /**
   * Files to prefetch (F§6, experimental upstream): each platform's index
   * gets one prefetch artifact per layer holding some of them.
   */
  prefetchPaths?: string[];
  /**
   * Where the image came from, recorded with its name in the local store
   * (default `source.reference`); `""` keeps the image's record as it is.
   */
  sourceAnnotation?: string;
  /** Called once per layer, in layer order, when its outcome is known. */
  onLayer?: (r: IndexInput, platform: Platform) => void;
  /** A prefetch artifact was made. */
  onPrefetch?: (blob: PrefetchBlob, platform: Platform) => void;
  /** A prefetch path is in no layer of a platform (upstream logs a warning). */
  onPrefetchMissing?: (path: string, platform: Platform) => void;
  /** A platform was skipped because the image lacks part of it (others were found). */
  onPlatformSkipped?: (platform: Platform, reason: string) => void;
  /** Bytes of a layer read so far. */
  onProgress?: (layer: Layer, bytes: number) => void;
  /** Stops the work; nothing is kept (checked last just before the commit). */
  signal?: AbortSignal;
}
