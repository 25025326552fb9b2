/**
 * `soci convert` with containerd as the destination (`containerd:NAME`, and
 * bare names that are containerd images), against a real containerd 1.6
 * started per test: the CLI run as `deno run cli.ts` processes, images
 * brought in with `ctr images import`, what containerd holds read with
 * `ctr`. The expected image is what `convert … oci:DIR` writes for the same
 * source and flags (a layout with nothing else in it): the same index
 * digest, and every blob of that layout in containerd with the same bytes;
 * the expected GC labels are worked out here from the layout's JSON
 * documents.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  ctrActiveIngests,
  ctrContentDigests,
  ctrContentLabels,
  ctrGc,
  ctrImageLabels,
  ctrImport,
  ctrLeaseIds,
  ociArchive,
  startContainerd,
  type TestContainerd,
} from "./helpers/containerd.ts";
import { randomBytes } from "./helpers/bytes.ts";
import { e2eImages, lines, soci, sociOk, tempDir, toolOk } from "./helpers/create_e2e_images.ts";

const IMG = await e2eImages();
const L = IMG.layout;
const REPO = new URL("..", import.meta.url).pathname;
const DEC = new TextDecoder();
const SOCI_V2 = "application/vnd.amazon.soci.index.v2+json";
const SOCI_LABEL = "containerd.io/gc.ref.content.soci-index";
const REF = "containerd.io/gc.ref.content.";

/** A scratch folder removed when the module unloads. */
async function scratchDir(prefix: string): Promise<string> {
  const dir = await tempDir(prefix);
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // already gone
    }
  });
  return dir;
}

/** Archives (skopeo) of the test images, for `ctr images import`. */
const ARCHIVES = await (async () => {
  const dir = await scratchDir("soci-ctrdw-archives-");
  for (const tag of ["app", "multi", "corrupt"]) {
    await ociArchive(L, tag, join(dir, `${tag}.tar`));
  }
  return dir;
})();

/** What `convert … oci:DIR` writes: the new index's digest and every blob of the layout. */
interface Expected {
  digest: string;
  blobs: Map<string, Uint8Array>;
}

/** `convert --min-layer-size 0 [args] oci:L:TAG oci:OUT:TAG` into a fresh layout. */
async function expectedOf(dir: string, tag: string, args: string[] = []): Promise<Expected> {
  const out = join(dir, tag);
  await sociOk(join(dir, "root"), [
    "convert",
    "--min-layer-size",
    "0",
    ...args,
    `oci:${L}:${tag}`,
    `oci:${out}:${tag}`,
  ]);
  return { digest: layoutTarget(out), blobs: await layoutBlobs(out) };
}

/** The digest `index.json` of a layout names (its only entry). */
function layoutTarget(dir: string): string {
  const index = JSON.parse(Deno.readTextFileSync(join(dir, "index.json")));
  assert.equal(index.manifests.length, 1);
  return index.manifests[0].digest;
}

/** Every blob file of a layout, by digest (each file's name checked by sha256sum). */
async function layoutBlobs(dir: string): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  const folder = join(dir, "blobs", "sha256");
  for await (const e of Deno.readDir(folder)) {
    const sum = new Deno.Command("sha256sum", { args: [join(folder, e.name)] }).outputSync();
    assert.equal(DEC.decode(sum.stdout).split(" ")[0], e.name);
    out.set(`sha256:${e.name}`, await Deno.readFile(join(folder, e.name)));
  }
  return out;
}

const EXPECTED = await (async () => {
  const dir = await scratchDir("soci-ctrdw-expected-");
  return {
    app: await expectedOf(dir, "app"),
    multi: await expectedOf(dir, "multi", ["--all-platforms"]),
  };
})();

/**
 * The GC labels a document of the expected graph must carry: an index
 * `m.<i>` → `manifests[i]`; a SOCI index `config` and `ztoc.<i>`; an image
 * manifest `config` and `l.<i>`; nothing for other blobs.
 */
