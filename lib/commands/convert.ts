/**
 * `soci convert [flags] <source> <dest>`: makes a SOCI-enabled image (v2
 * SOCI indexes bound to their manifests through a new OCI index,
 * `soci-format.md` §8) from any source to any destination:
 * `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`, `docker://HOST/REPO:TAG`,
 * `containerd:NAME`, or a name in the local store. A bare source name the
 * local store lacks is looked for in containerd; a bare destination is then
 * a containerd image too (upstream's containerd mode, `soci-cli.md` §6.1,
 * also in place: `convert app app`), as it always is with `--content-store
 * containerd`. Upstream's `--standalone IN OUT --format oci-archive|oci-dir`
 * works too, with upstream's messages (`soci-cli.md` §6.2).
 *
 * @module
 */
import { BadInputError, UsageError } from "../errors.ts";
import type { Layer } from "../image/layer.ts";
import { transportOf } from "../image/transport.ts";
import type { ImageSource } from "../image/source.ts";
import type { ImageWriter } from "../image/writer.ts";
import { formatPlatform } from "../oci/platform.ts";
import type { ArtifactStore } from "../store/artifact_store.ts";
import type { ConvertResult } from "../use_cases/convert.ts";
import { ANNOTATION_SOURCE } from "../use_cases/image_names.ts";
import { Progress, type ProgressTask } from "../ui/progress.ts";
import type { Command, CommandContext } from "./command.ts";
import {
  layerJson,
  layerLine,
  prefetchJson,
  prefetchLine,
  prefetchMissingLine,
  sourceAnnotation,
} from "./create.ts";
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

/** Output formats of `--standalone` (`--format`). */
const FORMATS = ["oci-archive", "oci-dir"];

/** `--format`, checked while the flags are parsed (upstream: a usage error). */
export const formatFlag = {
  name: "format",
  type: "string" as const,
  default: "oci-archive",
  usage: 'standalone output: "oci-archive" (a tar file) or "oci-dir" (a directory)',
  placeholder: "format",
  validate(v: unknown): string | undefined {
    return FORMATS.includes(v as string)
      ? undefined
      : `unsupported output format ${JSON.stringify(v)}: must be "oci-archive" or "oci-dir"`;
  },
};

/**
 * Opens the source: a bare name is a stored image whose layers come from its
 * origin, else an image of containerd (the only kind with `--content-store
 * containerd`).
 */
async function openSource(
  ref: string,
  store: ArtifactStore,
  ctx: CommandContext,
): Promise<{ source: ImageSource; annotation?: string }> {
  const [{ CONTAINERD_TRANSPORT, ContainerdSource }, { openImage }, { ContainerdStore }, {
    StoredImageSource,
  }] = await Promise.all([
    import("../image/containerd_source.ts"),
    import("../image/open.ts"),
    import("../store/containerd_store.ts"),
    import("../use_cases/stored_image.ts"),
  ]);
  const registry = await registryOptions(ctx);
  const containerd = containerdOptions(ctx);
  if (transportOf(ref) === "store" && !(store instanceof ContainerdStore)) {
    const img = await store.image(ref);
    if (img !== undefined) {
      return {
        source: new StoredImageSource(store, ref, { store, registry, containerd }),
        annotation: img.annotations[ANNOTATION_SOURCE] ?? "",
      };
    }
  }
  const source = await openImage(ref, { store, registry, containerd });
  return {
    source,
    annotation: source instanceof ContainerdSource
      ? CONTAINERD_TRANSPORT + source.storeName
      : await sourceAnnotation(ref),
  };
}

