// End-to-end tests of `soci convert` between local transports (C§6, F§8, C§11.2 item 7,
// C§11.3 items 8–10, 13, 14): the real CLI run as a process over OCI layouts built from
// scratch (`helpers/create_e2e_images.ts`), archives made by skopeo, and the tool's own
// outputs. Every document is checked byte for byte against text written out by hand from
// F§7.1/§7.2/§8 (`helpers/convert_expect.ts`), zTOCs are identified with flatc and Python's
// tarfile, digests with sha256sum, archives with Python's tarfile and GNU tar, layouts with
// skopeo, and the canonical JSON with Go's own encoding/json (the snapshotter's round trip).
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  dbRows,
  describeFile,
  e2eImages,
  EMPTY_CONFIG,
  lines,
  sha256sum,
  soci,
  sociOk,
  storeBlob,
  toolOk,
  withRoot,
} from "./helpers/create_e2e_images.ts";
import {
  AMD64,
  ARM64,
  docDesc,
  encIndex,
  expectedMulti,
  expectedPlatform,
  expectedRewritten,
  expectedZtocs,
  INDEX_DIGEST,
  layoutIndex,
  layoutText,
  manEntry,
  MANIFEST_DIGEST,
  OCI_INDEX,
  OCI_MANIFEST,
  SOCI_V2,
  sociEntry,
  sourceDoc,
  untar,
  type XDesc,
} from "./helpers/convert_expect.ts";
import { buildGoJsonOracle, runGoJsonOracle } from "./helpers/json_fuzz.ts";
import { SAMPLE_LAYOUT } from "./helpers/registry_e2e_cli.ts";

const IMG = await e2eImages();
const L = IMG.layout;
const DEC = new TextDecoder();
const ENC = new TextEncoder();

/** Every blob file of a layout: digest → size, with each file's digest checked by sha256sum. */
async function layoutBlobs(dir: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for await (const e of Deno.readDir(join(dir, "blobs", "sha256"))) {
    const path = join(dir, "blobs", "sha256", e.name);
    const digest = await sha256sum(path);
    assert.equal(digest, `sha256:${e.name}`, `blob file ${e.name} holds other bytes`);
    out.set(digest, (await Deno.stat(path)).size);
  }
  return out;
}

/** `skopeo inspect --raw` of a local reference. */
async function skopeoRaw(ref: string): Promise<string> {
  return await toolOk("skopeo", ["inspect", "--raw", ref]);
}

let goOracle: Promise<string> | undefined;
/** Asserts that Go decoding + encoding (ocispec structs) gives the same bytes: canonical JSON. */
async function assertGoCanonical(mode: "manifest" | "index", texts: string[]): Promise<void> {
  goOracle ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "soci-go-oracle-" });
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    return await buildGoJsonOracle(dir);
  })();
  const answers = await runGoJsonOracle(await goOracle, mode, texts.map((t) => ENC.encode(t)));
  answers.forEach((a, i) => {
    assert.ok(a.ok, `Go rejected ${texts[i]}`);
    assert.equal(DEC.decode(a.out), texts[i], "not what Go's json.Marshal writes");
  });
}

/** A copy of the test layout (cp -a), to damage or convert in place. */
async function copyLayout(scratch: string, name: string): Promise<string> {
  const dir = join(scratch, name);
  await toolOk("cp", ["-a", L, dir]);
  return dir;
}

/** The `index.json` text of a layout tagging `desc` as `tag` (what convert writes). */
function layoutIndexJson(desc: XDesc, tag?: string): string {
  return encIndex([{
    mediaType: desc.mediaType,
    digest: desc.digest,
    size: desc.size,
    ...(tag ? { annotations: { "org.opencontainers.image.ref.name": tag } } : {}),
  }]);
}

