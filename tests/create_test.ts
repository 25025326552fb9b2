// End-to-end tests of `soci create` (C§4, F§7, C§11.2, C§11.3 items 1–5, 28): the real CLI
// run as a process over OCI layouts built from scratch in temp dirs
// (`helpers/create_e2e_images.ts`), copies made by skopeo, and `oci-archive:` files.
// Expected values come from sha256sum, stat, flatc (zTOC decoding), Python's tarfile,
// json and sqlite3, and index documents written out by hand from F§7.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type BuiltImage,
  type BuiltLayer,
  dbRows,
  describeFile,
  e2eImages,
  EMPTY_CONFIG,
  expectedIndexJson,
  hostPlatform,
  layerFromLayout,
  lines,
  MT,
  parseJson,
  python,
  sha256sum,
  sha256sumOf,
  soci,
  sociOk,
  storeBlob,
  storedZtocs,
  taggedManifest,
  tool,
  toolOk,
  treeListing,
  withRoot,
  ztocOf,
} from "./helpers/create_e2e_images.ts";
import { parseZinfoBlob } from "./helpers/ztoc_e2e_tools.ts";

const IMG = await e2eImages();
const L = IMG.layout;
const SPAN = 4194304;
const HOST = hostPlatform();
const DEC = new TextDecoder();

/** The index lines `create` prints: digest and platform of each index, in order. */
function indexLines(stdout: string): Array<{ digest: string; platform: string; n: number }> {
  const out = [];
  for (const l of lines(stdout)) {
    const m = /^soci index (sha256:[0-9a-f]{64}) for (\S+) \((\d+) ztocs?\)$/.exec(l);
    if (m) out.push({ digest: m[1], platform: m[2], n: Number(m[3]) });
  }
  return out;
}

/** The layer descriptor as the test computes it: sha256sum and stat of the blob file. */
function fileDesc(l: BuiltLayer) {
  return describeFile(l.path, l.desc.mediaType);
}

/** The manifest descriptor of a test image by sha256sum and stat. */
function manifestDesc(img: BuiltImage) {
  return describeFile(
    join(L, "blobs", "sha256", img.manifest.digest.slice(7)),
    img.manifest.mediaType,
  );
}

/** The stored bytes of a blob of the local store, as text. */
async function storedText(root: string, digest: string): Promise<string> {
  return DEC.decode(await Deno.readFile(storeBlob(root, digest)));
}

/** State of a root that must not change: the tree (DB files aside) and the DB rows. */
async function rootState(root: string) {
  return {
    tree: await treeListing(root, /^artifacts\.sqlite/),
    rows: await dbRows(root),
  };
}

