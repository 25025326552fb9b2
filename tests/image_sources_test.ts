import assert from "node:assert/strict";
import { concat } from "./helpers/bytes.ts";
import { BadInputError, NotFoundError, UnsupportedError } from "../lib/errors.ts";
import type { Descriptor } from "../lib/oci/descriptor.ts";
import { parsePlatform } from "../lib/oci/platform.ts";
import { OciArchiveSource } from "../lib/image/oci_archive.ts";
import { OciLayoutSource } from "../lib/image/oci_layout.ts";
import { imagePlatforms, readIndex, readManifest, selectManifest } from "../lib/image/select.ts";
import type { ImageSource } from "../lib/image/source.ts";
import {
  pythonLayout,
  pythonTar,
  pythonTarMembers,
  readJson,
  rejects,
  run,
  umociLayout,
  withTempDir,
} from "./helpers/oci_fixtures.ts";

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
const BIG = 3_000_000;

/** `sha256:<hex>` of a file, computed by coreutils (independent of lib/). */
async function sha256sum(path: string): Promise<string> {
  return "sha256:" + (await run("sha256sum", [path])).split(" ")[0];
}

/** The entries of a layout's index.json as plain JSON. */
async function entries(dir: string): Promise<Descriptor[]> {
  return (await readJson(`${dir}/index.json`)).manifests as Descriptor[];
}

async function entryFor(dir: string, tag: string): Promise<Descriptor> {
  const e = (await entries(dir)).find((d) =>
    d.annotations?.["org.opencontainers.image.ref.name"] === tag
  );
  assert.ok(e, `no entry ${tag} in ${dir}`);
  return e;
}

/** Every blob file of a layout dir as a descriptor (digest from its name, size from stat). */
async function layoutBlobs(dir: string): Promise<Descriptor[]> {
  const out: Descriptor[] = [];
  for await (const f of Deno.readDir(`${dir}/blobs/sha256`)) {
    const size = (await Deno.stat(`${dir}/blobs/sha256/${f.name}`)).size;
    out.push({ mediaType: "application/octet-stream", digest: `sha256:${f.name}`, size });
  }
  return out.sort((a, b) => a.size - b.size);
}

async function streamChunks(stream: ReadableStream<Uint8Array>): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const c of stream) chunks.push(c);
  return chunks;
}

/** Checks that a source serves every blob of `layout` byte-identically, whole, streamed and ranged. */
async function assertServesLayoutBlobs(src: ImageSource, layout: string): Promise<void> {
  for (const desc of await layoutBlobs(layout)) {
    const want = await Deno.readFile(`${layout}/blobs/sha256/${desc.digest.slice(7)}`);
    assert.deepEqual(await src.fetchBytes(desc), want, desc.digest);
    const chunks = await streamChunks(await src.openBlob(desc));
    assert.deepEqual(concat(chunks), want);
    for (const c of chunks.slice(0, -1)) {
      assert.ok(c.length >= 64 * 1024 && c.length <= 1024 * 1024, `chunk of ${c.length} bytes`);
    }
    const start = Math.floor(desc.size / 3);
    const end = Math.floor((2 * desc.size) / 3) + 1;
    assert.deepEqual(await src.readRange!(desc, start, end), want.subarray(start, end));
    assert.deepEqual(await src.readRange!(desc, desc.size, desc.size), new Uint8Array(0));
  }
}

