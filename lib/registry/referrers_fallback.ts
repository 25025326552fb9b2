/**
 * Maintaining the referrers tag-schema fallback (`soci-format.md` §11.2)
 * on registries without the referrers API: the OCI index tagged
 * `sha256-<subject hex>` lists the referrers of the subject.
 *
 * Registries offer no compare-and-swap on tags, so concurrent pushers can
 * overwrite each other. The update here is made safe in practice by
 * re-reading after each write (after a short settle delay) and merging
 * again until the tag lists every referrer this process has seen, and by
 * never deleting an index the tag currently points at (distribution drops
 * every tag of a manifest that is deleted).
 *
 * @module
 */
import { RegistryError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { encodeIndex } from "../oci/go_json.ts";
import { OCI_INDEX } from "../oci/media_types.ts";
import { fallbackTag, type RegistryClient } from "./client.ts";
import { sleep } from "./retry.ts";

/** Options of {@link addToFallbackIndex}. */
export interface FallbackOptions {
  /**
   * Wait after each write before re-reading the tag, in milliseconds
   * (default 300): longer than another pusher's read-then-write gap.
   */
  settleMs?: number;
  /** Most read/merge/write rounds before giving up (default 20). */
  maxRounds?: number;
}

/** What {@link addToFallbackIndex} did. */
export interface FallbackUpdate {
  /** The fallback tag, `sha256-<hex>`. */
  tag: string;
  /** Descriptor of the index the tag points at now. */
  index: Descriptor;
  /** False when the tag already listed the entry (nothing written). */
  changed: boolean;
  /** Superseded fallback index digests that were deleted. */
  deleted: string[];
  /** Problems that did not fail the push (e.g. deletes refused by the registry). */
  warnings: string[];
}

/** True for the zero descriptor (oras drops those from referrers lists). */
function isEmptyDescriptor(d: Descriptor): boolean {
  return !d.mediaType && !d.digest && !d.size;
}

/** Identity of a descriptor for de-duplication (oras `content.Equal`). */
function keyOf(d: Descriptor): string {
  return `${d.mediaType}\n${d.digest}\n${d.size}`;
}

/**
 * The fallback referrers list after adding entries: the current list with
 * empty and duplicate descriptors dropped, then each missing entry
 * appended in order.
 *
 * @example
 * ```ts
 * import { mergeReferrers } from "./referrers_fallback.ts";
 * const a = { mediaType: "m", digest: "sha256:a", size: 1 };
 * const b = { mediaType: "m", digest: "sha256:b", size: 2 };
 * const merged = mergeReferrers([a, a, { mediaType: "", digest: "", size: 0 }], [b, a]);
 * console.assert(merged.map((d) => d.digest).join() === "sha256:a,sha256:b");
 * ```
 */
export function mergeReferrers(current: Descriptor[], add: Descriptor[]): Descriptor[] {
  const out: Descriptor[] = [];
  const seen = new Set<string>();
  for (const d of [...current, ...add]) {
    if (isEmptyDescriptor(d)) continue;
    const k = keyOf(d);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(d);
  }
  return out;
}

/**
 * Adds `entry` to the fallback index of `subjectDigest` in `repo`, race
 * safe as described in the module doc, then deletes the superseded
 * fallback indexes it saw (never the one the tag points at).
 *
 * @example
 * ```ts ignore
 * import { RegistryClient } from "./client.ts";
 * import { addToFallbackIndex } from "./referrers_fallback.ts";
 * const client = new RegistryClient("127.0.0.1:5000", { plainHttp: true });
 * const update = await addToFallbackIndex(client, "app", "sha256:…", {
 *   mediaType: "application/vnd.oci.image.manifest.v1+json", digest: "sha256:…", size: 123,
 *   artifactType: "application/vnd.amazon.soci.index.v1+json",
 * });
 * console.log(update.tag, update.index.digest);
 * ```
 */
export async function addToFallbackIndex(
  client: RegistryClient,
  repo: string,
  subjectDigest: string,
  entry: Descriptor,
  opts: FallbackOptions = {},
): Promise<FallbackUpdate> {
  const tag = fallbackTag(subjectDigest);
  const settleMs = opts.settleMs ?? 300;
  const maxRounds = opts.maxRounds ?? 20;
  // Every referrer seen at the tag during this update, plus ours: a
  // concurrent overwrite that drops one of them is repaired.
  let known: Descriptor[] = [entry];
  const seenIndexes = new Set<string>();
  const warnings: string[] = [];
  let changed = false;
  let final: Descriptor | undefined;
  for (let round = 0; round < maxRounds && !final; round++) {
    const cur = await client.getFallbackIndex(repo, subjectDigest);
    const base = cur?.index.manifests ?? [];
    if (cur) seenIndexes.add(cur.digest);
    known = mergeReferrers(known, base);
    const desired = mergeReferrers(base, known);
    if (cur && sameList(desired, base)) {
      final = { mediaType: OCI_INDEX, digest: cur.digest, size: cur.bytes.length };
      break;
    }
    const bytes = encodeIndex({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: desired });
    try {
      const put = await client.putManifest(repo, tag, bytes, OCI_INDEX);
      seenIndexes.add(put.digest);
      changed = true;
    } catch (e) {
      if (e instanceof RegistryError && e.code === "MANIFEST_BLOB_UNKNOWN") {
        // A referrer listed earlier has since been deleted: forget those.
        known = await keepExisting(client, repo, known, entry);
        continue;
      }
      throw e;
    }
    await sleep(settleMs);
  }
  if (!final) {
    throw new RegistryError(
      `${client.registry}: update referrers tag ${repo}:${tag}: the tag kept changing (concurrent pushes?); try again`,
    );
  }
  const deleted: string[] = [];
  for (const digest of seenIndexes) {
    if (digest === final.digest) continue;
    try {
      const now = await client.headManifest(repo, tag, [OCI_INDEX]);
      if (now?.digest === digest) continue;
      if (await client.deleteManifest(repo, digest)) deleted.push(digest);
    } catch (e) {
      if (!(e instanceof RegistryError)) throw e;
      warnings.push(`could not delete superseded referrers index ${digest}: ${e.message}`);
    }
  }
  return { tag, index: final, changed, deleted, warnings };
}

function sameList(a: Descriptor[], b: Descriptor[]): boolean {
  return a.length === b.length && a.every((d, i) => keyOf(d) === keyOf(b[i]));
}

async function keepExisting(
  client: RegistryClient,
  repo: string,
  list: Descriptor[],
  mustKeep: Descriptor,
): Promise<Descriptor[]> {
  const out: Descriptor[] = [];
  for (const d of list) {
    if (keyOf(d) === keyOf(mustKeep) || (await client.headManifest(repo, d.digest)) !== undefined) {
      out.push(d);
    }
  }
  return out;
}
