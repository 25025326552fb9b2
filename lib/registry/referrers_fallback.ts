/**
 * Maintaining the referrers tag-schema fallback (`soci-format.md` §11.2)
 * on registries without the referrers API: the OCI index tagged
 * `sha256-<subject hex>` lists the referrers of the subject.
 *
 * Registries offer no compare-and-swap on tags, so two pushers updating
 * the same tag can overwrite each other. The update here narrows that
 * window but cannot close it:
 *
 * - the tag is written from a fresh read: the PUT is never retried with
 *   the same bytes (a 429, 5xx or dropped connection sends the update back
 *   to a new read and merge, after the backoff), and a read older than
 *   half the settle delay is read again before writing;
 * - after each write (or failed write attempt that may have landed) the
 *   tag is read again once the settle delay has passed, and merged and
 *   written again until it lists every referrer seen during the update.
 *
 * What remains: a concurrent pusher whose write reaches the registry more
 * than the settle delay after its read (slow link, stalled proxy) can
 * replace a list this process has already confirmed; the referrer it drops
 * stays in the repository, unlisted, until its index is pushed again.
 *
 * Superseded fallback indexes are deleted afterwards (distribution drops
 * every tag of a deleted manifest, so deleting the one the tag points at
 * would remove the tag). Each DELETE is sent, without retries, right after
 * a HEAD of the tag shows it points elsewhere; a concurrent pusher that
 * writes a byte-identical index in the round trip between the two would
 * lose the tag, so the tag is checked once more after the deletes and
 * written again if it is gone.
 *
 * @module
 */
import { RegistryError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { encodeIndex } from "../oci/json_encode.ts";
import { OCI_INDEX } from "../oci/media_types.ts";
import type { RegistryClient } from "./client.ts";
import { fallbackTag } from "./referrers.ts";
import { sleep, TransientRegistryError } from "./retry.ts";

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
 * import assert from "node:assert/strict";
 * import { mergeReferrers } from "./referrers_fallback.ts";
 * const a = { mediaType: "m", digest: "sha256:a", size: 1 };
 * const b = { mediaType: "m", digest: "sha256:b", size: 2 };
 * const merged = mergeReferrers([a, a, { mediaType: "", digest: "", size: 0 }], [b, a]);
 * assert.ok(merged.map((d) => d.digest).join() === "sha256:a,sha256:b");
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
 * Adds `entry` to the fallback index of `subjectDigest` in `repo`, then
 * deletes the superseded fallback indexes it saw (never one the tag was
 * just seen pointing at). Concurrent updates by other pushers are merged,
 * within the limits described in the module doc: this is not a
 * compare-and-swap.
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
  const state: UpdateState = {
    client,
    repo,
    subjectDigest,
    entry,
    tag: fallbackTag(subjectDigest),
    settleMs: opts.settleMs ?? 300,
    maxRounds: opts.maxRounds ?? 20,
    known: [entry],
    seen: new Set<string>(),
    changed: false,
  };
  let final = await converge(state);
  const warnings: string[] = [];
  const deleted: string[] = [];
  for (const digest of [...state.seen]) {
    if (digest === final.digest) continue;
    try {
      // Checked right before the DELETE, which is not retried: the time
      // between the two is one round trip.
      const now = await client.manifests.head(repo, state.tag, [OCI_INDEX]);
      if (now?.digest === digest) continue;
      if (await client.manifests.delete(repo, digest, { retry: false })) deleted.push(digest);
    } catch (e) {
      if (!(e instanceof RegistryError)) throw e;
      warnings.push(`could not delete superseded referrers index ${digest}: ${e.message}`);
    }
  }
  if (
    deleted.length > 0 && (await client.manifests.head(repo, state.tag, [OCI_INDEX])) === undefined
  ) {
    // A concurrent pusher pointed the tag at an index deleted above, and
    // the tag went with it: write it again from what was seen.
    final = await converge(state);
  }
  return { tag: state.tag, index: final, changed: state.changed, deleted, warnings };
}

interface UpdateState {
  client: RegistryClient;
  repo: string;
  subjectDigest: string;
  entry: Descriptor;
  tag: string;
  settleMs: number;
  maxRounds: number;
  /** Every referrer seen at the tag during this update, plus ours, in tag order. */
  known: Descriptor[];
  /** Fallback index digests read or written during this update. */
  seen: Set<string>;
  changed: boolean;
}

/**
 * Reads, merges and writes until a read made at least `settleMs` after
 * the last write attempt shows every known referrer; returns that index.
 */
async function converge(state: UpdateState): Promise<Descriptor> {
  const { client, repo, tag, settleMs } = state;
  const action = `update referrers tag ${repo}:${tag}`;
  let wroteAt: number | undefined;
  let transient = 0;
  for (let round = 0; round < state.maxRounds; round++) {
    if (wroteAt !== undefined) {
      const wait = wroteAt + settleMs - Date.now();
      if (wait > 0) await sleep(wait);
    }
    const cur = await client.referrers.fallbackIndex(repo, state.subjectDigest);
    const readAt = Date.now();
    const base = cur?.index.manifests ?? [];
    if (cur) state.seen.add(cur.digest);
    // A concurrent overwrite that dropped a referrer seen earlier is repaired.
    state.known = mergeReferrers(base, state.known);
    if (cur && sameList(state.known, base)) {
      return { mediaType: OCI_INDEX, digest: cur.digest, size: cur.bytes.length };
    }
    if (Date.now() - readAt > settleMs / 2) continue; // too old to write from: read again
    const bytes = encodeIndex({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: state.known });
    try {
      const put = await client.manifests.put(repo, tag, bytes, OCI_INDEX, { retry: false });
      state.seen.add(put.digest);
      state.changed = true;
      wroteAt = Date.now();
    } catch (e) {
      if (e instanceof TransientRegistryError) {
        // Never re-sent as is: the bytes were merged from a read that is
        // getting old. The write may have landed, so the next read also
        // waits for the settle delay.
        wroteAt = Date.now();
        if (++transient > client.retryPolicy.maxRetries) throw e;
        await client.backoff(transient, e.retryAfterMs, action);
        continue;
      }
      if (e instanceof RegistryError && e.code === "MANIFEST_BLOB_UNKNOWN") {
        // A referrer listed earlier has since been deleted: forget those.
        state.known = await keepExisting(client, repo, state.known, state.entry);
        continue;
      }
      throw e;
    }
  }
  throw new RegistryError(
    `${client.registry}: ${action}: the tag kept changing (concurrent pushes?); try again`,
  );
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
    if (
      keyOf(d) === keyOf(mustKeep) || (await client.manifests.head(repo, d.digest)) !== undefined
    ) {
      out.push(d);
    }
  }
  return out;
}