Deno.test("convert oci: → oci: single-platform image: every document per F§8, byte for byte", async () => {
  await withRoot(async (root, scratch) => {
    const out = join(scratch, "out");
    const r = await soci(root, [
      "convert",
      "--min-layer-size",
      "0",
      `oci:${L}:app`,
      `oci:${out}:app-soci`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    const layers = await Promise.all(
      IMG.app.layers.map((l) => describeFile(l.path, l.desc.mediaType)),
    );
    const zs = await expectedZtocs(root, IMG.app.layers);
    const { sociText, soci: s, manText, man } = await expectedPlatform(root, IMG.app);
    const idxText = encIndex([manEntry(man, AMD64, s.digest), sociEntry(s, man.digest, AMD64)]);
    const idx = docDesc(OCI_INDEX, idxText);

    // The layout: index.json names the new index; each document is what F§8 says.
    assert.equal(
      await Deno.readTextFile(join(out, "index.json")),
      layoutIndexJson(idx, "app-soci"),
    );
    assert.equal(
      await Deno.readTextFile(join(out, "oci-layout")),
      '{"imageLayoutVersion":"1.0.0"}',
    );
    assert.equal(await layoutText(out, idx.digest), idxText);
    assert.equal(await layoutText(out, man.digest), manText);
    assert.equal(await layoutText(out, s.digest), sociText);
    assert.equal(await layoutText(out, EMPTY_CONFIG.digest), "{}");
    // Every blob is there under its digest, and nothing else: config, layers (the source's
    // bytes), zTOCs, the {} config, the v2 index, the rewritten manifest, the new index.
    const blobs = await layoutBlobs(out);
    const want = new Map<string, number>([
      [idx.digest, idx.size],
      [man.digest, man.size],
      [s.digest, s.size],
      [EMPTY_CONFIG.digest, 2],
      [IMG.app.config.digest, IMG.app.config.size],
      ...layers.map((l) => [l.digest, l.size] as [string, number]),
      ...zs.map((z) => [z.ztoc.digest, z.ztoc.size] as [string, number]),
    ]);
    assert.deepEqual(new Map([...blobs].sort()), new Map([...want].sort()));
    // skopeo reads the result; Go re-encodes every document to the same bytes.
    assert.equal(await skopeoRaw(`oci:${out}:app-soci`), idxText);
    await assertGoCanonical("index", [idxText]);
    await assertGoCanonical("manifest", [manText, sociText]);

    // Output: the per-layer lines of create, then the index and the image.
    assert.equal(
      r.stdout,
      zs.map((z) => `layer ${z.layer.digest} -> ztoc ${z.ztoc.digest}\n`).join("") +
        `soci index ${s.digest} for linux/amd64 (3 blobs)\n` +
        `soci-enabled image ${idx.digest} written to oci:${out}:app-soci\n`,
    );

    // F§9 with the convert update of F§8 step 7: the v2 row is bound to the rewritten
    // manifest and the new index; its location keeps the source manifest.
    const rows = await dbRows(root);
    const v2 = rows.filter((x) => x.type === "soci_index");
    assert.equal(v2.length, 1);
    const { created_at_us: _, ...row } = v2[0];
    assert.deepEqual(row, {
      digest: s.digest,
      size: s.size,
      location: IMG.app.manifest.digest,
      original_digest: man.digest,
      image_digest: idx.digest,
      platform: "linux/amd64",
      type: "soci_index",
      media_type: OCI_MANIFEST,
      artifact_type: SOCI_V2,
      span_size: 0,
    });
    assert.equal(rows.filter((x) => x.type === "soci_layer").length, 3);
    // The local root keeps zTOCs and documents, never a layer.
    for (const l of layers) {
      await assert.rejects(Deno.stat(storeBlob(root, l.digest)), Deno.errors.NotFound);
    }
    for (const d of [idx.digest, man.digest, s.digest, IMG.app.config.digest]) {
      assert.equal(await sha256sum(storeBlob(root, d)), d);
    }
  });
});

Deno.test("convert: Docker media types become OCI in the manifest (layers keep theirs); in place in the same layout", async () => {
  await withRoot(async (root, scratch) => {
    const copy = await copyLayout(scratch, "layout");
    const before = (await layoutIndex(copy)).manifests.length;
    await sociOk(root, [
      "convert",
      "--min-layer-size",
      "0",
      `oci:${copy}:docker`,
      `oci:${copy}:docker`,
    ]);
    const { sociText, s, man, manText } = await (async () => {
      const e = await expectedPlatform(root, IMG.docker);
      return { sociText: e.sociText, s: e.soci, man: e.man, manText: e.manText };
    })();
    const doc = JSON.parse(manText);
    assert.equal(doc.mediaType, OCI_MANIFEST);
    assert.equal(doc.config.mediaType, "application/vnd.oci.image.config.v1+json");
    assert.deepEqual(doc.layers.map((l: XDesc) => l.mediaType), [
      "application/vnd.docker.image.rootfs.diff.tar.gzip",
      "application/vnd.docker.image.rootfs.diff.tar",
    ]);
    assert.match(
      sociText,
      /"com\.amazon\.soci\.image-layer-mediaType":"application\/vnd\.docker\.image\.rootfs\.diff\.tar"/,
    );
    const idxText = encIndex([manEntry(man, AMD64, s.digest), sociEntry(s, man.digest, AMD64)]);
    const idx = docDesc(OCI_INDEX, idxText);
    // The tag moved to the new image; the layout's other images stay listed.
    const entries = (await layoutIndex(copy)).manifests;
    assert.equal(entries.length, before);
    const tagged = entries.filter((e) =>
      e.annotations?.["org.opencontainers.image.ref.name"] === "docker"
    );
    assert.deepEqual(tagged, [{
      mediaType: OCI_INDEX,
      digest: idx.digest,
      size: idx.size,
      annotations: { "org.opencontainers.image.ref.name": "docker" },
    }]);
    assert.equal(await layoutText(copy, idx.digest), idxText);
    assert.equal(await layoutText(copy, man.digest), manText);
    // The Docker config's bytes are untouched, only its descriptor's media type changed.
    assert.equal(
      await sha256sum(join(copy, "blobs", "sha256", IMG.docker.config.digest.slice(7))),
      IMG.docker.config.digest,
    );
    assert.equal(await skopeoRaw(`oci:${copy}:docker`), idxText);
  });
});

Deno.test("convert oci-archive: → oci-archive: multi-platform --all-platforms: documents, shared layer read once, archive like containerd's exporter", async () => {
  await withRoot(async (root, scratch) => {
    const input = join(scratch, "in.tar");
    await toolOk("skopeo", [
      "copy",
      "--quiet",
      "--all",
      "--preserve-digests",
      `oci:${L}:multi`,
      `oci-archive:${input}:multi`,
    ]);
    const output = join(scratch, "out.tar");
    const r = await sociOk(root, [
      "convert",
      "--all-platforms",
      "--min-layer-size",
      "0",
      `oci-archive:${input}:multi`,
      `oci-archive:${output}:multi-soci`,
    ]);
    const e = await expectedMulti(IMG, root, ["amd64", "arm64"]);
    const [shared, onlyAmd] = IMG.multi.amd64.layers;
    const onlyArm = IMG.multi.arm64.layers[1];
    const zShared = (await expectedZtocs(root, [shared]))[0].ztoc.digest;
    // The layer both platforms share is read once: the second platform reuses its zTOC.
    assert.deepEqual(lines(r.stdout).slice(0, 4), [
      `layer ${shared.desc.digest} -> ztoc ${zShared}`,
      `layer ${onlyAmd.desc.digest} -> ztoc ${
        (await expectedZtocs(root, [onlyAmd]))[0].ztoc.digest
      }`,
      `layer ${shared.desc.digest} -> ztoc ${zShared} (already exists)`,
      `layer ${onlyArm.desc.digest} -> ztoc ${
        (await expectedZtocs(root, [onlyArm]))[0].ztoc.digest
      }`,
    ]);
    assert.equal(await skopeoRaw(`oci-archive:${output}:multi-soci`), e.idxText);

    // The archive, read by Python's tarfile: containerd's exporter's entries and modes,
    // blobs first, index.json and oci-layout last, owner 0, time 0, no manifest.json.
    const members = JSON.parse(
      await toolOk("python3", [
        "-c",
        `
import json, sys, tarfile
out = []
with tarfile.open(sys.argv[1]) as t:
    for m in t:
        out.append([m.name, m.type.decode(), oct(m.mode), m.uid, m.gid, m.mtime, m.size])
print(json.dumps(out))`,
        output,
      ]),
    );
    assert.deepEqual(members.slice(0, 2), [
      ["blobs", "5", "0o755", 0, 0, 0, 0],
      ["blobs/sha256", "5", "0o755", 0, 0, 0, 0],
    ]);
    assert.deepEqual(members.slice(-2).map((m: unknown[]) => [m[0], m[2]]), [
      ["index.json", "0o644"],
      ["oci-layout", "0o444"],
    ]);
    const blobMembers = members.slice(2, -2);
    for (const m of blobMembers) {
      assert.match(m[0], /^blobs\/sha256\/[0-9a-f]{64}$/);
      assert.deepEqual(m.slice(1, 6), ["0", "0o444", 0, 0, 0]);
    }
    // Every blob reachable from the new index, each once, under its digest.
    const dir = await untar(output);
    try {
      assert.equal(
        await Deno.readTextFile(join(dir, "index.json")),
        layoutIndexJson(e.idx, "multi-soci"),
      );
      assert.equal(await layoutText(dir, e.idx.digest), e.idxText);
      assert.equal(await layoutText(dir, e.amd.man.digest), e.amd.manText);
      assert.equal(await layoutText(dir, e.arm.man.digest), e.arm.manText);
      assert.equal(await layoutText(dir, e.amd.soci.digest), e.amd.sociText);
      assert.equal(await layoutText(dir, e.arm.soci.digest), e.arm.sociText);
      const blobs = await layoutBlobs(dir);
      assert.equal(blobs.size, blobMembers.length);
      const imgs = [IMG.multi.amd64, IMG.multi.arm64, IMG.multi.unknown];
      const want = new Set([
        e.idx.digest,
        e.amd.man.digest,
        e.arm.man.digest,
        e.unknown.digest,
        e.amd.soci.digest,
        e.arm.soci.digest,
        EMPTY_CONFIG.digest,
        ...imgs.flatMap((i) => [i.config.digest, ...i.layers.map((l) => l.desc.digest)]),
        ...JSON.parse(e.amd.sociText).layers.map((l: XDesc) => l.digest),
        ...JSON.parse(e.arm.sociText).layers.map((l: XDesc) => l.digest),
      ]);
      assert.deepEqual([...blobs.keys()].sort(), [...want].sort());
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
    assert.equal((await toolOk("tar", ["-tf", output])).includes("manifest.json"), false);
    await assertGoCanonical("index", [e.idxText]);
  });
});

Deno.test({
  name:
    "convert: an index converts the host platform by default; other present manifests are rewritten (F§8 step 4)",
  ignore: Deno.build.arch !== "x86_64",
  fn: async () => {
    await withRoot(async (root, scratch) => {
      const out = join(scratch, "out");
      await sociOk(root, ["convert", "--min-layer-size", "0", `oci:${L}:multi`, `oci:${out}:m`]);
      const e = await expectedMulti(IMG, root, ["amd64"]);
      assert.equal(await skopeoRaw(`oci:${out}:m`), e.idxText);
      // The arm64 and unknown manifests got OCI media types and no annotation.
      assert.equal(
        await layoutText(out, JSON.parse(e.idxText).manifests[1].digest),
        expectedRewritten(sourceDoc(IMG.multi.arm64)),
      );
      assert.equal((await dbRows(root)).filter((x) => x.type === "soci_index").length, 1);
    });
  },
});

Deno.test("convert: a partially present multi-platform image: platforms it lacks are skipped with one line and kept as they are", async () => {
  await withRoot(async (root, scratch) => {
    // (1) The arm64 manifest is missing (only amd64 was pulled).
    const noManifest = await copyLayout(scratch, "no-manifest");
    await Deno.remove(
      join(noManifest, "blobs", "sha256", IMG.multi.arm64.manifest.digest.slice(7)),
    );
    const out1 = join(scratch, "out1");
    const r1 = await sociOk(root, [
      "convert",
      "--all-platforms",
      "--min-layer-size",
      "0",
      `oci:${noManifest}:multi`,
      `oci:${out1}:m`,
    ]);
    assert.deepEqual(lines(r1.stderr), [
      `skipping platform linux/arm64/v8: its manifest ${IMG.multi.arm64.manifest.digest} is not in oci:${noManifest}:multi`,
    ]);
    const e = await expectedMulti(IMG, root, ["amd64"]);
    const idx1 = JSON.parse(await skopeoRaw(`oci:${out1}:m`));
    // The arm64 entry exactly as the source lists it; amd64 converted; unknown rewritten.
    const srcIndex = JSON.parse(await layoutText(L, IMG.multi.index.digest));
    assert.deepEqual(idx1.manifests[1], srcIndex.manifests[1]);
    assert.deepEqual(idx1.manifests[0], JSON.parse(e.idxText).manifests[0]);
    assert.deepEqual(idx1.manifests[2], JSON.parse(e.idxText).manifests[2]);
    assert.deepEqual(idx1.manifests[3], JSON.parse(e.idxText).manifests[3]);
    assert.equal(idx1.manifests.length, 4);
    const blobs1 = await layoutBlobs(out1);
    assert.equal(blobs1.has(IMG.multi.arm64.manifest.digest), false);
    assert.equal(blobs1.has(IMG.multi.arm64.layers[1].desc.digest), false);
    assert.equal(blobs1.has(IMG.multi.amd64.layers[1].desc.digest), true);

    // (2) An arm64 layer is missing: its manifest is kept unconverted and unchanged.
    const noLayer = await copyLayout(scratch, "no-layer");
    const gone = IMG.multi.arm64.layers[1].desc.digest;
    await Deno.remove(join(noLayer, "blobs", "sha256", gone.slice(7)));
    const out2 = join(scratch, "out2");
    const r2 = await sociOk(root, [
      "convert",
      "--all-platforms",
      "--min-layer-size",
      "0",
      `oci:${noLayer}:multi`,
      `oci:${out2}:m`,
    ]);
    assert.deepEqual(lines(r2.stderr), [
      `skipping platform linux/arm64/v8: its blob ${gone} is not in oci:${noLayer}:multi`,
    ]);
    const idx2 = JSON.parse(await skopeoRaw(`oci:${out2}:m`));
    assert.deepEqual(idx2.manifests[1], srcIndex.manifests[1]);
    const blobs2 = await layoutBlobs(out2);
    assert.equal(blobs2.has(IMG.multi.arm64.manifest.digest), true);
    assert.equal(blobs2.has(gone), false);
    // The output converts again: amd64 is SOCI-enabled, arm64 still lacks its layer.
    const again = await sociOk(root, [
      "convert",
      "--all-platforms",
      "-q",
      `oci:${out2}:m`,
      `oci:${join(scratch, "out3")}:m`,
    ]);
    assert.equal(again.stdout.trim(), (await layoutIndex(out2)).manifests[0].digest);
  });
});

Deno.test("convert: converting a SOCI-enabled image says so and gives the same image; --force rebuilds to the same digest (C§11.3 items 10, 13)", async () => {
  await withRoot(async (root, scratch) => {
    const out1 = join(scratch, "o1");
    const first = await sociOk(root, [
      "convert",
      "-q",
      "--all-platforms",
      "--min-layer-size",
      "0",
      `oci:${L}:multi`,
      `oci:${out1}:x`,
    ]);
    const digest = first.stdout.trim();
    const e = await expectedMulti(IMG, root, ["amd64", "arm64"]);
    assert.equal(digest, e.idx.digest);

    const out2 = join(scratch, "o2.tar");
    const again = await sociOk(root, [
      "convert",
      "--all-platforms",
      `oci:${out1}:x`,
      `oci-archive:${out2}`,
    ]);
    assert.deepEqual(lines(again.stdout), [
      `platform linux/amd64 is already SOCI-enabled (soci index ${e.amd.soci.digest}); use --force to convert it again`,
      `platform linux/arm64/v8 is already SOCI-enabled (soci index ${e.arm.soci.digest}); use --force to convert it again`,
      `image ${digest} is already SOCI-enabled; written unchanged to oci-archive:${out2}`,
    ]);
    assert.equal(await skopeoRaw(`oci-archive:${out2}`), e.idxText);

    // --force: every zTOC built again (no "already exists"), the same bytes, the same image.
    const forced = await sociOk(root, [
      "convert",
      "--force",
      "--all-platforms",
      "--min-layer-size",
      "0",
      `oci:${out1}:x`,
      `oci:${join(scratch, "o3")}:x`,
    ]);
    const layerLines = lines(forced.stdout).filter((l) => l.startsWith("layer "));
    assert.equal(layerLines.length, 4);
    // (The shared layer is built once by this run, for both platforms: "already exists" is
    // only said of zTOCs of earlier runs, which --force ignores.)
    assert.equal(layerLines.filter((l) => l.endsWith("(already exists)")).length, 0);
    assert.equal(await skopeoRaw(`oci:${join(scratch, "o3")}:x`), e.idxText);
    // Without --force a second run from the source reuses every zTOC.
    const reuse = await sociOk(root, [
      "convert",
      "--all-platforms",
      "--min-layer-size",
      "0",
      `oci:${L}:multi`,
      `oci:${join(scratch, "o4")}:x`,
    ]);
    assert.equal(lines(reuse.stdout).filter((l) => l.endsWith("(already exists)")).length, 4);
  });
});

Deno.test("convert with the local store: to a name (no layers stored), from a name (layers read from its origin)", async () => {
  await withRoot(async (root, scratch) => {
    await sociOk(root, ["convert", "--min-layer-size", "0", `oci:${L}:app`, "app-soci"]);
    const { soci: s, man } = await expectedPlatform(root, IMG.app);
    const idxText = encIndex([manEntry(man, AMD64, s.digest), sociEntry(s, man.digest, AMD64)]);
    const idx = docDesc(OCI_INDEX, idxText);
    assert.equal(DEC.decode(await Deno.readFile(storeBlob(root, idx.digest))), idxText);
    for (const l of IMG.app.layers) {
      await assert.rejects(Deno.stat(storeBlob(root, l.desc.digest)), Deno.errors.NotFound);
    }
    // index list --ref finds the v2 index through the rewritten manifest (F§9 after convert).
    const list = await sociOk(root, ["index", "list", "--ref", "app-soci", "-q"]);
    assert.equal(list.stdout, `${s.digest}\n`);
    // ztoc list / get-file: the layer is read from the image's origin (the source layout).
    const ztocs = await sociOk(root, ["ztoc", "list", "--image-ref", "app-soci", "-q"]);
    const zs = await expectedZtocs(root, IMG.app.layers);
    assert.deepEqual(lines(ztocs.stdout), zs.map((z) => z.ztoc.digest));
    const file = await sociOk(root, ["ztoc", "get-file", zs[1].ztoc.digest, "app/main.js"]);
    assert.deepEqual(file.stdoutBytes, IMG.app.layers[1].files.get("app/main.js"));

    // From the store: already SOCI-enabled, written out with the origin's layers.
    const out = join(scratch, "out");
    await sociOk(root, ["convert", "app-soci", `oci:${out}:y`]);
    assert.equal(await skopeoRaw(`oci:${out}:y`), idxText);
    for (const l of IMG.app.layers) {
      assert.equal(
        await sha256sum(join(out, "blobs", "sha256", l.desc.digest.slice(7))),
        l.desc.digest,
      );
    }
    // A name `create` recorded converts too (its layers come from the source it recorded).
    await sociOk(root, ["create", "--min-layer-size", "0", `oci:${L}:docker`]);
    const out2 = join(scratch, "out2");
    await sociOk(root, ["convert", "--min-layer-size", "0", "docker", `oci:${out2}:d`]);
    const d = await expectedPlatform(root, IMG.docker);
    assert.equal(
      await skopeoRaw(`oci:${out2}:d`),
      encIndex([manEntry(d.man, AMD64, d.soci.digest), sociEntry(d.soci, d.man.digest, AMD64)]),
    );
  });
});

Deno.test("convert --standalone: dir→tar, tar→tar, dir→dir, tar→dir, --platform, --all-platforms, upstream's messages (C§6.2, C§11.3 item 14)", async () => {
  await withRoot(async (root, scratch) => {
    // Standalone runs get a root path that must never be created.
    const sroot = join(scratch, "never");
    const single = join(scratch, "single");
    await toolOk("skopeo", [
      "copy",
      "--quiet",
      "--preserve-digests",
      `oci:${L}:app`,
      `oci:${single}:app`,
    ]);
    const multi = join(scratch, "multi");
    await toolOk("skopeo", [
      "copy",
      "--quiet",
      "--all",
      "--preserve-digests",
      `oci:${L}:multi`,
      `oci:${multi}:multi`,
    ]);

    // dir → tar (the default format): the same image as any other conversion of app.
    const t1 = join(scratch, "t1.tar");
    const r1 = await sociOk(root, [
      "convert",
      "--standalone",
      "--min-layer-size",
      "0",
      "-q",
      single,
      t1,
    ]);
    const digest = r1.stdout.trim();
    // tar → tar: idempotent (upstream's test).
    const t2 = join(scratch, "t2.tar");
    const r2 = await sociOk(sroot, ["convert", "--standalone", "-q", t1, t2]);
    assert.equal(r2.stdout.trim(), digest);
    // dir → dir replaces what is at the destination; tar → dir.
    const d1 = join(scratch, "d1");
    await Deno.mkdir(d1);
    await Deno.writeTextFile(join(d1, "junk"), "old");
    await sociOk(root, [
      "convert",
      "--standalone",
      "--format",
      "oci-dir",
      "--min-layer-size",
      "0",
      single,
      d1,
    ]);
    await assert.rejects(Deno.stat(join(d1, "junk")), Deno.errors.NotFound);
    const d2 = join(scratch, "d2");
    await sociOk(sroot, ["convert", "--standalone", "--format", "oci-dir", t2, d2]);
    const idxOf = async (ref: string) =>
      "sha256:" +
      (await toolOk("bash", ["-c", `skopeo inspect --raw '${ref}' | sha256sum`])).split(" ")[0];
    for (const ref of [`oci-archive:${t1}`, `oci-archive:${t2}`, `oci:${d1}`, `oci:${d2}`]) {
      assert.equal(await idxOf(ref), digest, ref);
      assert.equal(JSON.parse(await skopeoRaw(ref)).manifests.length, 2, ref);
    }
    // The same image as converting the layout itself (deterministic across transports).
    await sociOk(root, [
      "convert",
      "--min-layer-size",
      "0",
      `oci:${L}:app`,
      `oci:${join(scratch, "ref")}:r`,
    ]);
    const { soci: s, man } = await expectedPlatform(root, IMG.app);
    assert.equal(
      digest,
      docDesc(
        OCI_INDEX,
        encIndex([manEntry(man, AMD64, s.digest), sociEntry(s, man.digest, AMD64)]),
      ).digest,
    );
    // index.json of a standalone layout lists just the new index (no name).
    const entries = (await layoutIndex(d1)).manifests;
    assert.equal(entries.length, 1);
    assert.deepEqual(Object.keys(entries[0]), ["mediaType", "digest", "size"]);

    // --platform: only that platform of an index; --all-platforms: every one.
    const p = join(scratch, "p.tar");
    await sociOk(root, [
      "convert",
      "--standalone",
      "--platform",
      "linux/arm64",
      "--min-layer-size",
      "0",
      multi,
      p,
    ]);
    const pIdx = JSON.parse(await skopeoRaw(`oci-archive:${p}`));
    const sociOf = (i: { manifests: XDesc[] }) =>
      i.manifests.filter((m) => m.artifactType === SOCI_V2);
    assert.deepEqual(sociOf(pIdx).map((m) => m.platform), [{ architecture: "arm64", os: "linux" }]);
    const a = join(scratch, "a.tar");
    await sociOk(root, [
      "convert",
      "--standalone",
      "--all-platforms",
      "--min-layer-size",
      "0",
      multi,
      a,
    ]);
    const aIdx = JSON.parse(await skopeoRaw(`oci-archive:${a}`));
    assert.deepEqual(sociOf(aIdx).map((m) => m.platform), [AMD64, ARM64]);
    // Every SOCI index's manifest is in the same index and points back (C§11.3 item 8).
    for (const s of sociOf(aIdx)) {
      const m = aIdx.manifests.find((x: XDesc) => x.digest === s.annotations![MANIFEST_DIGEST]);
      assert.equal(m.annotations[INDEX_DIGEST], s.digest);
      assert.deepEqual(m.platform, s.platform);
      assert.equal(m.mediaType, OCI_MANIFEST);
    }

    // Upstream's messages; standalone never creates the root.
    const missing = await soci(root, [
      "convert",
      "--standalone",
      join(scratch, "nope"),
      join(scratch, "x"),
    ]);
    assert.equal(missing.code, 1);
    assert.equal(
      missing.stderr,
      `soci: failed to access input ${join(scratch, "nope")}: stat ${
        join(scratch, "nope")
      }: no such file or directory\n`,
    );
    const noDest = await soci(sroot, ["convert", "--standalone", single]);
    assert.equal(noDest.stderr, "soci: destination needs to be specified\n");
    const noSrc = await soci(root, ["convert"]);
    assert.equal(noSrc.stderr, "soci: source image needs to be specified\n");
    const bad = await soci(root, [
      "convert",
      "--standalone",
      "--format",
      "invalid",
      single,
      join(scratch, "y"),
    ]);
    assert.equal(bad.code, 1);
    // Upstream's message, on one line as every usage error of ours.
    assert.equal(
      bad.stderr,
      'soci: invalid value "invalid" for flag -format: unsupported output format "invalid": ' +
        'must be "oci-archive" or "oci-dir" (see "soci convert --help")\n',
    );
    // --format is checked without --standalone too, before anything runs.
    const bad2 = await soci(sroot, ["convert", "--format", "zip", `oci:${L}:app`, "x"]);
    assert.match(bad2.stderr, /unsupported output format "zip"/);
    await assert.rejects(Deno.stat(sroot), Deno.errors.NotFound);
  });
});

Deno.test("convert: bad input fails with one clear line and leaves nothing at the destination", async () => {
  await withRoot(async (root, scratch) => {
    const cases: [string[], string][] = [
      [
        ["--platform", "linux/s390x", `oci:${L}:multi`],
        "soci: image manifest for linux/s390x: not found\n",
      ],
      [
        ["--platform", "linux/arm64", `oci:${L}:app`],
        "soci: image manifest for linux/arm64: not found (the image is linux/amd64)\n",
      ],
      [
        ["--min-layer-size", "0", `oci:${L}:noblob`],
        `soci: cannot convert linux/amd64: its blob ${
          IMG.noblob.layers[1].desc.digest
        } is not in oci:${L}:noblob\n`,
      ],
    ];
    for (const [args, err] of cases) {
      const dest = join(scratch, "dest");
      const r = await soci(root, ["convert", ...args, `oci:${dest}:x`]);
      assert.equal(r.code, 1, args.join(" "));
      assert.equal(r.stderr, err);
      assert.equal(r.stdout, "");
      await assert.rejects(Deno.stat(dest), Deno.errors.NotFound);
    }
    // A layer whose bytes do not match its digest: read (and copied) before the check
    // fails; the half-written destination is removed, the archive never appears.
    for (const dest of [`oci:${join(scratch, "d")}:x`, `oci-archive:${join(scratch, "d.tar")}`]) {
      const r = await soci(root, ["convert", "--min-layer-size", "0", `oci:${L}:mismatch`, dest]);
      assert.equal(r.code, 1);
      assert.equal(
        r.stderr,
        `soci: errors encountered while building soci layers; layer ${
          IMG.mismatch.layers[0].desc.digest
        }: ` +
          `layer digest mismatch: expected ${IMG.mismatch.layers[0].desc.digest}, got ` +
          `${IMG.mismatch.actualDigest}\n`,
      );
      assert.deepEqual([...Deno.readDirSync(scratch)].map((e) => e.name), ["root"]);
    }
    // An existing directory that is not a layout is refused before any work.
    const junk = join(scratch, "junk");
    await Deno.mkdir(junk);
    await Deno.writeTextFile(join(junk, "file"), "x");
    const r = await soci(root, ["convert", `oci:${L}:app`, `oci:${junk}`]);
    assert.equal(
      r.stderr,
      `soci: cannot write OCI layout ${junk}: the directory is not empty and not an OCI layout\n`,
    );
    assert.deepEqual([...Deno.readDirSync(junk)].map((e) => e.name), ["file"]);
    // Registry destinations must be tagged (upstream's text), checked before anything runs.
    const untagged = await soci(root, ["convert", `oci:${L}:app`, "docker://127.0.0.1:9/app"]);
    assert.equal(
      untagged.stderr,
      'soci: the destination image must be a tagged ref of the form "registry/repository:tag": reference must be tagged\n',
    );
    const pinned = await soci(root, [
      "convert",
      `oci:${L}:app`,
      `docker://127.0.0.1:9/app@${IMG.app.manifest.digest}`,
    ]);
    assert.equal(
      pinned.stderr,
      'soci: the destination image must be a tagged ref of the form "registry/repository:tag": reference must not contain a digest\n',
    );
    // An image whose descriptor in index.json has a media type that is no image's.
    const bogus = join(scratch, "bogus");
    await Deno.mkdir(join(bogus, "blobs", "sha256"), { recursive: true });
    for (const e of Deno.readDirSync(join(SAMPLE_LAYOUT, "blobs", "sha256"))) {
      await Deno.copyFile(
        join(SAMPLE_LAYOUT, "blobs", "sha256", e.name),
        join(bogus, "blobs", "sha256", e.name),
      );
    }
    await Deno.copyFile(join(SAMPLE_LAYOUT, "oci-layout"), join(bogus, "oci-layout"));
    const index = JSON.parse(await Deno.readTextFile(join(SAMPLE_LAYOUT, "index.json")));
    index.manifests[0].mediaType = "application/x-bogus";
    await Deno.writeTextFile(join(bogus, "index.json"), JSON.stringify(index));
    const unsupported = await soci(root, [
      "convert",
      `oci:${bogus}:latest`,
      `oci:${join(scratch, "u")}:x`,
    ]);
    assert.equal(unsupported.code, 1);
    assert.equal(unsupported.stderr, "soci: unsupported image media type application/x-bogus\n");
    await assert.rejects(Deno.stat(join(scratch, "u")), Deno.errors.NotFound);
    await Deno.remove(bogus, { recursive: true });
    // A tag a layout cannot hold (OCI ref.name grammar), checked before anything runs.
    for (const tag of ["bad tag", "-x", "x:"]) {
      for (const transport of ["oci", "oci-archive"]) {
        const dest = `${transport}:${join(scratch, "t")}:${tag}`;
        const bad = await soci(root, ["convert", `oci:${L}:app`, dest]);
        assert.equal(bad.code, 1, dest);
        assert.equal(
          bad.stderr,
          `soci: invalid tag ${JSON.stringify(tag)} in ${dest}: a tag of an OCI layout is ` +
            "letters and digits joined by one of - . _ : @ + or by --, in parts separated by /\n",
        );
        await assert.rejects(Deno.stat(join(scratch, "t")), Deno.errors.NotFound);
      }
    }
    // Nothing was recorded by the failed runs.
    assert.deepEqual(await dbRows(root), []);
  });
});