Deno.test("create: multi-layer image (small gzip, large gzip, tar) → index byte-identical to the hand-written document", async () => {
  await withRoot(async (root) => {
    const r = await soci(root, ["create", "--min-layer-size", "0", `oci:${L}:app`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "image stored as app (use this name with push, index list --ref)\n");
    // C§1.3 / C§11.2 item 10: the missing root is created with mode 0700.
    assert.equal((await Deno.stat(root)).mode! & 0o777, 0o700);

    const [l0, l1, l2] = await Promise.all(IMG.app.layers.map(fileDesc));
    const m = await manifestDesc(IMG.app);
    assert.deepEqual([l0.size < 1000, l1.size > 1_000_000, l2.mediaType], [true, true, MT.ociTar]);
    const zs = await storedZtocs(root);
    assert.equal(zs.length, 3);
    const [z0, z1, z2] = await Promise.all(IMG.app.layers.map((l) => ztocOf(zs, l, SPAN)));
    assert.deepEqual(
      [z0, z1, z2].map((z) => z.ztoc.compression_info.compression_algorithm),
      ["Gzip", "Gzip", "Uncompressed"],
    );
    for (const z of [z0, z1, z2]) {
      assert.equal(z.ztoc.version, "0.9");
      assert.equal(z.ztoc.build_tool_identifier, "AWS SOCI CLI v0.2");
    }

    // F§7.8, written out by hand: compact, struct order, sorted annotation keys.
    const expected =
      `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
      `"config":{"mediaType":"application/vnd.amazon.soci.index.v1+json","digest":` +
      `"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},` +
      `"layers":[` +
      `{"mediaType":"application/octet-stream","digest":"${z0.digest}","size":${z0.size},` +
      `"annotations":{"com.amazon.soci.image-layer-digest":"${l0.digest}",` +
      `"com.amazon.soci.image-layer-mediaType":"application/vnd.oci.image.layer.v1.tar+gzip",` +
      `"com.amazon.soci.span-size":"4194304"}},` +
      `{"mediaType":"application/octet-stream","digest":"${z1.digest}","size":${z1.size},` +
      `"annotations":{"com.amazon.soci.image-layer-digest":"${l1.digest}",` +
      `"com.amazon.soci.image-layer-mediaType":"application/vnd.oci.image.layer.v1.tar+gzip",` +
      `"com.amazon.soci.span-size":"4194304"}},` +
      `{"mediaType":"application/octet-stream","digest":"${z2.digest}","size":${z2.size},` +
      `"annotations":{"com.amazon.soci.image-layer-digest":"${l2.digest}",` +
      `"com.amazon.soci.image-layer-mediaType":"application/vnd.oci.image.layer.v1.tar",` +
      `"com.amazon.soci.span-size":"4194304"}}],` +
      `"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
      `"digest":"${m.digest}","size":${m.size}},` +
      `"annotations":{"com.amazon.soci.build-tool-identifier":"AWS SOCI CLI v0.2"}}`;
    const idx = await sha256sumOf(expected);
    assert.equal(await storedText(root, idx), expected);

    assert.equal(
      r.stdout,
      `layer ${l0.digest} -> ztoc ${z0.digest}\n` +
        `layer ${l1.digest} -> ztoc ${z1.digest}\n` +
        `layer ${l2.digest} -> ztoc ${z2.digest}\n` +
        `soci index ${idx} for ${HOST} (3 ztocs)\n`,
    );

    // F§10.2: index.json lists the index {mediaType, digest, size, artifactType} and the image tag.
    const indexJson = JSON.parse(await Deno.readTextFile(join(root, "content", "index.json")));
    assert.equal(indexJson.schemaVersion, 2);
    assert.equal(indexJson.mediaType, MT.ociIndex);
    const sociEntries = indexJson.manifests.filter((d: { artifactType?: string }) =>
      d.artifactType
    );
    assert.deepEqual(sociEntries, [{
      mediaType: MT.ociManifest,
      digest: idx,
      size: expected.length,
      artifactType: MT.sociV1,
    }]);
    const tags = indexJson.manifests.filter((d: { annotations?: Record<string, string> }) =>
      d.annotations?.["org.opencontainers.image.ref.name"] === "app"
    );
    assert.equal(tags.length, 1);
    assert.deepEqual([tags[0].mediaType, tags[0].digest, tags[0].size], [
      m.mediaType,
      m.digest,
      m.size,
    ]);
    assert.equal(
      await Deno.readTextFile(join(root, "content", "oci-layout")),
      '{"imageLayoutVersion":"1.0.0"}',
    );

    // The {} config, the image manifest and config are stored; layers are not.
    assert.equal(await storedText(root, EMPTY_CONFIG.digest), "{}");
    assert.equal(await sha256sum(storeBlob(root, EMPTY_CONFIG.digest)), EMPTY_CONFIG.digest);
    assert.deepEqual(
      await Deno.readFile(storeBlob(root, m.digest)),
      await Deno.readFile(IMG.blobPath(m.digest)),
    );
    assert.deepEqual(
      await Deno.readFile(storeBlob(root, IMG.app.config.digest)),
      await Deno.readFile(IMG.blobPath(IMG.app.config.digest)),
    );
    for (const l of [l0, l1, l2]) {
      await assert.rejects(Deno.stat(storeBlob(root, l.digest)), Deno.errors.NotFound);
    }
    // C§11.3 item 5: every blob of the index is stored with the digest and size it is listed with.
    const doc = JSON.parse(expected);
    for (const d of [doc.config, ...doc.layers]) {
      assert.equal(await sha256sum(storeBlob(root, d.digest)), d.digest);
      assert.equal((await Deno.stat(storeBlob(root, d.digest))).size, d.size);
    }

    // F§9: the DB rows, read with Python's sqlite3.
    const rows = (await dbRows(root)).map(({ created_at_us: _, ...rest }) => rest);
    const ztocRow = (z: { digest: string; size: number }, l: { digest: string }) => ({
      digest: z.digest,
      size: z.size,
      location: l.digest,
      original_digest: l.digest,
      image_digest: "",
      platform: "",
      type: "soci_layer",
      media_type: "application/octet-stream",
      artifact_type: "",
      span_size: SPAN,
    });
    const expectedRows = [
      {
        digest: idx,
        size: expected.length,
        location: m.digest,
        original_digest: m.digest,
        image_digest: m.digest,
        platform: HOST,
        type: "soci_index",
        media_type: MT.ociManifest,
        artifact_type: MT.sociV1,
        span_size: 0,
      },
      ztocRow(z0, l0),
      ztocRow(z1, l1),
      ztocRow(z2, l2),
    ].sort((a, b) => (a.digest < b.digest ? -1 : 1));
    assert.deepEqual(rows, expectedRows);
  });
});

Deno.test("create: F§7.3 rules 1 and 4 — prefetch descriptor ignored, zstd and unknown suffix skipped with upstream's lines", async () => {
  await withRoot(async (root) => {
    const r = await sociOk(root, ["create", "--min-layer-size", "0", `oci:${L}:odd`]);
    const [gz, zstd, foo] = IMG.odd.layers;
    const zs = await storedZtocs(root);
    assert.equal(zs.length, 1);
    const z = await ztocOf(zs, gz, SPAN);
    const expected = expectedIndexJson(await manifestDesc(IMG.odd), [
      { ztoc: z, layer: await fileDesc(gz), spanSize: SPAN },
    ]);
    const idx = await sha256sumOf(expected);
    assert.equal(await storedText(root, idx), expected);
    assert.equal(
      r.stdout,
      `layer ${gz.desc.digest} -> ztoc ${z.digest}\n` +
        `ztoc skipped - layer ${zstd.desc.digest} (application/vnd.oci.image.layer.v1.tar+zstd) ` +
        `is compressed in an unsupported format. expect: [tar, gzip, unknown] but got "zstd"\n` +
        `ztoc skipped - layer ${foo.desc.digest} (application/vnd.oci.image.layer.v1.tar+foo) ` +
        `is compressed in an unsupported format. expect: [tar, gzip, unknown] but got ""\n` +
        `soci index ${idx} for ${HOST} (1 ztoc)\n`,
    );
  });
});

Deno.test("create: Docker media types — hand-built schema 2 image (gzip and plain tar layers)", async () => {
  await withRoot(async (root) => {
    const r = await sociOk(root, ["create", "--min-layer-size", "0", `oci:${L}:docker`]);
    const [gz, tar] = IMG.docker.layers;
    const zs = await storedZtocs(root);
    const zg = await ztocOf(zs, gz, SPAN);
    const zt = await ztocOf(zs, tar, SPAN);
    // `…diff.tar` is compression "unknown", indexed as an uncompressed tar (F§7.3 rule 4).
    assert.equal(zg.ztoc.compression_info.compression_algorithm, "Gzip");
    assert.equal(zt.ztoc.compression_info.compression_algorithm, "Uncompressed");
    const subject = await manifestDesc(IMG.docker);
    assert.equal(subject.mediaType, "application/vnd.docker.distribution.manifest.v2+json");
    const expected = expectedIndexJson(subject, [
      { ztoc: zg, layer: await fileDesc(gz), spanSize: SPAN },
      { ztoc: zt, layer: await fileDesc(tar), spanSize: SPAN },
    ]);
    assert.ok(expected.includes(`"com.amazon.soci.image-layer-mediaType":"${MT.dockerGzip}"`));
    assert.ok(expected.includes(`"com.amazon.soci.image-layer-mediaType":"${MT.dockerTar}"`));
    const idx = await sha256sumOf(expected);
    assert.equal(await storedText(root, idx), expected);
    assert.deepEqual(indexLines(r.stdout), [{ digest: idx, platform: HOST, n: 2 }]);
  });
});

Deno.test("create: a real Docker-typed copy (skopeo copy --format v2s2) is indexed with its own media types", async () => {
  await withRoot(async (root, scratch) => {
    const copy = join(scratch, "v2s2");
    await toolOk("skopeo", ["copy", "-q", "--format", "v2s2", `oci:${L}:app`, `oci:${copy}:app`]);
    const { desc, doc } = await taggedManifest(copy, "app");
    assert.equal(desc.mediaType, "application/vnd.docker.distribution.manifest.v2+json");
    const r = await sociOk(root, ["create", "--min-layer-size", "0", `oci:${copy}:app`]);
    const layers = await Promise.all(doc.layers.map((d) => layerFromLayout(copy, d)));
    for (const l of layers) {
      assert.match(l.desc.mediaType, /^application\/vnd\.docker\.image\.rootfs\./);
    }
    const zs = await storedZtocs(root);
    const expected = expectedIndexJson(
      await describeFile(join(copy, "blobs", "sha256", desc.digest.slice(7)), desc.mediaType),
      await Promise.all(layers.map(async (l) => ({
        ztoc: await ztocOf(zs, l, SPAN),
        layer: await describeFile(l.path, l.desc.mediaType),
        spanSize: SPAN,
      }))),
    );
    const idx = await sha256sumOf(expected);
    assert.equal(await storedText(root, idx), expected);
    assert.deepEqual(indexLines(r.stdout), [{ digest: idx, platform: HOST, n: layers.length }]);
  });
});

Deno.test("create: multi-platform index — --all-platforms, --platform (repeated, comma list), default host, missing platforms", async (t) => {
  const amdM = await manifestDesc(IMG.multi.amd64);
  const armM = await manifestDesc(IMG.multi.arm64);
  const target = await describeFile(IMG.blobPath(IMG.multi.index.digest), MT.ociIndex);
  const ref = `oci:${L}:multi`;
  const base = ["create", "--min-layer-size", "0"];

  await withRoot(async (root) => {
    let amdIdx = "", armIdx = "";
    await t.step(
      "--all-platforms: one index per listed platform, unknown/unknown ignored",
      async () => {
        const r = await sociOk(root, [...base, "--all-platforms", ref]);
        const zs = await storedZtocs(root);
        const [shared, onlyAmd] = IMG.multi.amd64.layers;
        const onlyArm = IMG.multi.arm64.layers[1];
        const zShared = await ztocOf(zs, shared, SPAN);
        const amdDoc = expectedIndexJson(amdM, [
          { ztoc: zShared, layer: await fileDesc(shared), spanSize: SPAN },
          { ztoc: await ztocOf(zs, onlyAmd, SPAN), layer: await fileDesc(onlyAmd), spanSize: SPAN },
        ]);
        const armDoc = expectedIndexJson(armM, [
          { ztoc: zShared, layer: await fileDesc(shared), spanSize: SPAN },
          { ztoc: await ztocOf(zs, onlyArm, SPAN), layer: await fileDesc(onlyArm), spanSize: SPAN },
        ]);
        amdIdx = await sha256sumOf(amdDoc);
        armIdx = await sha256sumOf(armDoc);
        assert.equal(await storedText(root, amdIdx), amdDoc);
        assert.equal(await storedText(root, armIdx), armDoc);
        assert.deepEqual(indexLines(r.stdout), [
          { digest: amdIdx, platform: "linux/amd64", n: 2 },
          { digest: armIdx, platform: "linux/arm64/v8", n: 2 },
        ]);
        // The subject is the child's mediaType/digest/size only (no platform) (F§7.6).
        assert.ok(!amdDoc.includes('"platform"'));
        const rows = (await dbRows(root)).filter((row) => row.type === "soci_index");
        assert.deepEqual(
          rows.map((row) => [row.digest, row.platform, row.original_digest, row.image_digest])
            .sort(),
          [
            [amdIdx, "linux/amd64", amdM.digest, target.digest],
            [armIdx, "linux/arm64/v8", armM.digest, target.digest],
          ].sort(),
        );
      },
    );

    await t.step(
      "--platform linux/arm64 matches the arm64/v8 child; DB keeps the given string",
      async () => {
        const r = await sociOk(root, [...base, "--platform", "linux/arm64", ref]);
        assert.deepEqual(indexLines(r.stdout), [{ digest: armIdx, platform: "linux/arm64", n: 2 }]);
        const row = (await dbRows(root)).find((x) => x.digest === armIdx)!;
        assert.equal(row.platform, "linux/arm64");
      },
    );

    await t.step("repeated --platform and a comma list give both, in the order given", async () => {
      for (
        const flags of [["-p", "linux/arm64", "-p", "linux/amd64"], [
          "--platform",
          "linux/arm64,linux/amd64",
        ]]
      ) {
        const r = await sociOk(root, [...base, ...flags, ref]);
        assert.deepEqual(indexLines(r.stdout).map((x) => x.digest), [armIdx, amdIdx]);
      }
    });

    await t.step(
      "duplicate platforms, also denormalized ones, give one index (C§11.2 item 11)",
      async () => {
        const r = await sociOk(root, [
          ...base,
          "-p",
          "linux/amd64",
          "-p",
          "linux/x86_64",
          "-p",
          "linux/amd64",
          ref,
        ]);
        assert.deepEqual(indexLines(r.stdout).map((x) => x.digest), [amdIdx]);
      },
    );

    await t.step("default: the host platform", async () => {
      const r = await soci(root, [...base, ref]);
      const want = HOST === "linux/amd64"
        ? amdIdx
        : HOST.startsWith("linux/arm64")
        ? armIdx
        : undefined;
      if (want === undefined) {
        assert.equal(r.code, 1); // no child for this host
      } else {
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(indexLines(r.stdout), [{ digest: want, platform: HOST, n: 2 }]);
      }
    });

    await t.step(
      "a platform the image lacks is skipped with a message when another was found",
      async () => {
        const r = await sociOk(root, [...base, "-p", "linux/s390x", "-p", "linux/amd64", ref]);
        assert.deepEqual(indexLines(r.stdout), [{ digest: amdIdx, platform: "linux/amd64", n: 2 }]);
        const err = lines(r.stderr);
        assert.equal(err.length, 2, r.stderr);
        assert.match(err[0], /linux\/s390x/);
        assert.match(err[0], /not found/);
        assert.match(err[1], /^image stored as multi /);
        const j = await sociOk(root, [...base, "--json", "-p", "linux/s390x,linux/amd64", ref]);
        assert.deepEqual(parseJson<{ skippedPlatforms: string[] }>(j.stdout).skippedPlatforms, [
          "linux/s390x",
        ]);
      },
    );

    await t.step("--all-platforms wins over --platform", async () => {
      const r = await sociOk(root, [...base, "--all-platforms", "-p", "linux/s390x", ref]);
      assert.deepEqual(indexLines(r.stdout).map((x) => x.digest), [amdIdx, armIdx]);
    });

    await t.step("only missing platforms: an error, nothing written", async () => {
      const before = await rootState(root);
      const r = await soci(root, [...base, "--platform", "linux/s390x", ref]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, "soci: image manifest for linux/s390x: not found\n");
      assert.deepEqual(await rootState(root), before);
    });
  });

  await t.step("a single-manifest image is indexed for its own platform only", async () => {
    await withRoot(async (root) => {
      // Upstream (F§7.6) would index this amd64 image for any platform asked for and record
      // that platform; we refuse to label it arm64.
      const before = await rootState(root);
      const r = await soci(root, [...base, "--platform", "linux/arm64", `oci:${L}:app`]);
      assert.equal(r.code, 1);
      assert.equal(
        r.stderr,
        "soci: image manifest for linux/arm64: not found (the image is linux/amd64)\n",
      );
      assert.deepEqual(await rootState(root), before);
      // By default (whatever the host), and when asked for, its own platform.
      for (const extra of [[], ["--platform", "linux/amd64"]]) {
        const ok = await sociOk(root, [...base, ...extra, `oci:${L}:app`]);
        const [{ digest, platform }] = indexLines(ok.stdout);
        assert.equal(platform, "linux/amd64");
        const doc = JSON.parse(await storedText(root, digest));
        assert.equal(doc.subject.digest, (await manifestDesc(IMG.app)).digest);
        const row = (await dbRows(root)).find((x) => x.digest === digest)!;
        assert.equal(row.platform, "linux/amd64");
      }
    });
  });
});

Deno.test("create: oci-archive:FILE[:TAG] works and gives the same index and blobs as oci:DIR (determinism)", async () => {
  await withRoot(async (_root, scratch) => {
    const dir = join(scratch, "copy");
    const archive = join(scratch, "app.tar");
    await toolOk("skopeo", ["copy", "-q", `oci:${L}:app`, `oci:${dir}:app`]);
    await toolOk("skopeo", ["copy", "-q", `oci:${L}:app`, `oci-archive:${archive}:app`]);
    const roots = ["r1", "r2", "r3", "r4"].map((n) => join(scratch, n));
    const refs = [
      `oci:${dir}:app`,
      `oci-archive:${archive}:app`,
      `oci-archive:${archive}`,
      `oci:${dir}:app`,
    ];
    const digests: string[] = [];
    for (let i = 0; i < roots.length; i++) {
      const r = await sociOk(roots[i], ["create", "--min-layer-size", "0", "-q", refs[i]]);
      digests.push(r.stdout.trim());
    }
    assert.match(digests[0], /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(digests, [digests[0], digests[0], digests[0], digests[0]]);
    // C§11.3 item 28: the blob files are byte-identical across builds and sources.
    const blobs = await Promise.all(roots.map((r) => treeListing(join(r, "content", "blobs"))));
    for (const b of blobs.slice(1)) assert.deepEqual(b, blobs[0]);
    // The subject is skopeo's manifest (read from the archive with Python's tarfile).
    const { desc } = await taggedManifest(dir, "app");
    const fromArchive = await python(
      String.raw`
import json, sys, tarfile
with tarfile.open(sys.argv[1]) as tf:
    idx = json.load(tf.extractfile("index.json"))
print(json.dumps(idx["manifests"][0]["digest"]))
`,
      archive,
    );
    assert.equal(fromArchive, desc.digest);
    assert.equal(JSON.parse(await storedText(roots[1], digests[0])).subject.digest, desc.digest);
  });
});

Deno.test("create: a bare store name works after a create (reuses every zTOC); index list --ref finds it", async () => {
  await withRoot(async (root) => {
    const first = await sociOk(root, ["create", "--min-layer-size", "0", `oci:${L}:app`]);
    const [idx] = indexLines(first.stdout);
    const again = await sociOk(root, ["create", "--min-layer-size", "0", "app"]);
    assert.deepEqual(indexLines(again.stdout), [idx]);
    const reused = lines(again.stdout).filter((l) => l.endsWith(" (already exists)"));
    assert.equal(reused.length, 3);
    const listed = await sociOk(root, ["index", "list", "-q", "--ref", "app"]);
    assert.equal(listed.stdout, `${idx.digest}\n`);
  });
});

Deno.test("create: zTOC reuse — 'already exists' once per layer on the second run, --force rebuilds, span size matters (C§11.3 item 1)", async () => {
  await withRoot(async (root) => {
    const args = ["create", "--min-layer-size", "0", `oci:${L}:app`];
    const layerDigests = IMG.app.layers.map((l) => l.desc.digest);
    const pairs = (stdout: string) =>
      lines(stdout).filter((l) => l.startsWith("layer ")).map((l) => {
        const m = /^layer (\S+) -> ztoc (\S+)( \(already exists\))?$/.exec(l)!;
        return { layer: m[1], ztoc: m[2], reused: m[3] !== undefined };
      });

    const r1 = await sociOk(root, args);
    const p1 = pairs(r1.stdout);
    assert.deepEqual(p1.map((p) => [p.layer, p.reused]), layerDigests.map((d) => [d, false]));
    const rows1 = await dbRows(root);

    const r2 = await sociOk(root, args);
    assert.deepEqual(pairs(r2.stdout), p1.map((p) => ({ ...p, reused: true })));
    assert.equal(r2.stdout.split("(already exists)").length - 1, 3);
    assert.deepEqual(indexLines(r2.stdout), indexLines(r1.stdout));
    const rows2 = await dbRows(root);
    const idx = indexLines(r1.stdout)[0].digest;
    // zTOC rows untouched; the index row rewritten with a newer creation time (C§4).
    assert.deepEqual(
      rows2.filter((r) => r.digest !== idx),
      rows1.filter((r) => r.digest !== idx),
    );
    const t1 = rows1.find((r) => r.digest === idx)!.created_at_us as number;
    const t2 = rows2.find((r) => r.digest === idx)!.created_at_us as number;
    assert.ok(t2 > t1, `${t2} > ${t1}`);

    const r3 = await sociOk(root, ["create", "--force", ...args.slice(1)]);
    assert.deepEqual(pairs(r3.stdout), p1);
    assert.deepEqual(indexLines(r3.stdout), indexLines(r1.stdout));

    // A DB row whose zTOC blob is gone is not reused: the zTOC is built and stored again.
    await Deno.remove(storeBlob(root, p1[1].ztoc));
    const rebuilt = await sociOk(root, args);
    assert.deepEqual(pairs(rebuilt.stdout).map((p) => p.reused), [true, false, true]);
    assert.equal(await sha256sum(storeBlob(root, p1[1].ztoc)), p1[1].ztoc);

    const small = ["create", "--span-size", "65536", ...args.slice(1)];
    const r4 = await sociOk(root, small);
    const p4 = pairs(r4.stdout);
    assert.deepEqual(p4.map((p) => p.reused), [false, false, false]);
    for (let i = 0; i < 3; i++) assert.notEqual(p4[i].ztoc, p1[i].ztoc);
    assert.notEqual(indexLines(r4.stdout)[0].digest, idx);
    const r5 = await sociOk(root, small);
    assert.deepEqual(pairs(r5.stdout), p4.map((p) => ({ ...p, reused: true })));
    const ztocRows = (await dbRows(root)).filter((r) => r.type === "soci_layer");
    assert.deepEqual(ztocRows.map((r) => r.span_size as number).sort((a, b) => a - b), [
      65536,
      65536,
      65536,
      SPAN,
      SPAN,
      SPAN,
    ]);
  });
});

Deno.test("create: flag validation — sizes negative or above int64, bad optimization, bad --name, no image (C§11.3 item 2)", async () => {
  await withRoot(async (root) => {
    const img = `oci:${L}:app`;
    const cases: Array<[string[], string]> = [
      [["--span-size", "-1"], "soci: span size must be >= 0"],
      [["--min-layer-size", "-1"], "soci: min layer size must be >= 0"],
      [["--min-layer-size", "-5", "--span-size", "-5"], "soci: min layer size must be >= 0"],
      [["--optimizations", "foo"], "soci: optimization foo is not a valid optimization [xattr]"],
      [["--name", ""], "soci: --name must not be empty"],
      ...["a b", "../../etc", "-x"].map((name): [string[], string] => [
        ["--name", name],
        `soci: invalid tag ${JSON.stringify(name)} in --name: a tag of an OCI layout is letters ` +
        "and digits joined by one of - . _ : @ + or by --, in parts separated by /",
      ]),
    ];
    for (const [flags, message] of cases) {
      const r = await soci(root, ["create", ...flags, img]);
      assert.equal(r.code, 1, flags.join(" "));
      assert.equal(r.stderr, message + "\n");
      assert.equal(r.stdout, "");
    }
    const none = await soci(root, ["create"]);
    assert.equal(none.code, 1);
    assert.equal(none.stderr, "soci: source image needs to be specified\n");
    for (const flag of ["span-size", "min-layer-size"]) {
      const r = await soci(root, ["create", `--${flag}`, "9223372036854775808", img]);
      assert.equal(r.code, 1);
      const err = lines(r.stderr);
      const prefix = `invalid value "9223372036854775808" for flag -${flag}: `;
      assert.equal(err.length, 1, r.stderr);
      assert.ok(err[0].startsWith(`soci: ${prefix}`), err[0]);
    }
    // int64 max itself is a valid minimum: every layer is below it.
    const max = await soci(root, ["create", "--min-layer-size", "9223372036854775807", img]);
    assert.equal(max.code, 1);
    assert.equal(
      max.stderr,
      "soci: no ztocs created, all layers either skipped or produced errors (layers smaller " +
        "than --min-layer-size 9223372036854775807 get none; --allow-empty writes an index " +
        "anyway)\n",
    );
    // Nothing was stored by any of these.
    assert.deepEqual(await treeListing(root, /^artifacts\.sqlite/), []);
    assert.deepEqual(await dbRows(root), []);
  });
});

Deno.test("create: sparse indexes — zTOCs exactly for layers whose size ≥ min-layer-size (C§11.3 items 3–4, C§11.2 item 2)", async () => {
  await withRoot(async (root) => {
    const [small, big, tar] = IMG.app.layers.map((l) => l.desc);
    const indexed = async (min: number) => {
      const r = await soci(root, ["create", "--min-layer-size", String(min), `oci:${L}:app`]);
      const skipped = lines(r.stdout).filter((l) => l.startsWith("ztoc skipped"));
      if (r.code !== 0) return { code: r.code, stderr: r.stderr, skipped, layers: [] };
      const doc = JSON.parse(await storedText(root, indexLines(r.stdout)[0].digest));
      return {
        code: 0,
        stderr: r.stderr,
        skipped,
        layers: doc.layers.map((d: { annotations: Record<string, string> }) =>
          d.annotations["com.amazon.soci.image-layer-digest"]
        ),
      };
    };
    const skipLine = (d: typeof small, min: number) =>
      `ztoc skipped - layer ${d.digest} (${d.mediaType}) size ${d.size} is less than ` +
      `min-layer-size ${min}`;

    const stored = "image stored as app (use this name with push, index list --ref)\n";
    assert.deepEqual(await indexed(0), {
      code: 0,
      stderr: stored,
      skipped: [],
      layers: [small.digest, big.digest, tar.digest],
    });
    assert.deepEqual(await indexed(1000000), {
      code: 0,
      stderr: stored,
      skipped: [skipLine(small, 1000000), skipLine(tar, 1000000)],
      layers: [big.digest],
    });
    // Equal to the minimum → indexed; one byte less → skipped.
    assert.deepEqual((await indexed(tar.size)).layers, [big.digest, tar.digest]);
    assert.deepEqual((await indexed(tar.size + 1)).layers, [big.digest]);
    const none = await indexed(10000000);
    assert.equal(none.code, 1);
    assert.equal(
      none.stderr,
      "soci: no ztocs created, all layers either skipped or produced errors (layers smaller " +
        "than --min-layer-size 10000000 get none; --allow-empty writes an index anyway)\n",
    );
    assert.deepEqual(none.skipped, [
      skipLine(small, 10000000),
      skipLine(big, 10000000),
      skipLine(tar, 10000000),
    ]);
    // Three distinct indexes (1000000 and tar.size+1 select the same layers), none for 10000000.
    const listed = await sociOk(root, ["index", "list", "-q"]);
    assert.equal(lines(listed.stdout).length, 3);
  });
});

Deno.test("create: --optimizations xattr marks only zTOCs without SCHILY.xattr records or opaque whiteouts (F§7.5)", async () => {
  await withRoot(async (root) => {
    const ref = `oci:${L}:xattr`;
    const [withXattr, withOpaque, plain] = IMG.xattr.layers;
    const subject = await manifestDesc(IMG.xattr);
    const doc = async (flags: string[]) => {
      const r = await sociOk(root, ["create", "--min-layer-size", "0", ...flags, ref]);
      const zs = await storedZtocs(root);
      const z = await Promise.all(IMG.xattr.layers.map((l) => ztocOf(zs, l, SPAN)));
      return { r, z, stored: await storedText(root, indexLines(r.stdout)[0].digest) };
    };
    const plainRun = await doc([]);
    const descs = await Promise.all([withXattr, withOpaque, plain].map(fileDesc));
    assert.equal(
      plainRun.stored,
      expectedIndexJson(
        subject,
        descs.map((layer, i) => ({ ztoc: plainRun.z[i], layer, spanSize: SPAN })),
      ),
    );
    const expectedX = expectedIndexJson(
      subject,
      descs.map((layer, i) => ({
        ztoc: plainRun.z[i],
        layer,
        spanSize: SPAN,
        disableXattrs: i === 2,
      })),
    );
    assert.ok(
      expectedX.includes(
        `"annotations":{"com.amazon.soci.disable-xattrs":"true","com.amazon.soci.image-layer-digest":"${
          descs[2].digest
        }"`,
      ),
    );
    // Reused zTOCs get the annotation too (their TOC is read back).
    const reused = await doc(["--optimizations", "xattr"]);
    assert.equal(lines(reused.r.stdout).filter((l) => l.endsWith("(already exists)")).length, 3);
    assert.equal(reused.stored, expectedX);
    const rebuilt = await doc(["--optimizations", "xattr", "--force"]);
    assert.equal(rebuilt.stored, expectedX);
  });
});

