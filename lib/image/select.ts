/**
 * Platform listing and manifest selection on top of any {@link ImageSource}
 * (`soci-format.md` §7.6 and §8 step 1), plus verified readers for
 * manifests and indexes (OCI or Docker media types).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { BadInputError, NotFoundError, UnsupportedError } from "../errors.ts";
import type { Descriptor, ImageIndex, ImageManifest, Platform } from "../oci/descriptor.ts";
import { decodeIndex, decodeManifest } from "../oci/json_decode.ts";
import { isIndexType, isManifestType, OCI_INDEX, OCI_MANIFEST } from "../oci/media_types.ts";
import {
  dedupePlatforms,
  formatPlatform,
  normalizePlatform,
  platformMatches,
} from "../oci/platform.ts";
import type { ImageSource } from "./source.ts";

/** A manifest or index document as read from a source. */
interface Document {
  bytes: Uint8Array;
  /** The descriptor's media type, else the document's own, else a guess from its members. */
  mediaType: string;
}

/** Checks `bytes` against `desc` (size and digest); sources do this too, this is a safety net. */
function verify(desc: Descriptor, bytes: Uint8Array): void {
  const i = desc.digest.indexOf(":");
  const alg = desc.digest.slice(0, i);
  let actual: string;
  try {
    actual = alg + ":" + createHash(alg).update(bytes).digest("hex");
  } catch {
    throw new UnsupportedError(`unsupported digest algorithm in ${desc.digest}`);
  }
  if (actual !== desc.digest || bytes.length !== desc.size) {
    throw new BadInputError(
      `content does not match its descriptor: expected ${desc.digest} (${desc.size} bytes), ` +
        `got ${actual} (${bytes.length} bytes)`,
    );
  }
}

/** The `mediaType` member of a JSON document, or a guess from its members (`""` if none). */
function documentMediaType(bytes: Uint8Array): string {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new BadInputError(`invalid manifest JSON: ${(err as Error).message.split("\n")[0]}`);
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    throw new BadInputError("invalid manifest JSON: not an object");
  }
  const obj = doc as Record<string, unknown>;
  if (typeof obj.mediaType === "string" && obj.mediaType !== "") return obj.mediaType;
  if ("manifests" in obj) return OCI_INDEX;
  if ("config" in obj || "layers" in obj) return OCI_MANIFEST;
  return "";
}

async function loadDocument(src: ImageSource, desc: Descriptor): Promise<Document> {
  if (desc.mediaType && !isManifestType(desc.mediaType) && !isIndexType(desc.mediaType)) {
    throw new UnsupportedError(`unsupported image media type ${desc.mediaType}`);
  }
  const bytes = await src.fetchBytes(desc);
  verify(desc, bytes);
  const mediaType = desc.mediaType || documentMediaType(bytes);
  if (!isManifestType(mediaType) && !isIndexType(mediaType)) {
    throw new UnsupportedError(
      `unsupported image media type ${mediaType === "" ? '""' : mediaType} (${desc.digest})`,
    );
  }
  return { bytes, mediaType };
}

/**
 * Reads an image manifest (OCI or Docker schema 2): bytes verified against
 * the descriptor, decoded with Go's rules. `mediaType` is the descriptor's
 * media type, or the document's own when the descriptor has none. An index
 * or an unknown media type is an `UnsupportedError` naming it.
 *
 * @example
 * ```ts ignore
 * import { readManifest } from "./select.ts";
 * const { manifest } = await readManifest(source, descriptor);
 * console.log(manifest.layers.length);
 * ```
 */
export async function readManifest(
  src: ImageSource,
  desc: Descriptor,
): Promise<{ manifest: ImageManifest; bytes: Uint8Array; mediaType: string }> {
  const doc = await loadDocument(src, desc);
  if (!isManifestType(doc.mediaType)) {
    throw new UnsupportedError(
      `expected an image manifest, got media type ${doc.mediaType} (${desc.digest})`,
    );
  }
  return { manifest: decodeManifest(doc.bytes), bytes: doc.bytes, mediaType: doc.mediaType };
}

/**
 * Reads an image index or Docker manifest list: bytes verified against the
 * descriptor, decoded with Go's rules. A manifest or an unknown media type
 * is an `UnsupportedError` naming it.
 *
 * @example
 * ```ts ignore
 * import { readIndex } from "./select.ts";
 * const { index } = await readIndex(source, descriptor);
 * console.log(index.manifests.length);
 * ```
 */