function expectedLabels(bytes: Uint8Array): Record<string, string> {
  if (bytes[0] !== 0x7b) return {};
  const doc = JSON.parse(DEC.decode(bytes));
  const labels: Record<string, string> = {};
  if (Array.isArray(doc.manifests)) {
    doc.manifests.forEach((m: { digest: string }, i: number) => labels[`${REF}m.${i}`] = m.digest);
  } else if (doc.config && Array.isArray(doc.layers)) {
    labels[`${REF}config`] = doc.config.digest;
    const kind = doc.config.mediaType === SOCI_V2 ? "ztoc" : "l";
    doc.layers.forEach((l: { digest: string }, i: number) =>
      labels[`${REF}${kind}.${i}`] = l.digest
    );
  }
  return labels;
}

/** The SOCI indexes an expected image lists (the v2 entries of its index). */
function sociIndexes(e: Expected): string[] {
  const index = JSON.parse(DEC.decode(e.blobs.get(e.digest)!));
  return index.manifests.filter((m: { artifactType?: string }) => m.artifactType === SOCI_V2)
    .map((m: { digest: string }) => m.digest);
}

/** Image records and their targets, from `ctr images ls`. */
async function targets(c: TestContainerd, ns?: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const line of (await c.ctr(["images", "ls"], ns)).split("\n").slice(1)) {
    const m = /^(\S+)\s+\S+\s+(sha256:[0-9a-f]{64})\s/.exec(line);
    if (m) out.set(m[1], m[2]);
  }
  return out;
}

/**
 * Asserts that containerd holds every blob of `e` with the same bytes, the
 * documents with their GC labels (besides others they may have).
 */
async function assertHolds(c: TestContainerd, e: Expected, ns?: string): Promise<void> {
  const labels = await ctrContentLabels(c, ns);
  for (const [digest, bytes] of e.blobs) {
    assert.ok(labels.has(digest), `${digest} is not in containerd`);
    assert.deepEqual(await c.ctrBytes(["content", "get", digest], ns), bytes, digest);
    const want = expectedLabels(bytes);
    const got = labels.get(digest)!;
    for (const [k, v] of Object.entries(want)) assert.equal(got[k], v, `${digest} ${k}`);
  }
}

async function withDaemon(
  fn: (c: TestContainerd, root: string, scratch: string) => Promise<void>,
): Promise<void> {
  const c = await startContainerd();
  const scratch = await tempDir("soci-ctrdw-");
  try {
    await fn(c, join(scratch, "root"), scratch);
  } finally {
    await c.stop();
    await Deno.remove(scratch, { recursive: true });
  }
}

/** Imports test images as `docker.io/library/img:<tag>`. */
async function importImages(c: TestContainerd, tags: string[], ns?: string): Promise<void> {
  for (const tag of tags) {
    await ctrImport(c, join(ARCHIVES, `${tag}.tar`), {
      baseName: "docker.io/library/img",
      namespace: ns,
    });
  }
}

const sorted = (a: Iterable<string>) => [...a].sort();