Deno.test("create: --json summary and -q", async () => {
  await withRoot(async (root) => {
    const r = await sociOk(root, ["create", "--json", "--min-layer-size", "0", `oci:${L}:odd`]);
    assert.equal(r.stderr, "");
    const zs = await storedZtocs(root);
    const [gz, zstd, foo] = IMG.odd.layers;
    const z = await ztocOf(zs, gz, SPAN);
    const m = await manifestDesc(IMG.odd);
    const expectedDoc = expectedIndexJson(m, [{ ztoc: z, layer: gz.desc, spanSize: SPAN }]);
    const idx = await sha256sumOf(expectedDoc);
    const skip = (l: BuiltLayer, c: string) =>
      `ztoc skipped - layer ${l.desc.digest} (${l.desc.mediaType}) is compressed in an ` +
      `unsupported format. expect: [tar, gzip, unknown] but got "${c}"`;
    assert.deepEqual(JSON.parse(r.stdout), {
      image: "odd",
      imageDigest: m.digest,
      indexes: [{
        digest: idx,
        size: expectedDoc.length,
        platform: HOST,
        manifestDigest: m.digest,
        layers: [
          { ...gz.desc, status: "built", ztoc: z.digest, ztocSize: z.size },
          { ...zstd.desc, status: "skipped", reason: skip(zstd, "zstd") },
          { ...foo.desc, status: "skipped", reason: skip(foo, "") },
        ],
      }],
      skippedPlatforms: [],
    });
    // Go MarshalIndent layout: two-space indentation and a final newline.
    assert.ok(r.stdout.startsWith('{\n  "image": "odd",\n'));
    assert.ok(r.stdout.endsWith("}\n"));

    const again = await sociOk(root, ["create", "--json", "--min-layer-size", "0", `oci:${L}:odd`]);
    assert.equal(JSON.parse(again.stdout).indexes[0].layers[0].status, "reused");

    const q = await sociOk(root, ["create", "-q", "--min-layer-size", "0", `oci:${L}:odd`]);
    assert.equal(q.stdout, `${idx}\n`);
    assert.equal(q.stderr, "");
    const qAll = await sociOk(root, [
      "create",
      "--quiet",
      "--all-platforms",
      "--min-layer-size",
      "0",
      `oci:${L}:multi`,
    ]);
    assert.equal(lines(qAll.stdout).length, 2);
    for (const l of lines(qAll.stdout)) assert.match(l, /^sha256:[0-9a-f]{64}$/);
  });
});