Deno.test("OCI layout and archive sources over real layouts", async (t) => {
  await withTempDir(async (tmp) => {
    // --- fixtures -------------------------------------------------------------------------
    const umoci = `${tmp}/umoci`;
    await umociLayout(umoci, "app", { "etc/hello": "hi\n" }, tmp);
    await umociLayout(umoci, "other", { "etc/other": "other\n" }, tmp);
    const solo = `${tmp}/solo-layout`;
    await run("skopeo", ["copy", "-q", `oci:${umoci}:app`, `oci:${solo}:solo`]);
    const py = `${tmp}/py`;
    await pythonLayout(py, [
      { tag: "amd", arch: "amd64", files: { "a.txt": "amd" }, randomBytes: BIG },
      { tag: "arm", arch: "arm64", variant: "v8", files: { "a.txt": "arm" } },
      { tag: "armv6", arch: "arm", variant: "v6", files: { "a.txt": "v6" } },
      { tag: "amdp", arch: "amd64", files: { "b.txt": "p" }, entryPlatform: true },
    ], [
      { tag: "multi", of: ["amd", "arm"] },
      { tag: "noplat", of: ["arm", "amd"], noPlatform: ["arm"] },
      { tag: "dup", of: ["amd", "arm", "amdp", "armv6"] },
    ]);
    const docker = `${tmp}/docker`;
    await run("skopeo", [
      "copy",
      "-q",
      "--all",
      "--format",
      "v2s2",
      `oci:${py}:multi`,
      `oci:${docker}:multi`,
    ]);

    await t.step("tags: the tagged entry, storeName, references", async () => {
      const src = OciLayoutSource.fromReference(`oci:${umoci}:app`);
      assert.equal(src.reference, `oci:${umoci}:app`);
      assert.equal(src.storeName, "app");
      assert.deepEqual(await src.resolve(), await entryFor(umoci, "app"));
      const other = new OciLayoutSource(umoci, "other");
      assert.deepEqual(await other.resolve(), await entryFor(umoci, "other"));
      // a ':' in the tag part belongs to the tag (split at the first ':' like skopeo)
      assert.equal(OciLayoutSource.fromReference("oci:dir:a:b").tag, "a:b");
      assert.equal(OciLayoutSource.fromReference("oci:dir:").tag, undefined);
      const opened = await OciLayoutSource.open(`oci:${umoci}:other`);
      assert.deepEqual(await opened.resolve(), await entryFor(umoci, "other"));
      await rejects(() => OciLayoutSource.open(`oci:${tmp}/nowhere:x`), NotFoundError);
      await rejects(() => OciArchiveSource.open(`oci-archive:${tmp}/nowhere.tar`), NotFoundError);
    });

    await t.step("only-image rule and tag errors", async () => {
      const single = new OciLayoutSource(solo);
      assert.equal(single.storeName, "solo-layout");
      assert.equal(new OciLayoutSource(solo + "/").storeName, "solo-layout");
      assert.deepEqual(await single.resolve(), (await entries(solo))[0]);
      const many = await rejects(() => new OciLayoutSource(umoci).resolve(), BadInputError);
      assert.equal(
        many.message,
        `OCI layout ${umoci} holds 2 images; name one with :TAG (tags: app, other)`,
      );
      const missing = await rejects(
        () => new OciLayoutSource(umoci, "nope").resolve(),
        NotFoundError,
      );
      assert.equal(
        missing.message,
        `OCI layout ${umoci}: no image tagged "nope"; available tags: app, other`,
      );
    });

    await t.step("missing dir, index.json, oci-layout", async () => {
      const gone = await rejects(
        () => new OciLayoutSource(`${tmp}/nowhere`).resolve(),
        NotFoundError,
      );
      assert.equal(gone.message, `OCI layout ${tmp}/nowhere: no such directory`);
      const bare = `${tmp}/bare`;
      await Deno.mkdir(bare);
      const noIndex = await rejects(() => new OciLayoutSource(bare).resolve(), BadInputError);
      assert.equal(
        noIndex.message,
        `OCI layout ${bare}: not an OCI image layout: index.json is missing`,
      );
      await Deno.writeTextFile(`${bare}/index.json`, '{"schemaVersion":2,"manifests":[]}');
      const noLayout = await rejects(() => new OciLayoutSource(bare).resolve(), BadInputError);
      assert.equal(
        noLayout.message,
        `OCI layout ${bare}: not an OCI image layout: oci-layout is missing`,
      );
      await Deno.writeTextFile(`${bare}/oci-layout`, '{"imageLayoutVersion":"1.0.0"}');
      await rejects(() => new OciLayoutSource(bare).resolve(), NotFoundError);
      await Deno.writeTextFile(`${bare}/index.json`, '{"manifests":{}}');
      const badIndex = await rejects(() => new OciLayoutSource(bare).resolve(), BadInputError);
      assert.equal(
        badIndex.message,
        `OCI layout ${bare}: index.json: invalid image index: manifests: expected an array, ` +
          "got an object",
      );
    });

    await t.step("umoci manifest without mediaType: selection and descriptor", async () => {
      const src = new OciLayoutSource(umoci, "app");
      const entry = await entryFor(umoci, "app");
      const bytes = await Deno.readFile(`${umoci}/blobs/sha256/${entry.digest.slice(7)}`);
      assert.equal(bytes[bytes.length - 1], 0x0a);
      // A single-manifest target without platform is accepted for any platform.
      for (const want of ["linux/amd64", "linux/arm64/v8"]) {
        const sel = await selectManifest(src, await src.resolve(), parsePlatform(want));
        assert.equal(sel.descriptor.mediaType, OCI_MANIFEST);
        assert.equal(sel.descriptor.digest, entry.digest);
        assert.equal(sel.descriptor.size, entry.size);
        assert.deepEqual(sel.bytes, bytes);
        assert.equal(sel.manifest.mediaType, undefined);
        assert.equal(sel.manifest.layers.length, 1);
        assert.deepEqual(sel.platform, parsePlatform(want));
      }
      // Its platform comes from the config umoci wrote.
      const manifest = JSON.parse(new TextDecoder().decode(bytes));
      const config = await readJson(`${umoci}/blobs/sha256/${manifest.config.digest.slice(7)}`);
      assert.deepEqual(await imagePlatforms(src, await src.resolve()), [
        parsePlatform(`${config.os}/${config.architecture}`),
      ]);
    });

    await t.step("platform selection in an OCI index", async () => {
      const src = new OciLayoutSource(py, "multi");
      const target = await src.resolve();
      assert.equal(target.mediaType, OCI_INDEX);
      const indexDoc = await readJson(`${py}/blobs/sha256/${target.digest.slice(7)}`);
      const children = indexDoc.manifests as Descriptor[];
      assert.deepEqual(await imagePlatforms(src, target), [
        { architecture: "amd64", os: "linux" },
        { architecture: "arm64", os: "linux", variant: "v8" },
      ]);
      const arm = await selectManifest(src, target, parsePlatform("linux/aarch64"));
      assert.deepEqual(arm.descriptor, children[1]);
      assert.deepEqual(arm.platform, children[1].platform);
      assert.deepEqual(
        arm.bytes,
        await Deno.readFile(`${py}/blobs/sha256/${children[1].digest.slice(7)}`),
      );
      const amd = await selectManifest(src, target, parsePlatform("linux/x86_64"));
      assert.deepEqual(amd.descriptor, children[0]);
      const nf = await rejects(
        () => selectManifest(src, target, parsePlatform("linux/s390x")),
        NotFoundError,
      );
      assert.equal(nf.message, "image manifest for linux/s390x: not found");
      const nf2 = await rejects(
        () => selectManifest(src, target, parsePlatform("linux/arm64/v9")),
        NotFoundError,
      );
      assert.equal(nf2.message, "image manifest for linux/arm64/v9: not found");

      const noplat = new OciLayoutSource(py, "noplat");
      const np = await rejects(
        async () => selectManifest(noplat, await noplat.resolve(), parsePlatform("linux/amd64")),
        BadInputError,
      );
      assert.equal(np.message, "manifest should have proper platform");

      // duplicates (amd64 twice) removed, arm v6 kept
      const dup = new OciLayoutSource(py, "dup");
      assert.deepEqual(await imagePlatforms(dup, await dup.resolve()), [
        { architecture: "amd64", os: "linux" },
        { architecture: "arm64", os: "linux", variant: "v8" },
        { architecture: "arm", os: "linux", variant: "v6" },
      ]);
      const v6 = await selectManifest(dup, await dup.resolve(), parsePlatform("linux/armel"));
      assert.equal(v6.descriptor.digest, (await entryFor(py, "armv6")).digest);
      await rejects(
        async () => selectManifest(dup, await dup.resolve(), parsePlatform("linux/arm")),
        NotFoundError,
      );
    });

    await t.step("manifest target carrying a platform", async () => {
      const src = new OciLayoutSource(py, "amdp");
      const target = await src.resolve();
      assert.deepEqual(target.platform, { architecture: "amd64", os: "linux" });
      const sel = await selectManifest(src, target, parsePlatform("linux/amd64"));
      assert.deepEqual(sel.descriptor, target);
      await rejects(() => selectManifest(src, target, parsePlatform("linux/arm64")), NotFoundError);
      assert.deepEqual(await imagePlatforms(src, target), [target.platform]);
    });

    await t.step("Docker media types (skopeo --format v2s2 --all)", async () => {
      const src = new OciLayoutSource(docker, "multi");
      const target = await src.resolve();
      assert.equal(target.mediaType, DOCKER_LIST);
      const { index, mediaType } = await readIndex(src, target);
      assert.equal(mediaType, DOCKER_LIST);
      assert.equal(index.manifests.length, 2);
      assert.deepEqual(await imagePlatforms(src, target), [
        { architecture: "amd64", os: "linux" },
        { architecture: "arm64", os: "linux", variant: "v8" },
      ]);
      const sel = await selectManifest(src, target, parsePlatform("linux/arm64/v8"));
      assert.equal(sel.descriptor.mediaType, DOCKER_MANIFEST);
      assert.equal(sel.manifest.mediaType, DOCKER_MANIFEST);
      assert.equal(
        sel.manifest.layers[0].mediaType,
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
      );
      assert.equal(
        sel.descriptor.digest,
        await sha256sum(
          `${docker}/blobs/sha256/${sel.descriptor.digest.slice(7)}`,
        ),
      );
      // readManifest refuses an index, readIndex a manifest, both an unknown type.
      await rejects(() => readManifest(src, target), UnsupportedError);
      await rejects(() => readIndex(src, sel.descriptor), UnsupportedError);
      const schema1 = "application/vnd.docker.distribution.manifest.v1+prettyjws";
      const u = await rejects(
        () => selectManifest(src, { ...target, mediaType: schema1 }, parsePlatform("linux/amd64")),
        UnsupportedError,
      );
      assert.equal(u.message, `unsupported image media type ${schema1}`);
    });

    await t.step("digest mismatch, size mismatch, missing blob, bad ranges", async () => {
      const bad = `${tmp}/corrupt`;
      await run("cp", ["-r", umoci, bad]);
      const src = new OciLayoutSource(bad, "app");
      const entry = await src.resolve();
      const { manifest } = await readManifest(src, entry);
      const cfgPath = `${bad}/blobs/sha256/${manifest.config.digest.slice(7)}`;
      // same size, one byte changed
      const cfg = await Deno.readFile(cfgPath);
      cfg[cfg.length - 2] ^= 0x01;
      await Deno.writeFile(cfgPath, cfg);
      const actual = await sha256sum(cfgPath);
      const e1 = await rejects(() => src.fetchBytes(manifest.config), BadInputError);
      assert.equal(
        e1.message,
        `OCI layout ${bad}: blob blobs/sha256/${manifest.config.digest.slice(7)} does not match ` +
          `its descriptor: expected ${manifest.config.digest}, got ${actual}`,
      );
      // one byte longer
      await Deno.writeFile(cfgPath, new Uint8Array([...cfg, 0x20]));
      const longer = await sha256sum(cfgPath);
      const e2 = await rejects(() => src.fetchBytes(manifest.config), BadInputError);
      assert.ok(e2.message.includes(`expected ${manifest.config.digest} (${cfg.length} bytes)`));
      assert.ok(e2.message.includes(`got ${longer} (${cfg.length + 1} bytes)`));
      // missing
      await Deno.remove(cfgPath);
      const e3 = await rejects(() => src.fetchBytes(manifest.config), NotFoundError);
      assert.equal(e3.message, `OCI layout ${bad}: blob ${manifest.config.digest} not found`);
      await rejects(() => src.openBlob(manifest.config), NotFoundError);
      assert.equal(await src.hasBlob(manifest.config), false);
      assert.equal(await src.hasBlob(manifest.layers[0]), true);
      // ranges
      const layer = manifest.layers[0];
      await rejects(() => src.readRange(layer, 0, layer.size + 1), BadInputError);
      await rejects(() => src.readRange(layer, 5, 4), BadInputError);
      await rejects(
        () => src.fetchBytes({ ...layer, digest: "sha256:../../etc" }),
        BadInputError,
      );
    });

    await t.step("layout blobs: whole, streamed in 64 KiB–1 MiB chunks, ranges", async () => {
      const src = new OciLayoutSource(py, "multi");
      await assertServesLayoutBlobs(src, py);
      const big = (await layoutBlobs(py)).at(-1)!;
      assert.ok(big.size > BIG);
      assert.ok((await streamChunks(await src.openBlob(big))).length >= 3);
    });

    // --- archives -------------------------------------------------------------------------
    const archives: Record<string, string> = {};
    archives.skopeo = `${tmp}/skopeo.tar`;
    await run("skopeo", [
      "copy",
      "-q",
      "--all",
      `oci:${py}:multi`,
      `oci-archive:${archives.skopeo}:multi`,
    ]);
    const pyOnly = `${tmp}/py-multi`; // the layout skopeo wrote, as a dir, for the tar variants
    await run("skopeo", ["copy", "-q", "--all", `oci:${py}:multi`, `oci:${pyOnly}:multi`]);
    archives.gnutar = `${tmp}/gnutar.tar`;
    await run("tar", ["-C", pyOnly, "-cf", archives.gnutar, "."]);
    archives.posix = `${tmp}/posix.tar`;
    await run("tar", ["--format=posix", "-C", pyOnly, "-cf", archives.posix, "."]);
    for (const style of ["pax-path", "gnu-long", "ustar-prefix"] as const) {
      archives[style] = `${tmp}/${style}.tar`;
      await pythonTar(pyOnly, archives[style], style);
    }

    await t.step("the archives are shaped as intended", async () => {
      const gnu = Object.keys(await pythonTarMembers(archives.gnutar));
      assert.ok(gnu.every((n) => n.startsWith("./")), gnu.join());
      const long = Object.keys(await pythonTarMembers(archives["gnu-long"]));
      assert.ok(long.every((n) => n.startsWith("./".repeat(20))), long.join());
      assert.ok(long.filter((n) => n.length > 100).length >= 5, long.join());
      const pax = await Deno.readFile(archives["pax-path"]);
      assert.ok(new TextDecoder().decode(pax).includes("wrong/"));
      const paxNames = Object.keys(await pythonTarMembers(archives["pax-path"]));
      assert.ok(paxNames.includes("index.json"));
    });

    for (const [name, file] of Object.entries(archives)) {
      await t.step(`archive (${name}): same target and byte-identical blobs`, async () => {
        const src = OciArchiveSource.fromReference(`oci-archive:${file}:multi`);
        assert.equal(src.storeName, "multi");
        assert.deepEqual(await src.resolve(), await entryFor(pyOnly, "multi"));
        assert.deepEqual(await src.resolve(), await new OciLayoutSource(py, "multi").resolve());
        await assertServesLayoutBlobs(src, pyOnly);
        const sel = await selectManifest(src, await src.resolve(), parsePlatform("linux/arm64"));
        assert.equal(sel.descriptor.digest, (await entryFor(py, "arm")).digest);
        // the only image, without a tag; storeName is the file's base name
        const untagged = new OciArchiveSource(file);
        assert.equal(untagged.storeName, file.slice(file.lastIndexOf("/") + 1));
        assert.deepEqual(await untagged.resolve(), await entryFor(pyOnly, "multi"));
        await rejects(() => new OciArchiveSource(file, "nope").resolve(), NotFoundError);
      });
    }

    await t.step("archive errors: missing file, not a tar, missing blob", async () => {
      const gone = await rejects(
        () => new OciArchiveSource(`${tmp}/none.tar`).resolve(),
        NotFoundError,
      );
      assert.equal(gone.message, `OCI archive ${tmp}/none.tar: no such file`);
      const junk = `${tmp}/junk.tar`;
      await Deno.writeFile(junk, new Uint8Array(4096).fill(0x41));
      const nt = await rejects(() => new OciArchiveSource(junk).resolve(), BadInputError);
      assert.equal(nt.message, `OCI archive ${junk}: not a tar archive`);
      // a tar whose layout lacks one blob
      const partial = `${tmp}/partial`;
      await run("cp", ["-r", pyOnly, partial]);
      const armEntry = await entryFor(py, "arm");
      await Deno.remove(`${partial}/blobs/sha256/${armEntry.digest.slice(7)}`);
      const partialTar = `${tmp}/partial.tar`;
      await run("tar", ["-C", partial, "-cf", partialTar, "."]);
      const src = new OciArchiveSource(partialTar, "multi");
      const e = await rejects(
        async () => selectManifest(src, await src.resolve(), parsePlatform("linux/arm64")),
        NotFoundError,
      );
      assert.equal(e.message, `OCI archive ${partialTar}: blob ${armEntry.digest} not found`);
      // truncated archive
      const cut = `${tmp}/cut.tar`;
      const full = await Deno.readFile(archives.gnutar);
      await Deno.writeFile(cut, full.subarray(0, full.length - 3 * 1024 * 1024));
      await rejects(() => new OciArchiveSource(cut).resolve(), BadInputError);
    });

    await t.step("archives are read in place: no temp files, archive dir unchanged", async () => {
      const emptyTmp = `${tmp}/empty-tmp`;
      await Deno.mkdir(emptyTmp);
      const archiveDir = `${tmp}/archive-dir`;
      await Deno.mkdir(archiveDir);
      await Deno.copyFile(archives.skopeo, `${archiveDir}/image.tar`);
      const before = [...Deno.readDirSync(archiveDir)].map((e) => e.name);
      const script = `${tmp}/read_archive.ts`;
      const lib = new URL("../lib/", import.meta.url).href;
      await Deno.writeTextFile(
        script,
        `import { OciArchiveSource } from "${lib}image/oci_archive.ts";
import { selectManifest } from "${lib}image/select.ts";
const src = new OciArchiveSource(Deno.args[0], "multi");
const sel = await selectManifest(src, await src.resolve(), { os: "linux", architecture: "amd64" });
let n = 0;
for (const layer of sel.manifest.layers) {
  for await (const c of await src.openBlob(layer)) n += c.length;
  await src.readRange(layer, 1, 100);
}
console.log(n);
`,
      );
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-read", script, `${archiveDir}/image.tar`],
        env: { TMPDIR: emptyTmp, DENO_NO_UPDATE_CHECK: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
      assert.ok(Number(new TextDecoder().decode(out.stdout)) > BIG);
      assert.deepEqual([...Deno.readDirSync(emptyTmp)], []);
      assert.deepEqual([...Deno.readDirSync(archiveDir)].map((e) => e.name), before);
    });
  });
});
