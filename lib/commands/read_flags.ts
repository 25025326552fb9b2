/**
 * What `ls`, `cat` and `verify` share: their flags (the registry flags of
 * `create`, `--platform`, `--index`, `--stats`), the reading options made
 * from them, and the `--stats` report.
 *
 * @module
 */
import type { ArtifactStore } from "../store/artifact_store.ts";
import { BadInputError } from "../errors.ts";
import type { ImageFiles, ReadImageOptions } from "../use_cases/read_files.ts";
import { ReadStats } from "../use_cases/read_stats.ts";
import { formatBytes } from "../ui/bytes.ts";
import { shortDigest } from "../ui/progress.ts";
import type { CommandContext, FlagSpec } from "./command.ts";
import { platformFlag, platformFlags, registryFlags, registryOptions } from "./flags.ts";
import { containerdOptions, directReadFlag } from "./store_flags.ts";

/** The flags of the reading commands. */
export const readFlags: FlagSpec[] = [
  ...registryFlags,
  directReadFlag,
  {
    ...platformFlag,
    usage: "platform to read, os/arch[/variant]; default the image's (or the host's)",
  },
  {
    name: "index",
    type: "string",
    usage: "use this SOCI index (digest, or a unique prefix of one in the local store)",
    placeholder: "digest",
  },
  {
    name: "stats",
    type: "bool",
    usage: "print the bytes fetched, per layer and in total (stderr)",
  },
];

/**
 * Deno permissions of a reading command, one line per case; `workers`:
 * the command decodes on Web Workers, which read this checkout (without
 * it they run in the calling thread).
 */
export function readPermissions(workers: boolean): string[] {
  const checkout = workers ? ",<checkout>" : "";
  const env = "--allow-env=SOCI_ROOT,XDG_DATA_HOME,HOME";
  return [
    `oci:/oci-archive: --allow-read=<image>,<root>${checkout} ${env}`,
    `docker://: --allow-read=<root>${checkout} ${env} --allow-net=<registry>`,
    "an image of the local store: the line of the transport it came from",
  ];
}

/** The reading options of the command's flags (and the store, when open). */
export async function readOptions(
  ctx: CommandContext,
  store: ArtifactStore | undefined,
): Promise<ReadImageOptions & { stats?: ReadStats }> {
  const platforms = platformFlags(ctx);
  if (platforms === "all") throw new BadInputError("give one platform to read");
  if (platforms !== undefined && platforms.length > 1) {
    throw new BadInputError("give one --platform to read");
  }
  return {
    store,
    registry: await registryOptions(ctx),
    platform: platforms?.[0],
    indexDigest: ctx.string("index") || undefined,
    stats: ctx.bool("stats") ? new ReadStats() : undefined,
    onWarning: (text) => ctx.out.warn(`warning: ${text}`),
    open: { containerd: containerdOptions(ctx) },
    // --timeout and the stop signals cut requests in flight, not only between them.
    signal: ctx.signal,
  };
}

/**
 * Opens `image` as `ls` and `cat` read it: the local store (read-only), the
 * command line's read options, the image's files; warns when no SOCI index
 * is found (`fallback` says what is read instead). Disposing it closes the
 * files, then the store.
 */
export async function openImageFiles(
  ctx: CommandContext,
  image: string,
  fallback: string,
): Promise<{ files: ImageFiles; stats?: ReadStats } & AsyncDisposable> {
  const [{ openImageForReading }, { openStore }] = await Promise.all([
    import("../use_cases/read_files.ts"),
    import("./open_store.ts"),
  ]);
  const store = openStore(ctx, { readOnly: true });
  try {
    const options = await readOptions(ctx, store);
    // (--index of another image is refused: nothing of it would be used)
    const files = await openImageForReading(image, options);
    if (files.index === undefined) {
      ctx.out.warn(
        `warning: no SOCI index found (${files.discovery.tried.join("; ")}): ${fallback}`,
      );
    }
    return {
      files,
      stats: options.stats,
      async [Symbol.asyncDispose]() {
        try {
          await files[Symbol.asyncDispose]();
        } finally {
          store[Symbol.dispose]();
        }
      },
    };
  } catch (e) {
    store[Symbol.dispose]();
    throw e;
  }
}

function amount(bytes: number): string {
  return bytes < 1024 ? `${bytes} bytes` : `${bytes} bytes (${formatBytes(bytes)})`;
}

/**
 * Prints the `--stats` report on stderr: one line per blob read (layers
 * with their position among `layerCount` layers), then the totals.
 */
export function printStats(ctx: CommandContext, stats: ReadStats, layerCount: number): void {
  const say = (text: string) => ctx.out.warn(`stats: ${text}`);
  const order = { manifest: 0, config: 1, index: 2, referrers: 3, ztoc: 4, layer: 5, blob: 6 };
  const all = stats.all().sort((a, b) =>
    order[a.kind] - order[b.kind] || (a.layer ?? 0) - (b.layer ?? 0)
  );
  for (const c of all) {
    const where = c.from === "store" ? " from the local store" : "";
    const reads = c.reads === 1 ? "1 read" : `${c.reads} reads`;
    const of = c.layer !== undefined ? ` of layer ${c.layer + 1}/${layerCount}` : "";
    const what = c.kind === "ztoc" ? "zTOC" : c.kind;
    say(`${what} ${shortDigest(c.digest)}${of}: ${amount(c.bytes)} in ${reads}${where}`);
  }
  say(
    `total: ${amount(stats.total())} from the image's source, ` +
      `${amount(stats.total("store"))} from the local store`,
  );
}