Deno.test("create: --allow-empty writes an index without zTOCs; the default fails with upstream's message", async () => {
  await withRoot(async (root) => {
    const args = ["create", "--min-layer-size", "100000000", `oci:${L}:app`];
    const before = await rootState(root);
    const fail = await soci(root, args);
    assert.equal(fail.code, 1);
    assert.equal(
      fail.stderr,
      "soci: no ztocs created, all layers either skipped or produced errors (layers smaller " +
        "than --min-layer-size 100000000 get none; --allow-empty writes an index anyway)\n",
    );
    assert.equal(lines(fail.stdout).filter((l) => l.startsWith("ztoc skipped - layer ")).length, 3);
    assert.deepEqual((await rootState(root)).rows, before.rows);
    assert.equal((await treeListing(root, /^artifacts\.sqlite/)).length, 0);

    const ok = await sociOk(root, ["create", "--allow-empty", ...args.slice(1)]);
    const expected = expectedIndexJson(await manifestDesc(IMG.app), []);
    assert.ok(expected.includes('"layers":[]'));
    const idx = await sha256sumOf(expected);
    assert.deepEqual(indexLines(ok.stdout), [{ digest: idx, platform: HOST, n: 0 }]);
    assert.equal(await storedText(root, idx), expected);
    assert.deepEqual(
      (await dbRows(root)).map((r) => [r.digest, r.type]),
      [[idx, "soci_index"]],
    );
  });
});