Deno.test("convert to containerd: containerd:NAME → containerd:NAME2 and in place (bare names): the oci: output's image, kept by its record alone", async () => {
  await withDaemon(async (c, root) => {
    await importImages(c, ["app"]);
    await ctrGc(c);
    const before = sorted(await ctrContentDigests(c));
    const original = (await targets(c)).get("docker.io/library/img:app")!;
    assert.equal(original, IMG.app.manifest.digest);
    const g = ["--address", c.socket];

    const r = await sociOk(root, [
      ...g,
      "convert",
      "--min-layer-size",
      "0",
      "containerd:img:app",
      "containerd:img:app-soci",
    ]);
    assert.match(
      r.stdout,
      new RegExp(`soci-enabled image ${EXPECTED.app.digest} written to containerd:img:app-soci\n$`),
    );
    assert.deepEqual(
      Object.fromEntries(await targets(c)),
      {
        "docker.io/library/img:app": original,
        "docker.io/library/img:app-soci": EXPECTED.app.digest,
      },
    );
    assert.deepEqual(await ctrLeaseIds(c), []);
    // Only the record keeps the new content now: the GC leaves all of it.
    await ctrGc(c);
    await assertHolds(c, EXPECTED.app);
    // The local store knows the image under its record's name, with its SOCI index.
    const listed = lines((await sociOk(root, ["index", "list", "-q"])).stdout);
    assert.deepEqual(listed, sociIndexes(EXPECTED.app));
    const images = await sociOk(root, ["index", "list"]);
    assert.match(images.stdout, /docker\.io\/library\/img:app-soci/);

    // Without the record, the GC takes everything the convert added.
    await c.ctr(["images", "rm", "docker.io/library/img:app-soci"]);
    await ctrGc(c);
    assert.deepEqual(sorted(await ctrContentDigests(c)), before);

    // In place, by bare names (the local store lacks img:app, containerd has it):
    // only the target moves, the record's labels stay.
    await c.ctr(["images", "label", "docker.io/library/img:app", "x.test/keep=yes"]);
    const inPlace = await sociOk(root, [
      ...g,
      "convert",
      "--min-layer-size",
      "0",
      "img:app",
      "img:app",
    ]);
    assert.match(inPlace.stdout, new RegExp(`image ${EXPECTED.app.digest} written to img:app\n$`));
    assert.deepEqual(
      Object.fromEntries(await targets(c)),
      { "docker.io/library/img:app": EXPECTED.app.digest },
    );
    assert.deepEqual((await ctrImageLabels(c)).get("docker.io/library/img:app"), {
      "x.test/keep": "yes",
    });
    assert.deepEqual(await ctrLeaseIds(c), []);
    await ctrGc(c);
    await assertHolds(c, EXPECTED.app);
    // The old manifest is referenced by nothing now.
    const after = new Set(await ctrContentDigests(c));
    assert.ok(!after.has(original));
    assert.deepEqual(sorted(after), sorted(EXPECTED.app.blobs.keys()));
  });
});

Deno.test("convert to containerd with --content-store containerd: the record also keeps the SOCI indexes (upstream's labels); bare names are containerd images", async () => {
  await withDaemon(async (c, root) => {
    await importImages(c, ["multi"]);
    await ctrGc(c);
    const before = sorted(await ctrContentDigests(c));
    const g = ["--content-store", "containerd", "--address", c.socket];
    const convert = (from: string, to: string) =>
      sociOk(root, [...g, "convert", "-q", "--min-layer-size", "0", "--all-platforms", from, to]);
    const r = await convert("containerd:img:multi", "containerd:img:multi-soci");
    assert.equal(r.stdout, `${EXPECTED.multi.digest}\n`);
    const r2 = await convert("img:multi", "img:multi-2");
    assert.equal(r2.stdout, `${EXPECTED.multi.digest}\n`);
    const t = await targets(c);
    assert.equal(t.get("docker.io/library/img:multi-soci"), EXPECTED.multi.digest);
    assert.equal(t.get("docker.io/library/img:multi-2"), EXPECTED.multi.digest);
    assert.equal(t.get("docker.io/library/img:multi"), IMG.multi.index.digest);
    const indexes = sociIndexes(EXPECTED.multi);
    assert.equal(indexes.length, 2);
    const labels = (await ctrImageLabels(c)).get("docker.io/library/img:multi-soci")!;
    for (const d of indexes) assert.equal(labels[`${SOCI_LABEL}.${d.slice(7)}`], d);
    assert.ok(indexes.includes(labels[SOCI_LABEL]));
    assert.deepEqual(await ctrLeaseIds(c), []);
    await ctrGc(c);
    await assertHolds(c, EXPECTED.multi);
    assert.deepEqual(
      sorted(
        lines(
          (await sociOk(root, [...g, "index", "list", "-q", "--ref", "img:multi-soci"])).stdout,
        ),
      ),
      sorted(indexes),
    );

    await c.ctr([
      "images",
      "rm",
      "docker.io/library/img:multi-soci",
      "docker.io/library/img:multi-2",
    ]);
    await ctrGc(c);
    assert.deepEqual(sorted(await ctrContentDigests(c)), before);
  });
});

