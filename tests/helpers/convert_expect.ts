/**
 * Expected documents of `soci convert`, written out by hand from
 * `soci-format.md` §7.1, §7.2 and §8 (no code of `lib/`): Go's member order
 * for descriptors, platforms, manifests and indexes, sorted annotation
 * keys, compact, no trailing newline — for the simple documents of the test
 * images (ASCII text, no `urls`/`data`). Plus readers of layouts and
 * archives written by convert.
 *
 * @module
 */
import { join } from "node:path";
import { type Desc, EMPTY_CONFIG, type ExpectedZtoc, sha256, toolOk } from "./create_e2e_images.ts";

/** A descriptor as the tests write it (all optional members of F§7.1 the tests use). */
export interface XDesc {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string; variant?: string };
  artifactType?: string;
}

const q = (s: string) => JSON.stringify(s);

/** Go's encoding of a string map: keys sorted by byte value. */
export function encMap(m: Record<string, string>): string {
  const keys = Object.keys(m).sort();
  return "{" + keys.map((k) => `${q(k)}:${q(m[k])}`).join(",") + "}";
}

/** Go's encoding of an `ocispec.Descriptor` (F§7.1 member order, empty members omitted). */
export function encDesc(d: XDesc): string {
  let s = `{"mediaType":${q(d.mediaType)},"digest":${q(d.digest)},"size":${d.size}`;
  if (d.annotations && Object.keys(d.annotations).length > 0) {
    s += `,"annotations":${encMap(d.annotations)}`;
  }
  if (d.platform) {
    s += `,"platform":{"architecture":${q(d.platform.architecture)},"os":${q(d.platform.os)}`;
    if (d.platform.variant) s += `,"variant":${q(d.platform.variant)}`;
    s += "}";
  }
  if (d.artifactType) s += `,"artifactType":${q(d.artifactType)}`;
  return s + "}";
}

/** Go's encoding of an `ocispec.Manifest` of the test images. */
export function encManifest(m: {
  mediaType?: string;
  config: XDesc;
  layers: XDesc[];
  annotations?: Record<string, string>;
}): string {
  let s = `{"schemaVersion":2`;
  if (m.mediaType) s += `,"mediaType":${q(m.mediaType)}`;
  s += `,"config":${encDesc(m.config)},"layers":[${m.layers.map(encDesc).join(",")}]`;
  if (m.annotations && Object.keys(m.annotations).length > 0) {
    s += `,"annotations":${encMap(m.annotations)}`;
  }
  return s + "}";
}

/** Go's encoding of an OCI image index. */
export function encIndex(manifests: XDesc[]): string {
  return `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",` +
    `"manifests":[${manifests.map(encDesc).join(",")}]}`;
}

/** The v2 artifact type. */
export const SOCI_V2 = "application/vnd.amazon.soci.index.v2+json";
/** The OCI manifest media type. */
export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
/** The OCI index media type. */
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
/** The OCI config media type. */
export const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
/** The annotation binding a manifest to its v2 index. */
export const INDEX_DIGEST = "com.amazon.soci.index-digest";
/** The annotation binding a v2 index descriptor to its manifest. */
export const MANIFEST_DIGEST = "com.amazon.soci.image-manifest-digest";

/** A prefetch descriptor of an expected index. */
export interface ExpectedPrefetch {
  digest: string;
  size: number;
  layer: string;
}

/** The exact bytes of a v2 SOCI index (F§7.2: v1 without `subject`, v2 config type). */
export function expectedV2Index(ztocs: ExpectedZtoc[], prefetch: ExpectedPrefetch[] = []): string {
  const layers = ztocs.map((z) =>
    encDesc({
      mediaType: "application/octet-stream",
      digest: z.ztoc.digest,
      size: z.ztoc.size,
      annotations: {
        ...(z.disableXattrs ? { "com.amazon.soci.disable-xattrs": "true" } : {}),
        "com.amazon.soci.image-layer-digest": z.layer.digest,
        "com.amazon.soci.image-layer-mediaType": z.layer.mediaType,
        "com.amazon.soci.span-size": String(z.spanSize),
      },
    })
  );
  for (const p of prefetch) {
    layers.push(encDesc({
      mediaType: "application/vnd.amazon.soci.prefetch.v1+json",
      digest: p.digest,
      size: p.size,
      annotations: { "com.amazon.soci.image-layer-digest": p.layer },
    }));
  }
  return `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
    `"config":{"mediaType":"${SOCI_V2}","digest":"${EMPTY_CONFIG.digest}","size":2},` +
    `"layers":[${layers.join(",")}],` +
    `"annotations":{"com.amazon.soci.build-tool-identifier":"AWS SOCI CLI v0.2"}}`;
}

/**
 * The rewritten form of a test image manifest (F§8 step 4): OCI manifest and
 * config media types, the index-digest annotation when bound.
 */
export function expectedRewritten(
  doc: { config: Desc; layers: Desc[]; annotations?: Record<string, string> },
  indexDigest?: string,
): string {
  const annotations = { ...doc.annotations };
  if (indexDigest) annotations[INDEX_DIGEST] = indexDigest;
  return encManifest({
    mediaType: OCI_MANIFEST,
    config: { ...doc.config, mediaType: OCI_CONFIG },
    layers: doc.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    annotations,
  });
}

/** Descriptor of a document given as text: digest by the test's own sha256. */
export function docDesc(mediaType: string, text: string): XDesc {
  const bytes = new TextEncoder().encode(text);
  return { mediaType, digest: sha256(bytes), size: bytes.length };
}

/** A blob of an OCI layout directory, as text. */
export function layoutText(dir: string, digest: string): Promise<string> {
  return Deno.readTextFile(join(dir, "blobs", "sha256", digest.slice("sha256:".length)));
}

/** `index.json` of a layout, parsed. */
export async function layoutIndex(dir: string): Promise<{ manifests: XDesc[] }> {
  return JSON.parse(await Deno.readTextFile(join(dir, "index.json")));
}

/** Extracts an archive with GNU tar into a new temp dir; returns the dir. */
export async function untar(file: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "soci-convert-untar-" });
  await toolOk("tar", ["-xf", file, "-C", dir]);
  return dir;
}

/** The test image manifests of a layout written by the tests' LayoutBuilder, parsed. */
export async function manifestDoc(
  layout: string,
  digest: string,
): Promise<{ mediaType?: string; config: Desc; layers: Desc[] }> {
  return JSON.parse(await layoutText(layout, digest));
}