Deno.test("create: bad input gives one clear line and leaves the root as it was", async (t) => {
  await withRoot(async (root, scratch) => {
    await sociOk(root, ["create", "--min-layer-size", "0", `oci:${L}:app`]);
    const fails = async (ref: string, check: (line: string) => void, flags: string[] = []) => {
      const before = await rootState(root);
      const r = await soci(root, ["create", "--min-layer-size", "0", ...flags, ref]);
      assert.equal(r.code, 1, r.stdout);
      const err = lines(r.stderr);
      assert.equal(err.length, 1, r.stderr);
      assert.ok(err[0].startsWith("soci: "), err[0]);
      check(err[0]);
      assert.deepEqual(await rootState(root), before);
    };
    const building = "soci: errors encountered while building soci layers; ";

    await t.step("missing layout, bad tag, unknown store name", async () => {
      const missing = join(scratch, "nonexistent");
      await fails(`oci:${missing}:app`, (l) => assert.ok(l.includes(missing), l));
      await fails(`oci-archive:${missing}.tar`, (l) => assert.ok(l.includes(`${missing}.tar`), l));
      await fails(`oci:${L}:nope`, (l) => assert.match(l, /"nope"/));
      await fails("nope", (l) => {
        assert.match(l, /nope/);
        assert.match(l, /not found/);
      });
    });
    await t.step("corrupt second layer (right digest, damaged deflate data)", async () => {
      const bad = IMG.corrupt.layers[1].desc.digest;
      await fails(`oci:${L}:corrupt`, (l) => {
        assert.ok(l.startsWith(building), l);
        assert.ok(l.includes(bad), l);
        assert.match(l, /gzip|corrupt|invalid/i);
      });
    });
    await t.step("digest mismatch while streaming names both digests", async () => {
      const expected = IMG.mismatch.layers[0].desc.digest;
      const actual = await sha256sum(IMG.mismatch.layers[0].path);
      assert.equal(actual, IMG.mismatch.actualDigest);
      assert.notEqual(actual, expected);
      await fails(`oci:${L}:mismatch`, (l) => {
        assert.ok(l.startsWith(building), l);
        assert.ok(l.includes(expected) && l.includes(actual), l);
      });
    });
    await t.step("size mismatch names both sizes", async () => {
      const desc = IMG.short.layers[0].desc;
      const actual = (await Deno.stat(IMG.short.layers[0].path)).size;
      assert.equal(actual, desc.size - 1);
      await fails(`oci:${L}:short`, (l) => {
        assert.ok(l.startsWith(building), l);
        assert.ok(l.includes(String(desc.size)) && l.includes(String(actual)), l);
      });
    });
    await t.step("F§7.3 rule 2 and the unrecognised bare prefix; a PAX global header", async () => {
      // Every failing layer is reported, in layer order, joined with "; ".
      await fails(`oci:${L}:nonlayer`, (l) =>
        assert.equal(
          l,
          `${building}not a layer mediaType: ; ` +
            `not a layer mediaType: application/vnd.oci.image.manifest.v1+json; ` +
            `not a layer mediaType: application/octet-stream`,
        ));
      await fails(`oci:${L}:badprefix`, (l) =>
        assert.equal(
          l,
          `${building}could not determine layer compression: unrecognised mediatype ` +
            "application/vnd.oci.image.layer.",
        ));
      await fails(`oci:${L}:global`, (l) => {
        assert.ok(l.startsWith(building), l);
        assert.ok(l.endsWith("unsupported input tar entry 'g'"), l);
      });
    });
    await t.step("an index child without a platform (F§7.6)", async () => {
      await fails(
        `oci:${L}:noplat`,
        (l) => assert.equal(l, "soci: manifest should have proper platform"),
        ["-p", "linux/amd64"],
      );
    });
    await t.step("a layer blob missing from the layout", async () => {
      const gone = IMG.noblob.layers[1].desc.digest;
      await fails(`oci:${L}:noblob`, (l) => {
        assert.ok(l.startsWith(building), l);
        assert.ok(l.includes(gone), l);
        assert.match(l, /not found/);
      });
    });
    await t.step("--force on the corrupt image leaves the reusable zTOC rows alone", async () => {
      await fails(`oci:${L}:corrupt`, (l) => assert.ok(l.startsWith(building)), ["--force"]);
    });
  });

  await t.step("a failed create on a fresh root stores nothing", async () => {
    await withRoot(async (root) => {
      const r = await soci(root, ["create", "--min-layer-size", "0", `oci:${L}:corrupt`]);
      assert.equal(r.code, 1);
      assert.equal(lines(r.stderr).length, 1);
      // Nothing at all: no artifacts.sqlite* either (the DB is created by the first write).
      assert.deepEqual(await treeListing(root), []);
      assert.equal((await Deno.stat(root)).isDirectory, true);
    });
  });

  // An unwritable root: the immutable flag stops even root; other users are stopped by mode 0555.
  const lock = async (path: string): Promise<boolean> => {
    if (Deno.uid() === 0) return (await tool("chattr", ["+i", path])).code === 0;
    await Deno.chmod(path, 0o555);
    return true;
  };
  const unlock = async (path: string) => {
    if (Deno.uid() === 0) await tool("chattr", ["-i", path]);
    else await Deno.chmod(path, 0o755);
  };
  const probe = await Deno.makeTempDir();
  const canLock = await lock(probe);
  await unlock(probe);
  await Deno.remove(probe);
  await t.step({
    name: "unwritable root (existing, and missing under an unwritable parent)",
    ignore: !canLock,
    fn: async () => {
      await withRoot(async (_root, scratch) => {
        const existing = join(scratch, "existing");
        const parent = join(scratch, "parent");
        await Deno.mkdir(existing);
        await Deno.mkdir(parent);
        await lock(existing);
        await lock(parent);
        try {
          for (const root of [existing, join(parent, "root")]) {
            const r = await soci(root, ["create", "--min-layer-size", "0", `oci:${L}:app`]);
            assert.equal(r.code, 1);
            const err = lines(r.stderr);
            assert.equal(err.length, 1, r.stderr);
            assert.ok(err[0].startsWith("soci: ") && err[0].includes(root), err[0]);
          }
          assert.deepEqual(await treeListing(existing), []);
          assert.deepEqual(await treeListing(parent), []);
        } finally {
          await unlock(existing);
          await unlock(parent);
        }
      });
    },
  });
});