Deno.test("convert to containerd: oci: into an empty namespace streams every blob in; containerd:NAME → oci:DIR gives the same image", async () => {
  await withDaemon(async (c, root, scratch) => {
    await sociOk(root, [
      "--address",
      c.socket,
      "--namespace",
      "fresh",
      "convert",
      "--min-layer-size",
      "0",
      `oci:${L}:app`,
      "containerd:app",
    ]);
    assert.deepEqual(Object.fromEntries(await targets(c, "fresh")), {
      "docker.io/library/app:latest": EXPECTED.app.digest,
    });
    assert.deepEqual(await ctrLeaseIds(c, "fresh"), []);
    await ctrGc(c, "fresh");
    assert.deepEqual(
      sorted(await ctrContentDigests(c, "fresh")),
      sorted(EXPECTED.app.blobs.keys()),
    );
    await assertHolds(c, EXPECTED.app, "fresh");

    // Back out of containerd: converting the SOCI-enabled image changes nothing;
    // the source image gives the same layout as oci: did.
    const out = join(scratch, "out");
    const again = await sociOk(root, [
      "--address",
      c.socket,
      "--namespace",
      "fresh",
      "convert",
      "containerd:app",
      `oci:${out}:x`,
    ]);
    assert.match(again.stdout, new RegExp(`image ${EXPECTED.app.digest} is already SOCI-enabled`));
    assert.equal(layoutTarget(out), EXPECTED.app.digest);
    await importImages(c, ["app"]);
    const out2 = join(scratch, "out2");
    await sociOk(root, [
      "--address",
      c.socket,
      "convert",
      "--min-layer-size",
      "0",
      "containerd:img:app",
      `oci:${out2}:app`,
    ]);
    assert.equal(layoutTarget(out2), EXPECTED.app.digest);
    assert.deepEqual(await layoutBlobs(out2), EXPECTED.app.blobs);
  });
});