export async function readIndex(
  src: ImageSource,
  desc: Descriptor,
): Promise<{ index: ImageIndex; bytes: Uint8Array; mediaType: string }> {
  const doc = await loadDocument(src, desc);
  if (!isIndexType(doc.mediaType)) {
    throw new UnsupportedError(
      `expected an image index, got media type ${doc.mediaType} (${desc.digest})`,
    );
  }
  return { index: decodeIndex(doc.bytes), bytes: doc.bytes, mediaType: doc.mediaType };
}

/** `os`, `architecture` and `variant` of an image config (members matched case-insensitively). */
function configPlatform(bytes: Uint8Array, digest: string): Platform {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new BadInputError(
      `invalid image config ${digest}: ${(err as Error).message.split("\n")[0]}`,
    );
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    throw new BadInputError(`invalid image config ${digest}: not an object`);
  }
  const found: Record<string, string> = {};
  for (const [key, value] of Object.entries(doc)) {
    const k = key.toLowerCase();
    if (k !== "os" && k !== "architecture" && k !== "variant") continue;
    if (value === null) continue;
    if (typeof value !== "string") {
      throw new BadInputError(`invalid image config ${digest}: ${key} is not a string`);
    }
    found[k] = value;
  }
  const p: Platform = { architecture: found.architecture ?? "", os: found.os ?? "" };
  if (found.variant) p.variant = found.variant;
  return p;
}

/**
 * The platforms an image supports (`soci-format.md` §8 step 1, containerd's
 * `images.Platforms`): for an index, the platforms of its children in order
 * (children whose OS or architecture is `unknown` skipped, nested indexes
 * walked, children without a platform read through their config); for a
 * manifest, its descriptor's platform or else the normalized
 * os/architecture/variant of its config. Duplicates (strict match) removed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { imagePlatforms } from "./select.ts";
 * import { sha256Digest } from "../oci/digest.ts";
 * import type { ImageSource } from "./source.ts";
 * const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
 * const config = enc({ architecture: "x86_64", os: "linux" });
 * const configDesc = { mediaType: "application/vnd.oci.image.config.v1+json",
 *   digest: sha256Digest(config), size: config.length };
 * const manifest = enc({ schemaVersion: 2, config: configDesc, layers: [] });
 * const target = { mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   digest: sha256Digest(manifest), size: manifest.length };
 * const blobs = new Map([[configDesc.digest, config], [target.digest, manifest]]);
 * const source: ImageSource = {
 *   reference: "memory", storeName: "memory",
 *   resolve: () => Promise.resolve(target),
 *   fetchBytes: (d) => Promise.resolve(blobs.get(d.digest)!),
 *   openBlob: () => Promise.reject(new Error("not used")),
 * };
 * const list = await imagePlatforms(source, target);
 * assert.ok(list.length === 1 && list[0].architecture === "amd64"); // normalized
 * ```
 */
export async function imagePlatforms(src: ImageSource, target: Descriptor): Promise<Platform[]> {
  const out: Platform[] = [];
  const walk = async (desc: Descriptor, top: boolean, depth: number): Promise<void> => {
    if (depth > 8) throw new BadInputError(`image index nesting too deep at ${desc.digest}`);
    if (desc.platform) {
      if (desc.platform.os !== "unknown" && desc.platform.architecture !== "unknown") {
        out.push(desc.platform);
      }
      return;
    }
    if (!top && desc.mediaType && !isIndexType(desc.mediaType) && !isManifestType(desc.mediaType)) {
      return; // containerd ignores children of other types
    }
    const doc = await loadDocument(src, desc);
    if (isIndexType(doc.mediaType)) {
      for (const child of decodeIndex(doc.bytes).manifests) await walk(child, false, depth + 1);
      return;
    }
    const manifest = decodeManifest(doc.bytes);
    const config = await src.fetchBytes(manifest.config);
    verify(manifest.config, config);
    out.push(normalizePlatform(configPlatform(config, manifest.config.digest)));
  };
  await walk(target, true, 0);
  return dedupePlatforms(out);
}