Deno.test("create: two processes at once on one root both succeed; index.json and the DB stay consistent", async () => {
  await withRoot(async (root) => {
    const base = ["create", "--min-layer-size", "0", "-q"];
    const runs = await Promise.all([
      soci(root, [...base, `oci:${L}:app`]),
      soci(root, [...base, "--all-platforms", `oci:${L}:multi`]),
      soci(root, [...base, `oci:${L}:app`]),
    ]);
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    assert.equal(runs[0].stdout, runs[2].stdout);
    const indexes = [...new Set(runs.flatMap((r) => lines(r.stdout)))].sort();
    assert.equal(indexes.length, 3);

    const listed = await sociOk(root, ["index", "list", "-q"]);
    assert.deepEqual(lines(listed.stdout).sort(), indexes);
    const indexJson = JSON.parse(await Deno.readTextFile(join(root, "content", "index.json")));
    const entries = indexJson.manifests as Array<
      { digest: string; artifactType?: string; annotations?: Record<string, string> }
    >;
    assert.deepEqual(entries.filter((e) => e.artifactType).map((e) => e.digest).sort(), indexes);
    assert.deepEqual(
      entries.filter((e) => !e.artifactType)
        .map((e) => e.annotations?.["org.opencontainers.image.ref.name"]).sort(),
      ["app", "multi"],
    );
    // Every DB row's blob is stored and every zTOC of every index has its row.
    const rows = await dbRows(root);
    for (const r of rows) {
      assert.equal(await sha256sum(storeBlob(root, r.digest as string)), r.digest);
    }
    const ztocRows = new Set(rows.filter((r) => r.type === "soci_layer").map((r) => r.digest));
    for (const d of indexes) {
      for (const z of JSON.parse(await storedText(root, d)).layers) {
        assert.ok(ztocRows.has(z.digest));
      }
    }
    assert.equal(
      await python(
        String.raw`
import json, sqlite3, sys
c = sqlite3.connect(sys.argv[1])
print(json.dumps(c.execute("PRAGMA integrity_check").fetchone()[0]))
`,
        join(root, "artifacts.sqlite"),
      ),
      "ok",
    );
    // rebuild-db finds nothing to add or remove.
    await sociOk(root, ["rebuild-db"]);
    assert.deepEqual(await dbRows(root), rows);
  });
});