Deno.test("convert to containerd: failures leave no record change, no lease, no ingest, and nothing the GC keeps", async () => {
  await withDaemon(async (c, root) => {
    await importImages(c, ["app", "corrupt"]);
    await c.ctr(["images", "label", "docker.io/library/img:app", "x.test/keep=yes"]);
    await ctrGc(c);
    const before = sorted(await ctrContentDigests(c));
    const records = await targets(c);
    const labels = await ctrImageLabels(c);
    const g = ["--address", c.socket];
    const fails = async (args: string[], ns?: string, stdout: string | RegExp = "") => {
      const r = await soci(root, [...g, ...(ns ? ["--namespace", ns] : []), "convert", ...args]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      if (typeof stdout === "string") assert.equal(r.stdout, stdout);
      else assert.match(r.stdout, stdout);
      assert.equal(lines(r.stderr).length, 1, r.stderr);
      return r.stderr;
    };
    // The corrupt image's first layer got its zTOC (written to containerd) before the failure.
    const firstZtoc = new RegExp(
      `^layer ${IMG.corrupt.layers[0].desc.digest} -> ztoc sha256:[0-9a-f]{64}\n$`,
    );
    const unchanged = async () => {
      assert.deepEqual(await targets(c), records);
      assert.deepEqual(await ctrImageLabels(c), labels);
      assert.deepEqual(await ctrLeaseIds(c), []);
      assert.deepEqual(await ctrActiveIngests(c), []);
      assert.deepEqual(sorted(await ctrContentDigests(c)), before);
      await ctrGc(c);
      assert.deepEqual(sorted(await ctrContentDigests(c)), before);
    };

    // No containerd at that address.
    const missing = await soci(root, [
      "--address",
      "/nonexistent/containerd.sock",
      "convert",
      `oci:${L}:app`,
      "containerd:img:x",
    ]);
    assert.equal(missing.code, 1);
    assert.match(
      missing.stderr,
      /^soci: containerd socket \/nonexistent\/containerd\.sock does not exist/,
    );
    assert.equal(lines(missing.stderr).length, 1);
    // An image containerd does not have.
    assert.match(
      await fails(["containerd:img:nope", "containerd:img:x"]),
      /^soci: image "docker.io\/library\/img:nope": not found in containerd namespace default\n$/,
    );
    // A digest in the destination's name.
    assert.match(
      await fails([`oci:${L}:app`, `containerd:img@${IMG.app.manifest.digest}`]),
      /must not contain a digest/,
    );
    await unchanged();

    // A corrupt second layer: the first one and its zTOC were written, then the
    // convert failed; the existing record (with its label) is untouched.
    assert.match(
      await fails(
        ["--min-layer-size", "0", `oci:${L}:corrupt`, "containerd:img:app"],
        undefined,
        firstZtoc,
      ),
      /gzip|corrupt|invalid/i,
    );
    await unchanged();
    // The same from containerd itself, in place.
    await fails(["--min-layer-size", "0", "img:corrupt", "img:corrupt"], undefined, firstZtoc);
    await unchanged();
    // Into an empty namespace: nothing stays there.
    await fails(
      ["--min-layer-size", "0", `oci:${L}:corrupt`, "containerd:img:bad"],
      "bad",
      firstZtoc,
    );
    assert.deepEqual(await targets(c, "bad"), new Map());
    assert.deepEqual(await ctrLeaseIds(c, "bad"), []);
    assert.deepEqual(await ctrActiveIngests(c, "bad"), []);
    assert.deepEqual(await ctrContentDigests(c, "bad"), []);
  });
});

Deno.test("convert to containerd: the documented permissions are enough", async () => {
  await withDaemon(async (c, root) => {
    await importImages(c, ["app"]);
    const { permissions } = (await import("../lib/commands/convert.ts")).convertCommand;
    const line = permissions!.find((p) => p.startsWith("containerd:"))!;
    const perms = line.slice(line.indexOf(" ") + 1)
      .replaceAll("<root>", root)
      .replaceAll("<checkout>", REPO)
      .replaceAll("<sock>", c.socket)
      .split(" ");
    await Deno.mkdir(root, { recursive: true });
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        "--no-prompt",
        ...perms,
        join(REPO, "cli.ts"),
        "--root",
        root,
        "--address",
        c.socket,
        "convert",
        "-q",
        "--min-layer-size",
        "0",
        "img:app",
        "containerd:img:app-soci",
      ],
      env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, DEC.decode(out.stderr));
    assert.equal(DEC.decode(out.stdout), `${EXPECTED.app.digest}\n`);
    assert.equal((await targets(c)).get("docker.io/library/img:app-soci"), EXPECTED.app.digest);
    assert.deepEqual(await ctrLeaseIds(c), []);
  });
});

