/**
 * `soci create [flags] <image>`: builds v1 SOCI indexes for an image in an
 * OCI layout, an OCI archive, a registry, or the local store.
 *
 * @module
 */
import { BadInputError, UsageError } from "../errors.ts";
import { transportOf } from "../image/transport.ts";
import type { Layer } from "../image/layer.ts";
import { formatPlatform } from "../oci/platform.ts";
import type { LayerResult } from "../stages/layer_result.ts";
import type { Platform } from "../oci/descriptor.ts";
import type { PrefetchBlob } from "../soci/prefetch.ts";
import type { CreateResult } from "../use_cases/create.ts";
import { ANNOTATION_PLAIN_HTTP } from "../use_cases/image_names.ts";
import { Progress, type ProgressTask } from "../ui/progress.ts";
import type { Command } from "./command.ts";
import {
  allPlatformsFlag,
  jsonFlag,
  minLayerSizeFlag,
  platformFlag,
  platformFlags,
  quietFlag,
  registryFlags,
  registryOptions,
  sizeFlags,
  spanSizeFlag,
} from "./flags.ts";
import { containerdOptions, directReadFlag } from "./store_flags.ts";
import { prefetchFlags, prefetchPaths } from "./prefetch_flags.ts";

/** The per-layer line upstream prints (`soci-cli.md` §4), or undefined. */
export function layerLine(r: LayerResult): string | undefined {
  if (r.skip !== undefined) return r.skip;
  if (r.ztoc === undefined) return undefined;
  return `layer ${r.layer.descriptor.digest} -> ztoc ${r.ztoc.digest}` +
    (r.ztoc.reused ? " (already exists)" : "");
}

/** Upstream's line for a prefetch artifact (`soci-format.md` §6 step 6). */
export function prefetchLine(b: PrefetchBlob): string {
  return `Created prefetch artifact for layer ${b.layerDigest}: ${b.descriptor.digest}`;
}

/** The warning for a prefetch path that no layer has. */
export function prefetchMissingLine(path: string, platform: Platform): string {
  return `warning: prefetch file ${path} is in no indexed layer of ${formatPlatform(platform)}`;
}

/** The `--json` form of a prefetch artifact. */
export function prefetchJson(b: PrefetchBlob) {
  return {
    digest: b.descriptor.digest,
    size: b.descriptor.size,
    layerDigest: b.layerDigest,
    spans: b.spans.map((s) => ({ start: s.start, end: s.end })),
  };
}

/** The `--json` form of a layer's outcome. */
export function layerJson(r: LayerResult) {
  const d = r.layer.descriptor;
  return {
    digest: d.digest,
    mediaType: d.mediaType,
    size: d.size,
    status: r.skip !== undefined ? "skipped" : r.ztoc?.reused ? "reused" : "built",
    ...(r.skip !== undefined ? { reason: r.skip } : {}),
    ...(r.ztoc ? { ztoc: r.ztoc.digest, ztocSize: r.ztoc.size } : {}),
  };
}

/**
 * What to record as the image's source: an absolute path for `oci:` and
 * `oci-archive:` (so that it still works from another directory), `""` for
 * an image already in the store (its tag is left alone).
 */
export async function sourceAnnotation(ref: string): Promise<string | undefined> {
  const t = transportOf(ref);
  if (t === "store") return "";
  if (t !== "oci" && t !== "oci-archive") return undefined;
  const rest = ref.slice(t.length + 1);
  if (rest.startsWith("/")) return ref;
  const { resolve } = await import("node:path"); // (loaded only here: it slows the start-up)
  return `${t}:${resolve(rest)}`;
}