Deno.test("create: skopeo copies an image into an oci: layout, we index it, skopeo reads our store", async () => {
  await withRoot(async (root, scratch) => {
    const copy = join(scratch, "copy");
    await toolOk("skopeo", ["copy", "-q", `oci:${L}:app`, `oci:${copy}:app`]);
    const { desc } = await taggedManifest(copy, "app");
    const r = await sociOk(root, ["create", "-q", "--min-layer-size", "0", `oci:${copy}:app`]);
    const idx = r.stdout.trim();
    const content = join(root, "content");

    const raw = await tool("skopeo", ["inspect", "--raw", `oci:${content}:app`]);
    assert.equal(raw.code, 0, raw.stderr);
    assert.deepEqual(
      raw.stdout,
      await Deno.readFile(join(copy, "blobs", "sha256", desc.digest.slice(7))),
    );
    const info = JSON.parse(await toolOk("skopeo", ["inspect", `oci:${content}:app`]));
    assert.equal(info.Digest, desc.digest);
    assert.equal(info.Architecture, "amd64");
    const config = await tool("skopeo", ["inspect", "--config", "--raw", `oci:${content}:app`]);
    assert.equal(config.code, 0, config.stderr);

    // skopeo 1.9 has no oci:DIR@digest: read the SOCI index through a layout whose
    // index.json holds only our index.json entry for it, sharing our blobs.
    const view = join(scratch, "view");
    await Deno.mkdir(view);
    await Deno.symlink(join(content, "blobs"), join(view, "blobs"));
    await Deno.copyFile(join(content, "oci-layout"), join(view, "oci-layout"));
    const ours = JSON.parse(await Deno.readTextFile(join(content, "index.json")));
    const entry = ours.manifests.find((m: { digest: string }) => m.digest === idx);
    await Deno.writeTextFile(
      join(view, "index.json"),
      JSON.stringify({ schemaVersion: 2, manifests: [entry] }),
    );
    const sociRaw = await tool("skopeo", ["inspect", "--raw", `oci:${view}`]);
    assert.equal(sociRaw.code, 0, sociRaw.stderr);
    assert.equal(await sha256sumOf(sociRaw.stdout), idx);
    assert.equal(JSON.parse(DEC.decode(sociRaw.stdout)).subject.digest, desc.digest);
  });
});