Deno.test("convert to containerd: the lease of a writer killed with SIGKILL goes when the next convert opens, and the GC takes what it held", async () => {
  await withDaemon(async (c, root) => {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        join(REPO, "tests", "helpers", "containerd_writer_killer.ts"),
        c.socket,
        "default",
        "img:killed",
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    const m = /^READY (sha256:[0-9a-f]{64})\n/.exec(text);
    assert.ok(m, text);
    const blob = m[1];
    assert.deepEqual(await ctrContentDigests(c), [blob]);
    assert.equal((await ctrLeaseIds(c)).length, 1);
    Deno.kill(child.pid, "SIGKILL");
    await child.status;
    await reader.cancel().catch(() => {});
    // Killed: the lease is left and holds the blob.
    await ctrGc(c);
    assert.deepEqual(await ctrContentDigests(c), [blob]);
    assert.equal((await ctrLeaseIds(c)).length, 1);

    // The next convert to containerd drops it (its owner is gone); the blob goes with it.
    await sociOk(root, [
      "--address",
      c.socket,
      "convert",
      "--min-layer-size",
      "0",
      `oci:${L}:app`,
      "containerd:img:next",
    ]);
    assert.deepEqual(await ctrLeaseIds(c), []);
    assert.deepEqual(Object.fromEntries(await targets(c)), {
      "docker.io/library/img:next": EXPECTED.app.digest,
    });
    assert.ok(!(await ctrContentDigests(c)).includes(blob));
  });
});

Deno.test("ContainerdImageWriter: streamed blobs, existing blobs, bad bytes, abort, and labels added to documents containerd had", async () => {
  const { ContainerdImageWriter } = await import("../lib/image/containerd_writer.ts");
  const { createHash } = await import("node:crypto");
  const sha = (b: Uint8Array) => "sha256:" + createHash("sha256").update(b).digest("hex");
  const ENC = new TextEncoder();
  await withDaemon(async (c) => {
    const open = (name: string) =>
      ContainerdImageWriter.open(`containerd:${name}`, { address: c.socket, namespace: "w" });
    const layer = randomBytes(3_000_000, 7);
    const layerDesc = {
      mediaType: "application/vnd.oci.image.layer.v1.tar",
      digest: sha(layer),
      size: layer.length,
    };
    const feed = async (sink: { write(c: Uint8Array): Promise<void> }, bytes: Uint8Array) => {
      // Chunks of 64 KiB from one reused buffer: the sink must not keep them.
      const buf = new Uint8Array(65536);
      for (let off = 0; off < bytes.length; off += buf.length) {
        const n = Math.min(buf.length, bytes.length - off);
        buf.set(bytes.subarray(off, off + n));
        await sink.write(buf.subarray(0, n));
      }
    };

    const w1 = await open("one");
    assert.equal(w1.storeName, "docker.io/library/one:latest");
    assert.equal(w1.layerSource, "containerd:docker.io/library/one:latest");
    assert.equal(await w1.obtain(layerDesc), false);
    const sink = await w1.openBlob(layerDesc);
    await feed(sink, layer);
    await sink.commit();
    assert.deepEqual(await c.ctrBytes(["content", "get", layerDesc.digest], "w"), layer);
    assert.equal(await w1.obtain(layerDesc), true);
    // The same blob again: the write ends early, the rest of the bytes are dropped.
    const again = await w1.openBlob(layerDesc);
    await feed(again, layer);
    await again.commit();
    // Other bytes than the descriptor's: the commit fails, nothing is left.
    const wrong = layer.slice();
    wrong[5] ^= 1;
    const wrongDesc = { ...layerDesc, digest: sha(ENC.encode("no such blob")) };
    const bad = await w1.openBlob(wrongDesc);
    await feed(bad, wrong);
    await assert.rejects(bad.commit(), /does not match its descriptor/);
    // Aborted half way: nothing is left either.
    const half = await w1.openBlob({ ...layerDesc, digest: sha(wrong) });
    await feed(half, wrong.subarray(0, 1_000_000));
    await half.abort();
    assert.deepEqual(await ctrActiveIngests(c, "w"), []);
    assert.deepEqual(await ctrContentDigests(c, "w"), [layerDesc.digest]);
    await w1.abort();
    await w1.close();
    // The lease is gone and the GC took the blob only it held.
    assert.deepEqual(await ctrLeaseIds(c, "w"), []);
    assert.deepEqual(await ctrContentDigests(c, "w"), []);

    // A manifest containerd has without labels gets them; the record is made last.
    const config = ENC.encode('{"architecture":"amd64","os":"linux"}');
    const configDesc = {
      mediaType: "application/vnd.oci.image.config.v1+json",
      digest: sha(config),
      size: config.length,
    };
    const manifest = ENC.encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: configDesc,
      layers: [layerDesc],
    }));
    const manifestDesc = {
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: sha(manifest),
      size: manifest.length,
    };
    await toolOk("ctr", [
      "-a",
      c.socket,
      "-n",
      "w",
      "content",
      "ingest",
      "--expected-digest",
      manifestDesc.digest,
      "--expected-size",
      String(manifest.length),
      "m-ingest",
    ], manifest);
    assert.deepEqual(await ctrContentDigests(c, "w"), [manifestDesc.digest]);
    assert.deepEqual((await ctrContentLabels(c, "w")).get(manifestDesc.digest), {});
    const w2 = await open("two");
    const fetch = (d: { digest: string }) =>
      Promise.resolve(
        d.digest === manifestDesc.digest
          ? manifest
          : d.digest === configDesc.digest
          ? config
          : layer,
      );
    const events: string[] = [];
    await w2.commit(manifestDesc, fetch, {
      onEvent: (e) => events.push(`${e.kind} ${e.desc.digest}`),
    });
    await w2.close();
    assert.deepEqual(events.at(-1), `tagged ${manifestDesc.digest}`);
    assert.deepEqual(Object.fromEntries(await targets(c, "w")), {
      "docker.io/library/two:latest": manifestDesc.digest,
    });
    assert.deepEqual(await ctrLeaseIds(c, "w"), []);
    await ctrGc(c, "w");
    const labels = await ctrContentLabels(c, "w");
    assert.deepEqual(labels.get(manifestDesc.digest), {
      [`${REF}config`]: configDesc.digest,
      [`${REF}l.0`]: layerDesc.digest,
    });
    assert.deepEqual(
      sorted(labels.keys()),
      sorted([manifestDesc.digest, configDesc.digest, layerDesc.digest]),
    );
  });
});

