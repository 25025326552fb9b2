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
import {
  type BuiltImage,
  type BuiltLayer,
  type Desc,
  describeFile,
  type E2eImages,
  EMPTY_CONFIG,
  type ExpectedZtoc,
  sha256,
  storedZtocs,
  toolOk,
  ztocOf,
} from "./create_e2e_images.ts";

const DEC = new TextDecoder();
const SPAN = 4194304;
/** Platforms of the test images. */
export const AMD64 = { architecture: "amd64", os: "linux" };
/** The arm64 platform of `multi`. */
export const ARM64 = { architecture: "arm64", os: "linux", variant: "v8" };
/** The attestation-like child of `multi`. */
export const UNKNOWN = { architecture: "unknown", os: "unknown" };

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

/** The image a test image manifest is, as JSON. */
export function sourceDoc(img: BuiltImage) {
  return JSON.parse(DEC.decode(img.manifestBytes));
}

/** The zTOC descriptors the index of `layers` must list, identified in the root's store by flatc. */
export async function expectedZtocs(
  root: string,
  layers: BuiltLayer[],
  spanSize = SPAN,
): Promise<ExpectedZtoc[]> {
  const zs = await storedZtocs(root);
  const out: ExpectedZtoc[] = [];
  for (const l of layers) {
    const z = await ztocOf(zs, l, spanSize);
    out.push({ ztoc: z, layer: await describeFile(l.path, l.desc.mediaType), spanSize });
  }
  return out;
}

/** The expected v2 index of an image and the manifest that binds it. */
export async function expectedPlatform(root: string, img: BuiltImage, layers = img.layers) {
  const sociText = expectedV2Index(await expectedZtocs(root, layers));
  const soci = docDesc(OCI_MANIFEST, sociText);
  const manText = expectedRewritten(sourceDoc(img), soci.digest);
  const man = docDesc(OCI_MANIFEST, manText);
  return { sociText, soci, manText, man };
}

/** The entry of a v2 index in a SOCI-enabled image (F§8 step 5). */
export function sociEntry(soci: XDesc, manifestDigest: string, platform: XDesc["platform"]): XDesc {
  return {
    ...soci,
    annotations: { [MANIFEST_DIGEST]: manifestDigest },
    platform,
    artifactType: SOCI_V2,
  };
}

/** The entry of a rewritten manifest (F§8 step 4). */
export function manEntry(man: XDesc, platform: XDesc["platform"], sociDigest?: string): XDesc {
  return {
    ...man,
    ...(sociDigest ? { annotations: { [INDEX_DIGEST]: sociDigest } } : {}),
    platform,
  };
}

/** The expected SOCI-enabled image of `multi` for the platforms converted. */
export async function expectedMulti(
  IMG: E2eImages,
  root: string,
  converted: ("amd64" | "arm64")[],
) {
  const plain = (img: BuiltImage) => docDesc(OCI_MANIFEST, expectedRewritten(sourceDoc(img)));
  const none = {
    soci: plain(IMG.multi.unknown),
    man: plain(IMG.multi.unknown),
    sociText: "",
    manText: "",
  };
  const amd = converted.includes("amd64") ? await expectedPlatform(root, IMG.multi.amd64) : none;
  const arm = converted.includes("arm64") ? await expectedPlatform(root, IMG.multi.arm64) : none;
  const a = converted.includes("amd64") ? amd.man : plain(IMG.multi.amd64);
  const b = converted.includes("arm64") ? arm.man : plain(IMG.multi.arm64);
  const u = plain(IMG.multi.unknown);
  const entries: XDesc[] = [
    manEntry(a, AMD64, converted.includes("amd64") ? amd.soci.digest : undefined),
    manEntry(b, ARM64, converted.includes("arm64") ? arm.soci.digest : undefined),
    manEntry(u, UNKNOWN),
  ];
  if (converted.includes("amd64")) entries.push(sociEntry(amd.soci, amd.man.digest, AMD64));
  if (converted.includes("arm64")) entries.push(sociEntry(arm.soci, arm.man.digest, ARM64));
  const idxText = encIndex(entries);
  return { amd, arm, unknown: u, idxText, idx: docDesc(OCI_INDEX, idxText) };
}
