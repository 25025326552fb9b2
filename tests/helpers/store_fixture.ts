/**
 * A local store populated the way `soci create` would leave it, for the
 * rebuild-db tests. Documents are built with `JSON.stringify` (independent
 * of the library's encoders); expected DB rows are written out by hand
 * from `soci-format.md` §9 and `soci-cli.md` §7.
 *
 * Contents:
 * * image index `I` tagged `multi`, listing `M1` (linux/amd64) and `M2`
 *   (linux/arm64 variant v8, normalized to `linux/arm64`);
 * * image manifest `M3` tagged `single`, config arch `x86_64` (→ amd64);
 * * SOCI v1 indexes `S1` (subject M1; zTOCs Z1 for L1, Z2 for L2 with span
 *   1 MiB), `S2` (subject M2; Z3 for L3), `S3` (subject M3; Z1 again, shared),
 *   `S4` (subject M5, which is not in the store; Z5 for L5);
 * * configs, the `{}` blob; layers are never stored.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { ArtifactRecord } from "../../lib/store/artifacts_db.ts";
import type { LocalStore } from "../../lib/store/local_store.ts";

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
export const SOCI_V1 = "application/vnd.amazon.soci.index.v1+json";
export const SOCI_V2 = "application/vnd.amazon.soci.index.v2+json";
export const GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";
export const EMPTY_DIGEST =
  "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

const enc = new TextEncoder();

/** A blob with its digest and size. */
export interface Blob {
  bytes: Uint8Array;
  digest: string;
  size: number;
}

/** Makes a blob from text or bytes. */
export function blob(content: string | Uint8Array): Blob {
  const bytes = typeof content === "string" ? enc.encode(content) : content;
  const digest = "sha256:" + createHash("sha256").update(bytes).digest("hex");
  return { bytes, digest, size: bytes.length };
}

/** A fake layer digest (layers are never stored). */
export function layerDigest(n: number): string {
  return "sha256:" + n.toString(16).padStart(2, "0").repeat(32);
}

/** zTOC-like bytes (binary, first byte not `{`). */
export function ztocBytes(n: number): Blob {
  const b = new Uint8Array(40);
  for (let i = 0; i < b.length; i++) b[i] = (i * 7 + n * 13) & 0xff;
  b[0] = 0x1c;
  return blob(b);
}

/** The zTOC descriptor of a SOCI index `layers` entry. */
export function ztocDesc(z: Blob, layer: string, spanSize: string | undefined) {
  const annotations: Record<string, string> = {
    "com.amazon.soci.image-layer-digest": layer,
    "com.amazon.soci.image-layer-mediaType": GZIP_LAYER,
  };
  if (spanSize !== undefined) annotations["com.amazon.soci.span-size"] = spanSize;
  return { mediaType: "application/octet-stream", digest: z.digest, size: z.size, annotations };
}

/** A SOCI index document (v1 with a subject, or v2 without). */
export function sociIndex(
  layers: unknown[],
  subject?: Blob,
  artifactType: string = SOCI_V1,
): Blob {
  const doc: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: artifactType, digest: EMPTY_DIGEST, size: 2 },
    layers,
  };
  if (subject) {
    doc.subject = { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.size };
  }
  doc.annotations = { "com.amazon.soci.build-tool-identifier": "AWS SOCI CLI v0.2" };
  return blob(JSON.stringify(doc));
}

function config(arch: string, variant?: string): Blob {
  const c: Record<string, unknown> = { architecture: arch, os: "linux" };
  if (variant) c.variant = variant;
  c.rootfs = { type: "layers", diff_ids: [] };
  return blob(JSON.stringify(c));
}

function manifest(cfg: Blob, layers: string[]): Blob {
  return blob(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: cfg.digest, size: cfg.size },
    layers: layers.map((l) => ({ mediaType: GZIP_LAYER, digest: l, size: 20_000_000 })),
  }));
}

/** Rows of the fixture as `create` writes them (created times set later). */
export function indexRow(
  s: Blob,
  manifestDigest: string,
  imageDigest: string,
  platform: string,
): ArtifactRecord {
  return {
    digest: s.digest,
    size: s.size,
    location: manifestDigest,
    originalDigest: manifestDigest,
    imageDigest,
    platform,
    type: "soci_index",
    mediaType: OCI_MANIFEST,
    artifactType: SOCI_V1,
    spanSize: 0,
    createdAt: new Date(1_700_000_000_000),
  };
}