Deno.test("convert to containerd: a partially present image stays partial (the platform it lacks is kept as is)", async () => {
  await withDaemon(async (c, root, scratch) => {
    await importImages(c, ["multi"]);
    const arm = IMG.multi.arm64;
    await c.ctr(["content", "rm", arm.manifest.digest]);
    const r = await sociOk(root, [
      "--address",
      c.socket,
      "convert",
      "--min-layer-size",
      "0",
      "--platform",
      "linux/amd64",
      "img:multi",
      "containerd:img:multi-soci",
    ]);
    const expected = await expectedOf(scratch, "multi", ["--platform", "linux/amd64"]);
    assert.match(
      r.stdout,
      new RegExp(`image ${expected.digest} written to containerd:img:multi-soci\n$`),
    );
    assert.equal((await targets(c)).get("docker.io/library/img:multi-soci"), expected.digest);
    assert.deepEqual(await ctrLeaseIds(c), []);
    await ctrGc(c);
    // Everything but the arm64 manifest (and what only it referenced) is there and kept.
    const held = new Set(await ctrContentDigests(c));
    const armOnly = new Set([arm.config.digest, ...arm.layers.map((l) => l.desc.digest)]);
    for (const l of IMG.multi.amd64.layers) armOnly.delete(l.desc.digest);
    const lacking = [...expected.blobs.keys()].filter((d) => !held.has(d));
    assert.deepEqual(sorted(lacking), sorted([arm.manifest.digest, ...armOnly]));
    await assertHolds(c, {
      digest: expected.digest,
      blobs: new Map([...expected.blobs].filter(([d]) => held.has(d))),
    });
    // The new index still lists the arm64 manifest (its GC label too).
    const index = JSON.parse(DEC.decode(await c.ctrBytes(["content", "get", expected.digest])));
    assert.ok(index.manifests.some((m: { digest: string }) => m.digest === arm.manifest.digest));
  });
});