/** The manifest chosen for a platform. */
export interface SelectedManifest {
  /**
   * The manifest's descriptor exactly as listed by the index (or the
   * target itself): its `mediaType`, `digest` and `size` are the subject of
   * a v1 SOCI index. When it has no media type, the manifest's own (or OCI
   * manifest) is filled in.
   */
  descriptor: Descriptor;
  /** The decoded manifest (Go rules; not modified, so it may lack `mediaType`). */
  manifest: ImageManifest;
  /** The manifest bytes as stored, verified against `descriptor`. */
  bytes: Uint8Array;
  /**
   * The index child's platform, or for a manifest target its descriptor's
   * platform, else the requested platform.
   */
  platform: Platform;
}

/**
 * Selects the image manifest for a platform (`soci-format.md` §7.6): for
 * an index target its children are walked in order, a child without a
 * platform is an error (`manifest should have proper platform`), the first
 * strict match (after normalization) wins, none is a `NotFoundError`
 * `image manifest for <os/arch[/variant]>: not found`. A manifest target is
 * used unless it carries a platform that does not match.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { selectManifest } from "./select.ts";
 * import { sha256Digest } from "../oci/digest.ts";
 * import type { Descriptor } from "../oci/descriptor.ts";
 * import type { ImageSource } from "./source.ts";
 * // A tiny in-memory source: one index with an amd64 and an arm64 manifest.
 * const blobs = new Map<string, Uint8Array>();
 * const put = (mediaType: string, text: string): Descriptor => {
 *   const bytes = new TextEncoder().encode(text);
 *   const digest = sha256Digest(bytes);
 *   blobs.set(digest, bytes);
 *   return { mediaType, digest, size: bytes.length };
 * };
 * const M = "application/vnd.oci.image.manifest.v1+json";
 * const cfg = put("application/vnd.oci.image.config.v1+json", "{}");
 * const man = (n: number) => put(M, JSON.stringify({ schemaVersion: 2, mediaType: M,
 *   config: cfg, layers: [], annotations: { n: String(n) } }));
 * const amd64 = { ...man(1), platform: { architecture: "amd64", os: "linux" } };
 * const arm64 = { ...man(2), platform: { architecture: "arm64", os: "linux", variant: "v8" } };
 * const target = put("application/vnd.oci.image.index.v1+json",
 *   JSON.stringify({ schemaVersion: 2, manifests: [amd64, arm64] }));
 * const source: ImageSource = {
 *   reference: "memory", storeName: "memory",
 *   resolve: () => Promise.resolve(target),
 *   fetchBytes: (d) => Promise.resolve(blobs.get(d.digest)!),
 *   openBlob: () => Promise.reject(new Error("not used")),
 * };
 * const sel = await selectManifest(source, target, { os: "linux", architecture: "aarch64" });
 * assert.ok(sel.descriptor.digest === arm64.digest);
 * assert.ok(sel.manifest.annotations?.n === "2");
 * ```
 */
export async function selectManifest(
  src: ImageSource,
  target: Descriptor,
  platform: Platform,
): Promise<SelectedManifest> {
  const notFound = () =>
    new NotFoundError(`image manifest for ${formatPlatform(platform)}: not found`);
  const doc = await loadDocument(src, target);
  let chosen: Descriptor;
  let bytes: Uint8Array;
  let mediaType: string;
  let chosenPlatform: Platform;
  if (isIndexType(doc.mediaType)) {
    const index = decodeIndex(doc.bytes);
    let match: Descriptor | undefined;
    for (const child of index.manifests) {
      if (!child.platform) throw new BadInputError("manifest should have proper platform");
      if (platformMatches(platform, child.platform)) {
        match = child;
        break;
      }
    }
    if (!match) throw notFound();
    const m = await loadDocument(src, match);
    if (!isManifestType(m.mediaType)) {
      throw new UnsupportedError(
        `unsupported media type ${m.mediaType} for the ${formatPlatform(platform)} manifest`,
      );
    }
    chosen = match;
    bytes = m.bytes;
    mediaType = m.mediaType;
    chosenPlatform = match.platform!;
  } else {
    if (target.platform && !platformMatches(platform, target.platform)) throw notFound();
    chosen = target;
    bytes = doc.bytes;
    mediaType = doc.mediaType;
    chosenPlatform = target.platform ?? platform;
  }
  const manifest = decodeManifest(bytes);
  const descriptor = chosen.mediaType
    ? chosen
    : { ...chosen, mediaType: manifest.mediaType || mediaType };
  return { descriptor, manifest, bytes, platform: chosenPlatform };
}
