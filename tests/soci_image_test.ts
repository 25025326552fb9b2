// Unit tests of the SOCI-enabled image builder (F§8, C§11.2 item 7, the F§8 properties of
// C§11.3 item 8 and the idempotency of item 10). Inputs are hand-made documents; expected
// bytes are written out by hand (`helpers/convert_expect.ts`, from F§7.1), and Go's own
// encoding/json checks that every document is what the snapshotter re-encodes.
import assert from "node:assert/strict";
import { NotFoundError } from "../lib/errors.ts";
import { boundSociIndex, rewriteManifest, sociEnabledImage } from "../lib/soci/soci_image.ts";
import {
  docDesc,
  encDesc,
  encIndex,
  encManifest,
  INDEX_DIGEST,
  MANIFEST_DIGEST,
  OCI_CONFIG,
  OCI_INDEX,
  OCI_MANIFEST,
  SOCI_V2,
  type XDesc,
} from "./helpers/convert_expect.ts";
import { buildGoJsonOracle, runGoJsonOracle } from "./helpers/json_fuzz.ts";

const ENC = new TextEncoder();
const DEC = new TextDecoder();
const D = (c: string) => "sha256:" + c.repeat(64);
const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json";
const DOCKER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const OCI_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";
const AMD64 = { architecture: "amd64", os: "linux" };
const ARM64 = { architecture: "arm64", os: "linux", variant: "v8" };

/** A source manifest (Docker or OCI), with an extra member Go drops. */
function sourceManifest(n: string, docker: boolean, annotations?: Record<string, string>) {
  const doc = {
    schemaVersion: 2,
    mediaType: docker ? DOCKER_MANIFEST : OCI_MANIFEST,
    config: { mediaType: docker ? DOCKER_CONFIG : OCI_CONFIG, digest: D(n), size: 100 },
    layers: [{
      mediaType: docker ? DOCKER_GZIP : OCI_GZIP,
      digest: D(n === "1" ? "a" : "b"),
      size: 2000,
    }],
    ...(annotations ? { annotations } : {}),
    extra: "dropped",
  };
  const text = JSON.stringify(doc);
  return { doc, text, desc: docDesc(docker ? DOCKER_MANIFEST : OCI_MANIFEST, text) };
}

/** The rewritten form by hand (F§8 step 4). */
function rewritten(src: ReturnType<typeof sourceManifest>, sociDigest?: string): string {
  const annotations = { ...src.doc.annotations };
  if (sociDigest) annotations[INDEX_DIGEST] = sociDigest;
  return encManifest({
    mediaType: OCI_MANIFEST,
    config: { ...src.doc.config, mediaType: OCI_CONFIG },
    layers: src.doc.layers,
    annotations,
  });
}

Deno.test("sociEnabledImage: a single manifest becomes an OCI index of the rewritten manifest and its v2 index", () => {
  const src = sourceManifest("1", true, { "org.example.created": "today" });
  const soci = { digest: D("e"), size: 777 };
  const image = sociEnabledImage({
    target: { ...src.desc, annotations: { "org.opencontainers.image.ref.name": "v1" } },
    targetBytes: ENC.encode(src.text),
    platform: AMD64,
    manifests: new Map([[src.desc.digest, ENC.encode(src.text)]]),
    indexes: [{ manifestDigest: src.desc.digest, platform: AMD64, index: soci }],
  });
  const manText = rewritten(src, soci.digest);
  const man = docDesc(OCI_MANIFEST, manText);
  const idxText = encIndex([
    // The entry takes the manifest's own annotations (the layout tag is not one of them).
    {
      ...man,
      annotations: { "org.example.created": "today", [INDEX_DIGEST]: soci.digest },
      platform: AMD64,
    },
    {
      mediaType: OCI_MANIFEST,
      ...soci,
      annotations: { [MANIFEST_DIGEST]: man.digest },
      platform: AMD64,
      artifactType: SOCI_V2,
    },
  ]);
  assert.equal(DEC.decode(image.bytes), idxText);
  assert.deepEqual(image.descriptor, docDesc(OCI_INDEX, idxText));
  assert.equal(DEC.decode(image.manifests[0].bytes), manText);
  assert.equal(image.manifests[0].sociIndex, soci.digest);
  assert.deepEqual(
    [...image.documents.keys()].sort(),
    [man.digest, image.descriptor.digest].sort(),
  );
});

