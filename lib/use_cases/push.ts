/**
 * `push` as a library function (`soci-cli.md` §5): the newest v1 SOCI index
 * of each selected platform of a named image, with its zTOCs and config,
 * goes to a repository of the image's registry, discoverable through the
 * referrers API or the fallback tag. Every platform is resolved, and when
 * there are several every node of every index is found (in the repository
 * or the store), before anything is uploaded: a blob missing locally never
 * stops a push after some platforms.
 *
 * @module
 */
import { BadInputError, SociError, withContext } from "../errors.ts";
import { StoreSource } from "../image/store_source.ts";
import type { Descriptor, Platform } from "../oci/descriptor.ts";
import { OCI_MANIFEST, SOCI_INDEX_V1, SOCI_INDEX_V2 } from "../oci/media_types.ts";
import { formatPlatform } from "../oci/platform.ts";
import type { RegistryClient } from "../registry/client.ts";
import { findUnavailable } from "../registry/copy_graph.ts";
import {
  existingIndexMessage,
  listReferrers,
  type PushEventKind,
  pushIndex,
  type PushResult,
  unreadableNode,
} from "../registry/push.ts";
import type { ArtifactStore } from "../store/artifact_store.ts";
import { choosePlatforms, type PlatformChoice, resolvePlatforms } from "./platforms.ts";

/** What to do when the repository already has a SOCI index for a manifest. */
export type ExistingIndexPolicy = "warn" | "skip" | "allow";

/** What happens during a push, for progress lines (upstream's texts are the CLI's). */
export type PushEvent =
  | { kind: "v2-skipped"; platform: Platform }
  | { kind: "checking"; manifest: Descriptor }
  | { kind: "existing"; message: string; policy: "warn" | "skip"; manifest: Descriptor }
  | { kind: "index"; index: Descriptor }
  | { kind: "node"; event: PushEventKind; desc: Descriptor }
  | { kind: "done"; index: Descriptor; result: PushResult };

/** Options of {@link pushIndexes}. */
export interface PushIndexesOptions {
  /** Platforms (see `platforms.ts`); default the image's own, or the host's for an index. */
  platforms?: PlatformChoice;
  /** When the repository already has an index for a manifest; default `warn`. */
  existingIndex?: ExistingIndexPolicy;
  /** Blobs uploaded at once (default 3). */
  concurrency?: number;
  /** Progress. */
  onEvent?: (e: PushEvent) => void;
}

/** One platform's index to push. */
export interface ChosenIndex {
  /** The platform. */
  platform: Platform;
  /** Its image manifest. */
  manifest: Descriptor;
  /** The index to push (the newest v1 index of that manifest). */
  index: Descriptor;
}

/**
 * The newest v1 index of each platform of the image `name` in `store`
 * (`could not find any soci index manifest v1 to push for platform <p>`
 * when a platform has none; v2 indexes are never pushed this way: they
 * travel with their image).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { indexesToPush } from "./push.ts";
 * import { createIndexes } from "./create.ts";
 * import { openImage } from "../image/open.ts";
 * import { LocalStore } from "../store/local_store.ts";
 * const root = await Deno.makeTempDir();
 * const store = LocalStore.open(root);
 * const made = await createIndexes(await openImage("oci:./fixtures/sample-image:latest"),
 *   store, { minLayerSize: 0 });
 * const [first] = await indexesToPush(store, made.name);
 * assert.equal(first.index.digest, made.indexes[0].index.descriptor.digest);
 * store.close();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function indexesToPush(
  store: ArtifactStore,
  name: string,
  options: Pick<PushIndexesOptions, "platforms" | "onEvent"> = {},
): Promise<ChosenIndex[]> {
  const source = new StoreSource(store, name);
  const target = await source.resolve();
  const platforms = await choosePlatforms(source, target, options.platforms);
  const { found, missing } = await resolvePlatforms(source, target, platforms);
  if (missing.length > 0) throw missing[0].error;
  const chosen: ChosenIndex[] = [];
  let sawV2 = false;
  for (const { platform, manifest } of found) {
    const rows = store.db.indexesByManifest(manifest.descriptor.digest);
    if (rows.some((r) => r.artifactType === SOCI_INDEX_V2)) sawV2 = true;
    if (sawV2) options.onEvent?.({ kind: "v2-skipped", platform });
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
      manifest: manifest.descriptor,
      index: {
        mediaType: OCI_MANIFEST,
        digest: v1[0].digest,
        size: v1[0].size,
        artifactType: SOCI_INDEX_V1,
      },
    });
  }
  return chosen;
}

/**
 * Pushes the newest v1 index of each selected platform of the image `name`
 * to `repository` through `client` (see the module documentation), and
 * returns what each push did (platforms skipped by `--existing-index skip`
 * are left out).
 *
 * @example
 * ```ts ignore
 * import { pushIndexes } from "./push.ts";
 * import { RegistryClient } from "../registry/client.ts";
 * import { LocalStore } from "../store/local_store.ts";
 * const store = LocalStore.open("/tmp/soci-root");
 * const client = new RegistryClient("127.0.0.1:5000", { plainHttp: true });
 * await pushIndexes(store, "127.0.0.1:5000/app:1", client, "app", {
 *   onEvent: (e) => console.log(e.kind),
 * });
 * ```
 */
