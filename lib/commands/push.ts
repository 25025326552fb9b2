/**
 * `soci push [flags] <image>`: pushes the newest v1 SOCI index of each
 * selected platform, with its zTOCs and config, to the image's repository,
 * and makes it discoverable (referrers API, else the fallback tag).
 *
 * @module
 */
import { BadInputError, SociError, withContext } from "../errors.ts";
import { selectManifest } from "../image/select.ts";
import { StoreSource } from "../image/store_source.ts";
import type { Descriptor, Platform } from "../oci/descriptor.ts";
import { OCI_MANIFEST, SOCI_INDEX_V1, SOCI_INDEX_V2 } from "../oci/media_types.ts";
import { dedupePlatforms, formatPlatform, hostPlatform } from "../oci/platform.ts";
import { formatReference, parseDockerReference, withDefaultTag } from "../oci/reference.ts";
import { RegistryClient } from "../registry/client.ts";
import { resolveCredentials } from "../registry/credentials.ts";
import { existingIndexMessage, listReferrers, pushIndex } from "../registry/push.ts";
import type { Command } from "./command.ts";
import {
  allPlatformsFlag,
  platformFlag,
  platformFlags,
  quietFlag,
  registryFlags,
  registryOptions,
} from "./flags.ts";
import { imagePlatforms } from "../image/select.ts";
import { openLocalStore } from "./local_store.ts";

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
  permissions: "--allow-read --allow-env --allow-net=<registry> " +
    "(--allow-run=docker-credential-<name> for credential helpers)",
  async action(ctx) {
    if (ctx.args.length === 0) throw new BadInputError("please provide an image reference to push");
    // The name `create docker://…` records: no transport, `:latest` by default.
    const ref = withDefaultTag(parseDockerReference(ctx.args[0]));
    const name = formatReference(ref);
    const quiet = ctx.bool("quiet");
    const say = (line: string) => {
      if (!quiet) ctx.out.line(line);
    };
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
    using local = openLocalStore(ctx, { readOnly: true });
    const source = new StoreSource(local.store, name);
    const target = await source.resolve();
    const wanted = platformFlags(ctx);
    const platforms: Platform[] = wanted === "all"
      ? await imagePlatforms(source, target)
      : dedupePlatforms(wanted ?? [hostPlatform()]);

    // Resolve every platform before uploading anything.
    const chosen: Array<{ platform: Platform; manifest: Descriptor; index: Descriptor }> = [];
    let sawV2 = false;
    for (const platform of platforms) {
      const manifest = (await selectManifest(source, target, platform)).descriptor;
      const rows = local.db.indexesByManifest(manifest.digest);
      if (rows.some((r) => r.artifactType === SOCI_INDEX_V2)) sawV2 = true;
      if (sawV2) {
        ctx.out.line(
          "[WARN] Skippping SOCI index manifest v2. You should push the whole image with " +
            "higher level tools like finch or nerdctl.",
        );
      }
      const v1 = rows.filter((r) => r.artifactType === SOCI_INDEX_V1)
        .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
      if (v1.length === 0) {
        throw new BadInputError(
          `could not find any soci index manifest v1 to push for platform ${
            formatPlatform(platform)
          }`,
        );
      }
      chosen.push({
        platform,
        manifest,
        index: {
          mediaType: OCI_MANIFEST,
          digest: v1[0].digest,
          size: v1[0].size,
          artifactType: SOCI_INDEX_V1,
        },
      });
    }

    const opts = registryOptions(ctx)!;
    const credentials = await resolveCredentials(ref.registry, { user: opts.user });
    const client = new RegistryClient(ref.registry, { ...opts, credentials });
    try {
      for (const c of chosen) {
        if (existing !== "allow") {
          say("checking if a soci index already exists in remote repository...");
          const found = await listReferrers(
            client,
            ref.repository,
            c.manifest.digest,
            SOCI_INDEX_V1,
          );
          const msg = existingIndexMessage(found);
          if (msg !== undefined && existing === "skip") {
            say(`${msg}: skipping pushing artifacts for image manifest: ${c.manifest.digest}`);
            continue;
          }
          if (msg !== undefined) ctx.out.line(`[WARN] ${msg}: pushing index anyway`);
        }
        if (quiet) ctx.out.line(c.index.digest);
        else say(`pushing soci index with digest: ${c.index.digest}`);
        let result;
        try {
          result = await pushIndex(
            client,
            ref.repository,
            c.index,
            (d) => local.store.readBlob(d.digest),
            {
              concurrency,
              onEvent: (kind, d) => {
                if (kind === "pushing") say(`pushing artifact with digest: ${d.digest}`);
                else if (kind === "pushed") {
                  say(`successfully pushed artifact with digest: ${d.digest}`);
                } else say(`skipped artifact with digest: ${d.digest}`);
              },
            },
          );
        } catch (e) {
          throw e instanceof SociError ? withContext(e, "error pushing graph to remote") : e;
        }
        for (const w of result.warnings) ctx.out.warn(`warning: ${w}`);
        if (result.alreadyPresent && result.fallbackChanged !== true) {
          say(
            `soci index ${c.index.digest} is already in ${ref.registry}/${ref.repository}: nothing to push`,
          );
        }
      }
    } finally {
      client.close();
    }
  },
};
