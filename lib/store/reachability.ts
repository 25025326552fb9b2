/**
 * What a store must keep: the blobs reachable from what the artifacts DB
 * records (every artifact row; for an index also its image manifest and
 * image; every named image), following the descriptors of JSON documents
 * (`config`, `layers`, `manifests`, `subject`, `blobs`).
 *
 * @module
 */
import { parseDigest } from "../oci/digest.ts";
import type { ArtifactsDb } from "./artifacts_db.ts";

/** JSON documents larger than this are not followed (no manifest is this big). */
export const MAX_DOCUMENT_SIZE = 16 * 1024 * 1024;

/**
 * The digests the DB keeps alive directly: every row's digest (for an index
 * also its manifest and image digests) and every named image's target.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ArtifactsDb } from "./artifacts_db.ts";
 * import { dbRoots } from "./reachability.ts";
 * const db = ArtifactsDb.open(":memory:");
 * const target = { mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   digest: "sha256:" + "1".repeat(64), size: 10 };
 * db.putImage({ name: "app", target, annotations: {}, createdAt: new Date() });
 * assert.deepEqual(dbRoots(db), [target.digest]);
 * db.close();
 * ```
 */
export function dbRoots(db: ArtifactsDb): string[] {
  const out: string[] = [];
  for (const r of db.all()) {
    out.push(r.digest);
    if (r.type === "soci_index") out.push(r.location, r.originalDigest, r.imageDigest);
  }
  for (const img of db.listImages()) out.push(img.target.digest);
  return out.filter(isDigest);
}

/**
 * The digests a JSON document refers to through descriptors (`config`,
 * `subject`, and the lists `layers`, `manifests`, `blobs`); none when the
 * bytes are not a JSON object.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { documentChildren } from "./reachability.ts";
 * const doc = '{"config":{"digest":"sha256:a"},"layers":[{"digest":"sha256:b"}]}';
 * assert.deepEqual(documentChildren(new TextEncoder().encode(doc)), ["sha256:a", "sha256:b"]);
 * assert.deepEqual(documentChildren(new Uint8Array([0x1c, 0])), []);
 * ```
 */
export function documentChildren(bytes: Uint8Array): string[] {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return [];
  }
  if (typeof doc !== "object" || doc === null) return [];
  const o = doc as Record<string, unknown>;
  const out: string[] = [];
  const take = (v: unknown) => {
    if (typeof v === "object" && v !== null) {
      const d = (v as Record<string, unknown>).digest;
      if (typeof d === "string") out.push(d);
    }
  };
  take(o.config);
  take(o.subject);
  for (const key of ["layers", "manifests", "blobs"]) {
    const list = o[key];
    if (Array.isArray(list)) list.forEach(take);
  }
  return out;
}

/**
 * Every digest reachable from `roots`, where `children(d)` lists what the
 * blob `d` refers to (no blob, or not a document: none).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { reachable } from "./reachability.ts";
 * const d = (c: string) => "sha256:" + c.repeat(64);
 * const graph: Record<string, string[]> = { [d("1")]: [d("2")], [d("2")]: [d("3")] };
 * const set = await reachable([d("1")], (x) => Promise.resolve(graph[x] ?? []));
 * assert.deepEqual([...set].sort(), [d("1"), d("2"), d("3")]);
 * ```
 */
export async function reachable(
  roots: Iterable<string>,
  children: (digest: string) => Promise<string[]>,
): Promise<Set<string>> {
  const pending = [...roots];
  const seen = new Set<string>();
  while (pending.length > 0) {
    const d = pending.pop()!;
    if (seen.has(d) || !isDigest(d)) continue;
    seen.add(d);
    for (const child of await children(d)) pending.push(child);
  }
  return seen;
}

function isDigest(d: string): boolean {
  try {
    parseDigest(d);
    return true;
  } catch {
    return false;
  }
}

/** What {@link readJsonCandidate} needs of a store. */
export interface BlobReader {
  /** Digest and size, or `undefined` when absent. */
  stat(digest: string): Promise<{ size: number } | undefined>;
  /** Bytes `[start, end)`. */
  readRange(digest: string, start: number, end: number): Promise<Uint8Array>;
  /** The whole blob. */
  readBlob(digest: string): Promise<Uint8Array>;
}

/**
 * The bytes of a stored blob that may be a JSON document (an object,
 * possibly after JSON whitespace), read only after a look at its first
 * byte, so that big binary blobs (zTOCs) are not read; `undefined` for
 * other blobs, missing ones, and ones larger than `maxSize` bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readJsonCandidate } from "./reachability.ts";
 * const blobs: Record<string, Uint8Array> = {
 *   json: new TextEncoder().encode(' {"a":1}'),
 *   binary: new Uint8Array([0x1c, 0x00, 0x7b]),
 * };
 * const store = {
 *   stat: (d: string) => Promise.resolve(blobs[d] && { size: blobs[d].length }),
 *   readRange: (d: string, s: number, e: number) => Promise.resolve(blobs[d].slice(s, e)),
 *   readBlob: (d: string) => Promise.resolve(blobs[d]),
 * };
 * assert.ok(await readJsonCandidate(store, "json"));
 * assert.equal(await readJsonCandidate(store, "binary"), undefined);
 * assert.equal(await readJsonCandidate(store, "missing"), undefined);
 * ```
 */
export async function readJsonCandidate(
  store: BlobReader,
  digest: string,
  maxSize = Number.MAX_SAFE_INTEGER,
): Promise<Uint8Array | undefined> {
  const info = await store.stat(digest);
  if (!info || info.size < 2 || info.size > maxSize) return undefined;
  const first = (await store.readRange(digest, 0, 1))[0];
  // "{" or JSON whitespace (space, tab, LF, CR).
  if (first !== 0x7b && first !== 0x20 && first !== 0x09 && first !== 0x0a && first !== 0x0d) {
    return undefined;
  }
  return await store.readBlob(digest);
}