Deno.test("create: a layer of two gzip members (eStargz-like) gets a zTOC and get-file reads both members (C§11.3 item 21)", async () => {
  await withRoot(async (root) => {
    const layer = IMG.members.layers[0];
    // Member sizes (compressed) and outputs (uncompressed), by Python's zlib.
    const members = await python(
      String.raw`
import json, sys, zlib
data = open(sys.argv[1], "rb").read()
out = []
while data:
    d = zlib.decompressobj(31)
    n = len(d.decompress(data))
    out.append([len(data) - len(d.unused_data), n])
    data = d.unused_data
print(json.dumps(out))
`,
      layer.path,
    ) as Array<[number, number]>;
    assert.equal(members.length, 2);
    const r = await sociOk(root, [
      "create",
      "--min-layer-size",
      "0",
      "--span-size",
      "16384",
      `oci:${L}:members`,
    ]);
    assert.deepEqual(indexLines(r.stdout).map((x) => x.n), [1]);
    const z = await ztocOf(await storedZtocs(root), layer, 16384);
    assert.equal(z.ztoc.uncompressed_archive_size, layer.tar!.length);
    // Each member is one deflate block here, so the only checkpoints are the two member
    // starts (F§5.2): after the 10-byte headers of `gzip -n`.
    const cps = parseZinfoBlob(Uint8Array.from(z.ztoc.compression_info.checkpoints)).cps;
    assert.deepEqual(cps.map((c) => [c.in, c.out, c.bits]), [
      [10, 0, 0],
      [members[0][0] + 10, members[0][1], 0],
    ]);
    for (const [name, data] of layer.files) {
      const got = await soci(root, ["ztoc", "get-file", z.digest, name]);
      assert.equal(got.code, 0, got.stderr);
      assert.deepEqual(got.stdoutBytes, data, name);
    }
  });
});