export async function pushIndexes(
  store: ArtifactStore,
  name: string,
  client: RegistryClient,
  repository: string,
  options: PushIndexesOptions = {},
): Promise<PushResult[]> {
  const chosen = await indexesToPush(store, name, options);
  return await pushChosen(store, chosen, client, repository, options);
}

/**
 * Pushes indexes chosen by {@link indexesToPush} (so that a command can
 * resolve everything, and fail, before it reaches for credentials).
 *
 * @example
 * ```ts ignore
 * import { indexesToPush, pushChosen } from "./push.ts";
 * const chosen = await indexesToPush(store, "127.0.0.1:5000/app:1");
 * await pushChosen(store, chosen, client, "app");
 * ```
 */
export async function pushChosen(
  store: ArtifactStore,
  chosen: ChosenIndex[],
  client: RegistryClient,
  repository: string,
  options: PushIndexesOptions = {},
): Promise<PushResult[]> {
  const policy = options.existingIndex ?? "warn";
  /** The `--existing-index` check of one platform: true when it is to be skipped. */
  const skipped = async (c: ChosenIndex): Promise<boolean> => {
    if (policy === "allow") return false;
    options.onEvent?.({ kind: "checking", manifest: c.manifest });
    const found = await listReferrers(client, repository, c.manifest.digest, SOCI_INDEX_V1);
    const message = existingIndexMessage(found);
    if (message === undefined) return false;
    options.onEvent?.({ kind: "existing", message, policy, manifest: c.manifest });
    return policy === "skip";
  };
  // Several platforms: every one is checked, and every node of the indexes
  // to push found, before anything is uploaded (one platform goes as
  // upstream's does: check, then push).
  const several = chosen.length > 1;
  let toPush = chosen;
  if (several) {
    toPush = [];
    for (const c of chosen) if (!(await skipped(c))) toPush.push(c);
    if (toPush.length > 1) {
      for (const c of toPush) await checkAvailable(store, client, repository, c.index);
    }
  }
  const results: PushResult[] = [];
  for (const c of toPush) {
    if (!several && (await skipped(c))) continue;
    options.onEvent?.({ kind: "index", index: c.index });
    let result: PushResult;
    try {
      result = await pushIndex(client, repository, c.index, (d) => store.readBlob(d.digest), {
        concurrency: options.concurrency,
        onEvent: (event, desc) => options.onEvent?.({ kind: "node", event, desc }),
      });
    } catch (e) {
      throw e instanceof SociError ? withContext(e, "error pushing graph to remote") : e;
    }
    options.onEvent?.({ kind: "done", index: c.index, result });
    results.push(result);
  }
  return results;
}

/**
 * Fails, before anything is uploaded, when a node that pushing `index`
 * needs is neither in the repository nor readable from `store`, with the
 * message the push itself would give.
 */
async function checkAvailable(
  store: ArtifactStore,
  client: RegistryClient,
  repository: string,
  index: Descriptor,
): Promise<void> {
  const gap = await findUnavailable(client, repository, { ...index, mediaType: OCI_MANIFEST }, {
    manifest: (d) => store.readBlob(d.digest),
    blob: async (d) => {
      const info = await store.stat(d.digest);
      if (info === undefined) await (await store.openBlob(d.digest)).cancel();
    },
  });
  if (gap === undefined) return;
  throw withContext(
    unreadableNode(client, repository, gap.desc, gap.error),
    "error pushing graph to remote",
  );
}