Deno.test("sociEnabledImage: an index (Docker list) → OCI index; every present manifest rewritten, entry annotations replaced, absent ones kept", () => {
  const a = sourceManifest("1", true);
  const b = sourceManifest("2", false, { "k": "v" });
  const absent = {
    mediaType: DOCKER_MANIFEST,
    digest: D("9"),
    size: 10,
    platform: { architecture: "s390x", os: "linux" },
  };
  const list = {
    schemaVersion: 2,
    mediaType: DOCKER_LIST,
    manifests: [
      { ...a.desc, platform: AMD64, annotations: { "entry": "dropped" } },
      { ...b.desc, platform: ARM64, artifactType: "application/x-kept" },
      absent,
    ],
    annotations: { "index": "kept" },
    unknown: true,
  };
  const listText = JSON.stringify(list);
  const soci = { digest: D("e"), size: 50 };
  const image = sociEnabledImage({
    target: docDesc(DOCKER_LIST, listText),
    targetBytes: ENC.encode(listText),
    manifests: new Map([[a.desc.digest, ENC.encode(a.text)], [b.desc.digest, ENC.encode(b.text)]]),
    indexes: [{ manifestDigest: a.desc.digest, platform: AMD64, index: soci }],
  });
  const aMan = docDesc(OCI_MANIFEST, rewritten(a, soci.digest));
  const bMan = docDesc(OCI_MANIFEST, rewritten(b));
  const expected = `{"schemaVersion":2,"mediaType":"${OCI_INDEX}","manifests":[` +
    [
      { ...aMan, annotations: { [INDEX_DIGEST]: soci.digest }, platform: AMD64 },
      { ...bMan, annotations: { k: "v" }, platform: ARM64, artifactType: "application/x-kept" },
      absent,
      {
        mediaType: OCI_MANIFEST,
        ...soci,
        annotations: { [MANIFEST_DIGEST]: aMan.digest },
        platform: AMD64,
        artifactType: SOCI_V2,
      },
    ].map((d) => encDesc(d as XDesc)).join(",") +
    `],"annotations":{"index":"kept"}}`;
  assert.equal(DEC.decode(image.bytes), expected);
  assert.equal(image.manifests.length, 2);

  // A built index for a manifest that is not present is an error.
  assert.throws(
    () =>
      sociEnabledImage({
        target: docDesc(DOCKER_LIST, listText),
        targetBytes: ENC.encode(listText),
        manifests: new Map(),
        indexes: [{ manifestDigest: absent.digest, platform: absent.platform, index: soci }],
      }),
    (e) =>
      e instanceof NotFoundError &&
      e.message === `manifest ${absent.digest} (linux/s390x): not found`,
  );
});

Deno.test("v2 index descriptors: appended with the platform, not duplicated, replaced in place for the same platform (C§11.2 item 7); idempotent (C§11.3 item 10)", () => {
  const a = sourceManifest("1", false);
  const b = sourceManifest("2", false);
  const listText = encIndex([{ ...a.desc, platform: AMD64 }, { ...b.desc, platform: ARM64 }]);
  const target = docDesc(OCI_INDEX, listText);
  const manifests = new Map([[a.desc.digest, ENC.encode(a.text)], [
    b.desc.digest,
    ENC.encode(b.text),
  ]]);
  const s1 = { digest: D("e"), size: 50 };
  const s2 = { digest: D("f"), size: 60 };
  const first = sociEnabledImage({
    target,
    targetBytes: ENC.encode(listText),
    manifests,
    indexes: [
      { manifestDigest: a.desc.digest, platform: AMD64, index: s1 },
      { manifestDigest: b.desc.digest, platform: ARM64, index: s2 },
    ],
  });
  const m = first.index.manifests;
  assert.equal(m.length, 4);
  assert.deepEqual(m.slice(2).map((d) => [d.digest, d.platform, d.artifactType]), [
    [s1.digest, AMD64, SOCI_V2],
    [s2.digest, ARM64, SOCI_V2],
  ]);
  // Properties of C§11.3 item 8, on the result.
  for (const d of first.indexes) {
    const man = m.find((x) => x.digest === d.annotations![MANIFEST_DIGEST])!;
    assert.equal(man.annotations![INDEX_DIGEST], d.digest);
    assert.deepEqual(man.platform, d.platform);
    assert.equal(man.mediaType, OCI_MANIFEST);
    assert.equal(man.artifactType, undefined);
  }

  // Converting the converted image again with the same indexes: the same bytes (the
  // rewritten manifests are fixed points, the v2 entries are replaced in place).
  const rewrittenManifests = new Map(first.manifests.map((r) => [r.descriptor.digest, r.bytes]));
  const again = sociEnabledImage({
    target: first.descriptor,
    targetBytes: first.bytes,
    manifests: rewrittenManifests,
    indexes: [
      { manifestDigest: m[0].digest, platform: AMD64, index: s1 },
      { manifestDigest: m[1].digest, platform: ARM64, index: s2 },
    ],
  });
  assert.deepEqual(again.bytes, first.bytes);

  // A different index for one platform (given as x86_64: matched normalized) replaces its
  // entry in place; the other platform's entry is kept as it was.
  const s3 = { digest: D("3"), size: 70 };
  const third = sociEnabledImage({
    target: first.descriptor,
    targetBytes: first.bytes,
    manifests: rewrittenManifests,
    indexes: [{
      manifestDigest: m[0].digest,
      platform: { architecture: "x86_64", os: "linux" },
      index: s3,
    }],
  });
  const t = third.index.manifests;
  assert.equal(t.length, 4);
  assert.equal(t[2].digest, s3.digest);
  assert.deepEqual(t[3], m[3]);
  assert.equal(t[0].annotations![INDEX_DIGEST], s3.digest);
  // The arm64 manifest still names its index; the entry pointing at it is unchanged.
  assert.equal(t[1].annotations![INDEX_DIGEST], s2.digest);
  assert.equal(boundSociIndex(third.index, third.manifests[1].manifest)?.digest, s2.digest);
  assert.equal(boundSociIndex(third.index, third.manifests[0].manifest)?.digest, s3.digest);
});