/** The `convert` command. */
export const convertCommand: Command = {
  name: "convert",
  usage: "make a SOCI-enabled image (SOCI v2 indexes) from an image",
  argsUsage: "<source> <dest>",
  description: "SOURCE and DEST are oci:DIR[:TAG], oci-archive:FILE[:TAG], " +
    "docker://HOST/REPO:TAG, containerd:NAME or a name in the local store (a bare SOURCE the " +
    "local store lacks is looked for in containerd, and a bare DEST is then written to " +
    "containerd too, also in place: convert app app). Each layer is read once: the read " +
    "that indexes it also copies it to DEST when DEST lacks it (a registry mounts it from the " +
    "source's repository instead when it can); nothing but zTOCs and manifests is written to " +
    "the local store. DEST's tag is moved last. With --standalone, SOURCE and DEST are paths " +
    "(an OCI layout directory or archive in, --format out), as upstream's.",
  flags: [
    spanSizeFlag,
    minLayerSizeFlag,
    {
      name: "optimizations",
      type: "strings",
      usage: "optimizations to apply: xattr",
      placeholder: "name",
    },
    {
      name: "force",
      aliases: ["f"],
      type: "bool",
      usage: "never reuse existing zTOCs; convert SOCI-enabled platforms again",
    },
    {
      name: "allow-empty",
      type: "bool",
      usage: "write an index even when every layer is skipped",
    },
    platformFlag,
    allPlatformsFlag,
    { name: "standalone", type: "bool", usage: "SOURCE and DEST are paths (see --format)" },
    formatFlag,
    jsonFlag,
    { ...quietFlag, usage: "print only the new image's digest" },
    ...prefetchFlags,
    ...registryFlags,
    directReadFlag,
  ],
  needsRoot: (ctx) => !ctx.bool("standalone"),
  permissions: [
    "oci:/oci-archive: --allow-read=<image>,<dest>,<root>,<checkout> --allow-write=<dest>,<root> --allow-env=SOCI_ROOT,XDG_DATA_HOME,HOME",
    "docker://: --allow-read=<root>,<checkout> --allow-write=<root> --allow-env=SOCI_ROOT,XDG_DATA_HOME,HOME --allow-net=<registries>",
    "containerd:NAME: --allow-read=<root>,<checkout>,<sock> --allow-write=<root>,<sock> --allow-net=unix:<sock> --allow-env=SOCI_ROOT,XDG_DATA_HOME,HOME,GRPC_*",
  ],
  async action(ctx) {
    if (ctx.args.length === 0) throw new BadInputError("source image needs to be specified");
    if (ctx.args.length === 1) throw new BadInputError("destination needs to be specified");
    if (ctx.args.length > 2) throw new UsageError("please provide a source and a destination");
    const [from, to] = ctx.args;
    const optimizations = ctx.strings("optimizations");
    for (const o of optimizations) {
      if (o !== "xattr") {
        throw new BadInputError(`optimization ${o} is not a valid optimization [xattr]`);
      }
    }
    const standalone = ctx.bool("standalone");
    // Scan workers load and compile zlib while the image is opened.
    const { prestartScanWorker } = await import("../ztoc/scan_channel.ts");
    using _workers = prestartScanWorker(Math.min(2, navigator.hardwareConcurrency ?? 1));
    const [
      { ContainerdSource },
      { openImageWriter },
      { OciArchiveWriter },
      { OciLayoutWriter },
      { parseDestination },
      { ContainerdStore },
      { LocalStore },
      { convertImage },
      { openStandaloneInput },
      { openStore },
    ] = await Promise.all([
      import("../image/containerd_source.ts"),
      import("../image/open_writer.ts"),
      import("../image/oci_archive_writer.ts"),
      import("../image/oci_layout_writer.ts"),
      import("../image/registry_writer.ts"),
      import("../store/containerd_store.ts"),
      import("../store/local_store.ts"),
      import("../use_cases/convert.ts"),
      import("../use_cases/standalone.ts"),
      import("./open_store.ts"),
    ]);
    if (!standalone && transportOf(to) === "docker") parseDestination(to);
    const { spanSize, minLayerSize } = sizeFlags(ctx);
    const platforms = platformFlags(ctx);
    const json = ctx.bool("json");
    const quiet = ctx.bool("quiet");
    const prefetch = await prefetchPaths(ctx);

    // Standalone: a throw-away store (no zTOC reuse across runs, as upstream).
    const scratch = standalone ? await Deno.makeTempDir({ prefix: "soci-artifacts-" }) : undefined;
    const store = scratch ? LocalStore.open(`${scratch}/root`) : openStore(ctx);
    let source: ImageSource | undefined;
    let dest: ImageWriter | undefined;
    const progress = new Progress(ctx.out, { enabled: json || quiet ? false : undefined });
    let result: ConvertResult;
    try {
      let annotation: string | undefined;
      if (standalone) {
        source = await openStandaloneInput(from);
        dest = ctx.string("format") === "oci-dir"
          ? await OciLayoutWriter.open(to, undefined, { replace: true, reference: to })
          : await OciArchiveWriter.open(to, undefined, { reference: to });
      } else {
        ({ source, annotation } = await openSource(from, store, ctx));
        // A bare destination is a containerd image when the bare source was one.
        const bareNames = store instanceof ContainerdStore ||
            (transportOf(from) === "store" && source instanceof ContainerdSource)
          ? "containerd"
          : "store";
        dest = await openImageWriter(to, {
          registry: await registryOptions(ctx),
          source,
          containerd: containerdOptions(ctx),
          bareNames,
        });
      }
      const tasks = new Map<string, ProgressTask>();
      const text = !json && !quiet;
      result = await convertImage(source, dest, store, {
        spanSize,
        minLayerSize,
        platforms,
        force: ctx.bool("force"),
        disableXattrs: optimizations.includes("xattr"),
        allowEmpty: ctx.bool("allow-empty"),
        prefetchPaths: prefetch,
        sourceAnnotation: annotation,
        // The local store's name of the image is the destination's own name.
        exactName: !standalone && (transportOf(to) === "store" || transportOf(to) === "containerd"),
        signal: ctx.signal,
        onProgress: (layer: Layer, n: number) => {
          let t = tasks.get(layer.descriptor.digest);
          if (t === undefined) {
            t = progress.task(layer.descriptor.digest, layer.descriptor.size);
            tasks.set(layer.descriptor.digest, t);
          }
          t.set(n);
        },
        onLayer: (r) => {
          tasks.get(r.layer.descriptor.digest)?.complete();
          const line = layerLine(r);
          if (line !== undefined && text) ctx.out.line(line);
        },
        onPrefetch: (b) => {
          if (text) ctx.out.line(prefetchLine(b));
        },
        onPrefetchMissing: (path, p) => {
          if (text) ctx.out.warn(prefetchMissingLine(path, p));
        },
        onPlatformSkipped: (p, reason) => {
          if (text) ctx.out.warn(`skipping platform ${formatPlatform(p)}: ${reason}`);
        },
        onAlreadyEnabled: (p, index) => {
          if (text) {
            ctx.out.line(
              `platform ${
                formatPlatform(p)
              } is already SOCI-enabled (soci index ${index.digest}); ` +
                "use --force to convert it again",
            );
          }
        },
      });
    } finally {
      progress.finish();
      await source?.close?.();
      await dest?.close();
      store.close();
      if (scratch) await Deno.remove(scratch, { recursive: true }).catch(() => {});
    }
    if (json) {
      ctx.out.json({
        source: from,
        sourceDigest: result.source.digest,
        destination: to,
        image: result.image.digest,
        mediaType: result.image.mediaType,
        size: result.image.size,
        name: standalone ? undefined : result.name,
        unchanged: result.unchanged,
        indexes: result.indexes.map((b) => ({
          digest: b.index.descriptor.digest,
          size: b.index.descriptor.size,
          platform: formatPlatform(b.platform),
          manifestDigest: b.manifest.digest,
          boundManifestDigest: b.boundManifest.digest,
          layers: b.index.layers.map(layerJson),
          ...(b.index.prefetch.length > 0 ? { prefetch: b.index.prefetch.map(prefetchJson) } : {}),
        })),
        alreadyEnabled: result.alreadyEnabled.map((a) => ({
          platform: formatPlatform(a.platform),
          index: a.index.digest,
        })),
        skippedPlatforms: result.skipped.map((s) => ({
          platform: formatPlatform(s.platform),
          reason: s.reason,
        })),
      });
      return;
    }
    if (quiet) {
      ctx.out.line(result.image.digest);
      return;
    }
    for (const b of result.indexes) {
      const n = b.index.manifest.layers.length;
      ctx.out.line(
        `soci index ${b.index.descriptor.digest} for ${formatPlatform(b.platform)} ` +
          `(${n} blob${n === 1 ? "" : "s"})`,
      );
    }
    ctx.out.line(
      result.unchanged
        ? `image ${result.image.digest} is already SOCI-enabled; written unchanged to ${to}`
        : `soci-enabled image ${result.image.digest} written to ${to}`,
    );
  },
};