/** The `create` command. */
export const createCommand: Command = {
  name: "create",
  usage: "build SOCI v1 indexes for an image",
  argsUsage: "<image>",
  description: "IMAGE is oci:DIR[:TAG], oci-archive:FILE[:TAG], docker://HOST/REPO[:TAG|@DIGEST] " +
    "or the name of an image already in the local store. Layers are read once each, several at " +
    "a time; the indexes, zTOCs and the image's manifests and config go to the local store " +
    "(nothing of it is kept if the command fails), and the image is tagged there under its name.",
  flags: [
    spanSizeFlag,
    minLayerSizeFlag,
    {
      name: "optimizations",
      type: "strings",
      usage: "optimizations to apply: xattr",
      placeholder: "name",
    },
    { name: "force", aliases: ["f"], type: "bool", usage: "never reuse existing zTOCs" },
    {
      name: "allow-empty",
      type: "bool",
      usage: "write an index even when every layer is skipped",
    },
    platformFlag,
    allPlatformsFlag,
    {
      name: "name",
      type: "string",
      usage: "the name to store the image under (default: its tag or reference, made unique)",
      placeholder: "name",
    },
    jsonFlag,
    { ...quietFlag, usage: "print only the index digests" },
    ...prefetchFlags,
    ...registryFlags,
    directReadFlag,
  ],
  permissions: [
    "oci:/oci-archive: --allow-read=<image>,<root>,<checkout> --allow-write=<root> --allow-env=SOCI_ROOT,XDG_DATA_HOME,HOME",
    "docker://: --allow-read=<root>,<checkout> --allow-write=<root> --allow-env=SOCI_ROOT,XDG_DATA_HOME,HOME --allow-net=<registry>",
  ],
  async action(ctx) {
    if (ctx.args.length === 0) throw new BadInputError("source image needs to be specified");
    if (ctx.args.length > 1) throw new UsageError("please provide one image");
    const ref = ctx.args[0];
    const optimizations = ctx.strings("optimizations");
    for (const o of optimizations) {
      if (o !== "xattr") {
        throw new BadInputError(`optimization ${o} is not a valid optimization [xattr]`);
      }
    }
    const { spanSize, minLayerSize } = sizeFlags(ctx);
    const platforms = platformFlags(ctx);
    if (ctx.isSet("name")) {
      // The name becomes a ref.name of the store's OCI layout.
      const name = ctx.string("name");
      if (name === "") throw new BadInputError("--name must not be empty");
      const { checkLayoutTag } = await import("../image/layout_core.ts");
      checkLayoutTag(name, "--name");
    }
    const json = ctx.bool("json");
    const quiet = ctx.bool("quiet");
    // Scan workers load and compile zlib while the image is opened.
    const { prestartScanWorker } = await import("../ztoc/scan_channel.ts");
    using _workers = prestartScanWorker(Math.min(2, navigator.hardwareConcurrency ?? 1));
    const prefetch = await prefetchPaths(ctx);
    const [{ openStore }, { openImage }, { createIndexes }] = await Promise.all([
      import("./open_store.ts"),
      import("../image/open.ts"),
      import("../use_cases/create.ts"),
    ]);
    using store = openStore(ctx);
    const registry = await registryOptions(ctx);
    const source = await openImage(ref, { store, registry, containerd: containerdOptions(ctx) });
    const progress = new Progress(ctx.out, { enabled: json || quiet ? false : undefined });
    const tasks = new Map<Layer, ProgressTask>();
    const skippedPlatforms: string[] = [];
    let result: CreateResult;
    try {
      result = await createIndexes(source, store, {
        spanSize,
        minLayerSize,
        platforms,
        force: ctx.bool("force"),
        disableXattrs: optimizations.includes("xattr"),
        allowEmpty: ctx.bool("allow-empty"),
        sourceAnnotation: await sourceAnnotation(ref),
        name: ctx.string("name") || undefined,
        // Later reads of its layers (ztoc get-file) use plain HTTP too.
        annotations: transportOf(ref) === "docker" && registry.plainHttp
          ? { [ANNOTATION_PLAIN_HTTP]: "true" }
          : undefined,
        prefetchPaths: prefetch,
        signal: ctx.signal,
        onProgress: (layer, n) => {
          let t = tasks.get(layer);
          if (t === undefined) {
            t = progress.task(layer.descriptor.digest, layer.descriptor.size);
            tasks.set(layer, t);
          }
          t.set(n);
        },
        onLayer: (r) => {
          for (const [layer, t] of tasks) {
            if (layer.descriptor.digest === r.layer.descriptor.digest) t.complete();
          }
          const line = layerLine(r);
          if (line !== undefined && !json && !quiet) ctx.out.line(line);
        },
        onPrefetch: (b) => {
          if (!json && !quiet) ctx.out.line(prefetchLine(b));
        },
        onPrefetchMissing: (path, p) => {
          if (!json && !quiet) ctx.out.warn(prefetchMissingLine(path, p));
        },
        onPlatformSkipped: (p, reason) => {
          skippedPlatforms.push(formatPlatform(p));
          if (!json && !quiet) ctx.out.warn(`skipping platform ${formatPlatform(p)}: ${reason}`);
        },
      });
    } catch (e) {
      throw withHint(e, ctx.int("min-layer-size"));
    } finally {
      progress.finish();
      await source.close?.();
    }
    const built = result.indexes;
    if (json) {
      ctx.out.json({
        image: result.name,
        imageDigest: result.target.digest,
        indexes: built.map((b) => ({
          digest: b.index.descriptor.digest,
          size: b.index.descriptor.size,
          platform: formatPlatform(b.platform),
          manifestDigest: b.manifest.digest,
          layers: b.index.layers.map(layerJson),
          ...(b.index.prefetch.length > 0 ? { prefetch: b.index.prefetch.map(prefetchJson) } : {}),
        })),
        skippedPlatforms,
      });
      return;
    }
    for (const b of built) {
      const n = b.index.manifest.layers.length;
      ctx.out.line(
        quiet ? b.index.descriptor.digest : `soci index ${b.index.descriptor.digest} for ` +
          `${formatPlatform(b.platform)} (${n} ztoc${n === 1 ? "" : "s"})`,
      );
    }
    // On stderr: stdout keeps upstream's lines and ours about the indexes.
    if (!quiet && transportOf(ref) !== "store") {
      ctx.out.warn(`image stored as ${result.name} (use this name with push, index list --ref)`);
    }
  },
};

/** Upstream's "no ztocs created" error, with what to do about it. */
function withHint(e: unknown, minLayerSize: bigint): unknown {
  if (e instanceof BadInputError && e.message.startsWith("no ztocs created")) {
    return new BadInputError(
      `${e.message} (layers smaller than --min-layer-size ${minLayerSize} get none; ` +
        "--allow-empty writes an index anyway)",
      { cause: e },
    );
  }
  return e;
}
