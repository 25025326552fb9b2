/**
 * `soci push [flags] <image>`: pushes the newest v1 SOCI index of each
 * selected platform, with its zTOCs and config, to the image's repository,
 * and makes it discoverable (referrers API, else the fallback tag).
 *
 * @module
 */
import { BadInputError, NotFoundError } from "../errors.ts";
import type { ArtifactStore } from "../store/artifact_store.ts";
import { ANNOTATION_SOURCE } from "../use_cases/image_names.ts";
import type { ExistingIndexPolicy, PushEvent } from "../use_cases/push.ts";
import type { Command, CommandContext } from "./command.ts";
import {
  allPlatformsFlag,
  platformFlag,
  platformFlags,
  quietFlag,
  registryFlags,
  registryOptions,
} from "./flags.ts";

const EXISTING = ["warn", "skip", "allow"];
/** Go's `int` maximum on 64-bit platforms (upstream's overflow bound). */
const MAX_INT = (1n << 63n) - 1n;

/** The `push` command. */
export const pushCommand: Command = {
  name: "push",
  usage: "push the SOCI v1 indexes of an image to its registry",
  argsUsage: "<image>",
  description: "IMAGE is the name of an image in the local store whose name includes its " +
    "registry (as `create docker://HOST/REPO:TAG` records it), or that docker:// reference " +
    "(`:latest` when it names neither a tag nor a digest). The " +
    "newest v1 index of each platform is pushed with its zTOCs; it is found through the " +
    "referrers API when the registry has it, else through the sha256-<digest> fallback tag.",
  flags: [
    ...registryFlags,
    platformFlag,
    allPlatformsFlag,
    {
      name: "existing-index",
      type: "string",
      default: "warn",
      usage: "when the registry already has a SOCI index for the image: warn, skip or allow",
    },
    {
      name: "max-concurrent-uploads",
      type: "uint64",
      default: 3,
      usage: "blobs uploaded at once",
    },
    { ...quietFlag, usage: "print only the pushed index digests" },
  ],
  needsRoot: false,
  permissions: [
    "--allow-read=<root> --allow-env=SOCI_ROOT,XDG_DATA_HOME,HOME --allow-net=<registry>",
  ],
  async action(ctx) {
    const [
      { formatReference, parseDockerReference, withDefaultTag },
      { RegistryClient },
      { resolveCredentials },
      { indexesToPush, pushChosen },
      { openStore },
    ] = await Promise.all([
      import("../oci/reference.ts"),
      import("../registry/client.ts"),
      import("../registry/credentials.ts"),
      import("../use_cases/push.ts"),
      import("./open_store.ts"),
    ]);
    if (ctx.args.length === 0) throw new BadInputError("please provide an image reference to push");
    // The name `create docker://…` records: no transport, `:latest` by default.
    const ref = withDefaultTag(parseDockerReference(ctx.args[0]));
    const name = formatReference(ref);
    const quiet = ctx.bool("quiet");
    const existing = ctx.string("existing-index");
    if (!EXISTING.includes(existing)) {
      throw new BadInputError(
        `unexpected value for flag existing-index: ${existing}, expected types [warn skip allow]`,
      );
    }
    const uploads = ctx.int("max-concurrent-uploads");
    let concurrency = Number(uploads);
    if (uploads === 0n) concurrency = 3;
    if (uploads > MAX_INT) {
      // Upstream's Printf: the exact value, and no newline.
      if (!quiet) {
        await ctx.out.write(new TextEncoder().encode(
          `warning: overflow for setting --max-concurrent-uploads=${uploads}; defaulting to 3`,
        ));
      }
      concurrency = 3;
    }
    const opts = await registryOptions(ctx); // (warns first about flags it cannot honour)
    using store = openStore(ctx, { readOnly: true });
    const onEvent = (e: PushEvent) => report(ctx, e, quiet, `${ref.registry}/${ref.repository}`);
    // Everything is resolved (and may fail) before credentials are looked for.
    let chosen;
    try {
      chosen = await indexesToPush(store, name, { platforms: platformFlags(ctx), onEvent });
    } catch (e) {
      throw e instanceof NotFoundError && !(await store.image(name))
        ? new NotFoundError(await notIndexedText(store, name))
        : e;
    }
    const credentials = await resolveCredentials(ref.registry, { user: opts.user });
    const client = new RegistryClient(ref.registry, { ...opts, credentials });
    try {
      await pushChosen(store, chosen, client, ref.repository, {
        existingIndex: existing as ExistingIndexPolicy,
        concurrency,
        onEvent,
      });
    } finally {
      client.close();
    }
  },
};

/** Upstream's lines for each push event (C§5); `-q` keeps the warnings and the digests. */
function report(ctx: CommandContext, e: PushEvent, quiet: boolean, repo: string): void {
  const say = (line: string) => {
    if (!quiet) ctx.out.line(line);
  };
  switch (e.kind) {
    case "v2-skipped":
      ctx.out.line(
        "[WARN] Skippping SOCI index manifest v2. You should push the whole image with " +
          "higher level tools like finch or nerdctl.",
      );
      break;
    case "checking":
      say("checking if a soci index already exists in remote repository...");
      break;
    case "existing":
      if (e.policy === "skip") {
        say(`${e.message}: skipping pushing artifacts for image manifest: ${e.manifest.digest}`);
      } else ctx.out.line(`[WARN] ${e.message}: pushing index anyway`);
      break;
    case "index":
      if (quiet) ctx.out.line(e.index.digest);
      else say(`pushing soci index with digest: ${e.index.digest}`);
      break;
    case "node":
      if (e.event === "pushing") say(`pushing artifact with digest: ${e.desc.digest}`);
      else if (e.event === "pushed") {
        say(`successfully pushed artifact with digest: ${e.desc.digest}`);
      } else say(`skipped artifact with digest: ${e.desc.digest}`);
      break;
    case "done":
      for (const w of e.result.warnings) ctx.out.warn(`warning: ${w}`);
      if (e.result.alreadyPresent && e.result.fallbackChanged !== true) {
        say(`soci index ${e.index.digest} is already in ${repo}: nothing to push`);
      }
      break;
  }
}

/**
 * What to run when the image to push is not in the store: index it from
 * the registry; an image indexed from a layout must be copied there first
 * (its index is bound to the manifest the registry will hold).
 */
async function notIndexedText(store: ArtifactStore, name: string): Promise<string> {
  const head = `image ${name} is not in the local store: run "soci create docker://${name}" ` +
    "first, then push again";
  const fromLayouts = (await store.images())
    .filter((i) => /^oci(-archive)?:/.test(i.annotations[ANNOTATION_SOURCE] ?? ""));
  if (fromLayouts.length === 0) return head;
  const img = fromLayouts[0];
  const src = img.annotations[ANNOTATION_SOURCE];
  return `${head} (an image indexed from a layout, like ${img.name} from ${src}, must be in ` +
    `the registry first: skopeo copy --preserve-digests ${src} docker://${name})`;
}