Deno.test("boundSociIndex: the manifest annotation must name a v2 entry of the same index", () => {
  const soci = { mediaType: OCI_MANIFEST, digest: D("e"), size: 5, artifactType: SOCI_V2 };
  const manifest = {
    schemaVersion: 2,
    config: soci,
    layers: [],
    annotations: { [INDEX_DIGEST]: soci.digest },
  };
  assert.equal(boundSociIndex({ schemaVersion: 2, manifests: [soci] }, manifest), soci);
  assert.equal(
    boundSociIndex(
      { schemaVersion: 2, manifests: [{ ...soci, artifactType: undefined }] },
      manifest,
    ),
    undefined,
  );
  assert.equal(boundSociIndex({ schemaVersion: 2, manifests: [] }, manifest), undefined);
  assert.equal(
    boundSociIndex({ schemaVersion: 2, manifests: [soci] }, {
      ...manifest,
      annotations: undefined,
    }),
    undefined,
  );
});

Deno.test("every document of the SOCI-enabled image is what Go's encoding/json writes back (the snapshotter's round trip)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "soci-go-oracle-" });
  try {
    const bin = await buildGoJsonOracle(dir);
    const a = sourceManifest("1", true, { "z<&>": '\u2028 é "q"' });
    const listText = JSON.stringify({
      schemaVersion: 2,
      mediaType: DOCKER_LIST,
      manifests: [{
        ...a.desc,
        platform: { ...AMD64, "os.features": ["f"], "os.version": "1" },
        urls: ["http://x/<y>"],
      }],
    });
    const image = sociEnabledImage({
      target: docDesc(DOCKER_LIST, listText),
      targetBytes: ENC.encode(listText),
      manifests: new Map([[a.desc.digest, ENC.encode(a.text)]]),
      indexes: [{
        manifestDigest: a.desc.digest,
        platform: AMD64,
        index: { digest: D("e"), size: 5 },
      }],
    });
    const [idx] = await runGoJsonOracle(bin, "index", [image.bytes]);
    assert.ok(idx.ok);
    assert.equal(DEC.decode(idx.out), DEC.decode(image.bytes));
    const [man] = await runGoJsonOracle(bin, "manifest", [image.manifests[0].bytes]);
    assert.ok(man.ok);
    assert.equal(DEC.decode(man.out), DEC.decode(image.manifests[0].bytes));
    // The rewritten manifest of the Docker source, by Go: decode the source, set the media
    // types and the annotation, marshal — the oracle does the decode + marshal part.
    const [src] = await runGoJsonOracle(bin, "manifest", [ENC.encode(a.text)]);
    assert.ok(src.ok);
    const viaGo = JSON.parse(DEC.decode(src.out));
    assert.equal(viaGo.extra, undefined);
    assert.deepEqual(rewriteManifest(ENC.encode(a.text), D("e")).layers, viaGo.layers);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