/** A `soci_layer` row. */
export function ztocRow(z: Blob, layer: string, spanSize: number): ArtifactRecord {
  return {
    digest: z.digest,
    size: z.size,
    location: layer,
    originalDigest: layer,
    imageDigest: "",
    platform: "",
    type: "soci_layer",
    mediaType: "application/octet-stream",
    artifactType: "",
    spanSize,
    createdAt: new Date(1_700_000_000_000),
  };
}

/** Everything the fixture stored, and the rows `rebuild-db` must produce. */
export interface Fixture {
  blobs: Record<string, Blob>;
  /** Expected rows, digest order, created times to be ignored. */
  rows: ArtifactRecord[];
}

/** Populates `store` (and its DB) like `soci create` runs on the images above would. */
export async function buildFixture(store: LocalStore): Promise<Fixture> {
  const [L1, L2, L3, L4, L5] = [1, 2, 3, 4, 5].map(layerDigest);
  void L4;
  const C1 = config("amd64");
  const C2 = config("arm64", "v8");
  const C3 = config("x86_64");
  const M1 = manifest(C1, [L1, L2]);
  const M2 = manifest(C2, [L3]);
  const M3 = manifest(C3, [L1]);
  const M5 = manifest(C1, [L5]); // not stored
  const I = blob(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [
      {
        mediaType: OCI_MANIFEST,
        digest: M1.digest,
        size: M1.size,
        platform: { architecture: "amd64", os: "linux" },
      },
      {
        mediaType: OCI_MANIFEST,
        digest: M2.digest,
        size: M2.size,
        platform: { architecture: "arm64", os: "linux", variant: "v8" },
      },
    ],
  }));
  const [Z1, Z2, Z3, Z5] = [1, 2, 3, 5].map(ztocBytes);
  const S1 = sociIndex([ztocDesc(Z1, L1, "4194304"), ztocDesc(Z2, L2, "1048576")], M1);
  const S2 = sociIndex([ztocDesc(Z3, L3, "4194304")], M2);
  const S3 = sociIndex([ztocDesc(Z1, L1, "4194304")], M3);
  const S4 = sociIndex([ztocDesc(Z5, L5, "4194304")], M5);
  const E = blob("{}");

  const rows: ArtifactRecord[] = [
    indexRow(S1, M1.digest, I.digest, "linux/amd64"),
    indexRow(S2, M2.digest, I.digest, "linux/arm64"),
    indexRow(S3, M3.digest, M3.digest, "linux/amd64"),
    indexRow(S4, M5.digest, M5.digest, ""),
    ztocRow(Z1, L1, 4194304),
    ztocRow(Z2, L2, 1048576),
    ztocRow(Z3, L3, 4194304),
    ztocRow(Z5, L5, 4194304),
  ].sort((a, b) => a.digest < b.digest ? -1 : 1);

  const tx = store.begin();
  for (const b of [C1, C2, C3, M1, M2, M3, I, Z1, Z2, Z3, Z5, S1, S2, S3, S4, E]) {
    await tx.putBlob(b.bytes, { digest: b.digest, size: b.size });
  }
  for (const s of [S1, S2, S3, S4]) {
    tx.addIndex({
      mediaType: OCI_MANIFEST,
      digest: s.digest,
      size: s.size,
      artifactType: SOCI_V1,
    });
  }
  tx.tagImage("multi", { mediaType: OCI_INDEX, digest: I.digest, size: I.size });
  tx.tagImage("single", { mediaType: OCI_MANIFEST, digest: M3.digest, size: M3.size });
  for (const r of rows) tx.putRecord(r);
  await tx.commit();
  return { blobs: { C1, C2, C3, M1, M2, M3, M5, I, Z1, Z2, Z3, Z5, S1, S2, S3, S4, E }, rows };
}

/** A row without its creation time, for comparisons. */
export function withoutTime(r: ArtifactRecord): Omit<ArtifactRecord, "createdAt"> {
  const { createdAt: _, ...rest } = r;
  return rest;
}
