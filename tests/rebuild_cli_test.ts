// End-to-end tests of `soci rebuild-db` after real `soci create` runs (C§7, F§9,
// C§11.3 items 17 and 27): the CLI run as a process; the DB read with Python's sqlite3.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  dbRows,
  e2eImages,
  lines,
  MT,
  parseJson,
  soci,
  sociOk,
  storeBlob,
  treeListing,
  withRoot,
} from "./helpers/create_e2e_images.ts";

const IMG = await e2eImages();
const L = IMG.layout;

interface IndexJson {
  digest: string;
  size: number;
  manifestDigest: string;
  imageDigest: string;
  platform: string;
  mediaType: string;
  artifactType: string;
}

interface ZtocJson {
  digest: string;
  size: number;
  layerDigest: string;
  spanSize: number;
}

/** `index list --json` and `ztoc list --json` without creation times, sorted by digest. */
async function lists(root: string) {
  const byDigest = (a: { digest: string }, b: { digest: string }) =>
    a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0;
  const indexes = parseJson<Array<IndexJson & { createdAt: string }>>(
    (await sociOk(root, ["index", "list", "--json"])).stdout,
  ).map(({ createdAt: _, ...rest }) => rest).sort(byDigest);
  const ztocs = parseJson<Array<ZtocJson & { createdAt: string }>>(
    (await sociOk(root, ["ztoc", "list", "--json"])).stdout,
  ).map(({ createdAt: _, ...rest }) => rest).sort(byDigest);
  return { indexes, ztocs };
}

/** DB rows without the creation time. */
async function rowsWithoutTime(root: string) {
  return (await dbRows(root)).map(({ created_at_us: _, ...rest }) => rest);
}

async function removeDb(root: string): Promise<void> {
  for await (const e of Deno.readDir(root)) {
    if (e.name.startsWith("artifacts.sqlite")) await Deno.remove(join(root, e.name));
  }
}

/** Creates app, multi (all platforms), docker and sibling (span 65536) in `root`. */
async function populate(root: string): Promise<Record<string, string[]>> {
  const run = async (args: string[]) =>
    lines((await sociOk(root, ["create", "-q", "--min-layer-size", "0", ...args])).stdout);
  return {
    app: await run([`oci:${L}:app`]),
    multi: await run(["--all-platforms", `oci:${L}:multi`]),
    docker: await run([`oci:${L}:docker`]),
    sibling: await run(["--span-size", "65536", `oci:${L}:sibling`]),
  };
}

async function rebuild(root: string): Promise<void> {
  const r = await soci(root, ["rebuild-db"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout + r.stderr, "", "rebuild-db prints nothing on success");
}

Deno.test("rebuild-db: after deleting artifacts.sqlite*, index list and ztoc list show the same artifacts", async () => {
  await withRoot(async (root) => {
    const created = await populate(root);
    const before = await lists(root);
    const rowsBefore = await rowsWithoutTime(root);
    assert.equal(before.indexes.length, 5);
    assert.equal(before.ztocs.length, 3 + 3 + 2 + 2);

    await removeDb(root);
    assert.equal((await sociOk(root, ["index", "list", "-q"])).stdout, "");
    assert.equal((await sociOk(root, ["ztoc", "list", "-q"])).stdout, "");
    await rebuild(root);
    const after = await lists(root);

    // zTOCs: digest, size, layer digest and span size all come back.
    assert.deepEqual(after.ztocs, before.ztocs);
    // Indexes: digests, sizes, types, manifest and image digests come back.
    const key = (x: IndexJson) => ({
      digest: x.digest,
      size: x.size,
      manifestDigest: x.manifestDigest,
      imageDigest: x.imageDigest,
      mediaType: x.mediaType,
      artifactType: x.artifactType,
    });
    assert.deepEqual(after.indexes.map(key), before.indexes.map(key));
    for (const x of after.indexes) assert.equal(x.artifactType, MT.sociV1);
    // Platforms of single-manifest images and of the amd64 child come back as they were;
    // the arm64/v8 child comes back as some linux/arm64 platform.
    const arm = created.multi[1];
    for (const b of before.indexes) {
      const a = after.indexes.find((x) => x.digest === b.digest)!;
      if (b.digest === arm) assert.match(a.platform, /^linux\/arm64(\/v8)?$/);
      else assert.equal(a.platform, b.platform);
    }
    // F§9 rows field for field (the platform aside, as above).
    const noPlatform = (rows: Array<Record<string, unknown>>) =>
      rows.map(({ platform: _, ...rest }) => rest);
    assert.deepEqual(noPlatform(await rowsWithoutTime(root)), noPlatform(rowsBefore));
  });
});

Deno.test("rebuild-db: an intact DB is left exactly as it was", async () => {
  await withRoot(async (root) => {
    await sociOk(root, ["create", "-q", "--min-layer-size", "0", `oci:${L}:app`]);
    const rows = await dbRows(root);
    const tree = await treeListing(root); // the DB file's bytes included
    assert.ok(tree.some((l) => l.startsWith("artifacts.sqlite file ")), tree.join("\n"));
    await rebuild(root);
    assert.deepEqual(await dbRows(root), rows);
    assert.deepEqual(await treeListing(root), tree);
  });
});

Deno.test("rebuild-db: on a fresh root it creates the root and nothing in it", async () => {
  await withRoot(async (root) => {
    const r = await sociOk(root, ["rebuild-db"]);
    assert.equal(r.stdout + r.stderr, "");
    assert.deepEqual(await treeListing(root), []);
    assert.equal((await Deno.stat(root)).isDirectory, true);
  });
});

Deno.test("rebuild-db: rows of a deleted index blob go, its zTOCs (blobs present) stay", async () => {
  await withRoot(async (root) => {
    const created = await populate(root);
    const before = await lists(root);
    const app = created.app[0];
    await Deno.remove(storeBlob(root, app));
    await rebuild(root);
    const after = await lists(root);
    assert.deepEqual(after.indexes, before.indexes.filter((x) => x.digest !== app));
    assert.deepEqual(after.ztocs, before.ztocs);
    const info = await soci(root, ["index", "info", app]);
    assert.equal(info.code, 1);
    assert.equal(info.stderr, `soci: couldn't retrieve artifact for ${app}, not found\n`);
  });
});

Deno.test("rebuild-db: after deleting the index and zTOC blobs, 0 indexes and 0 zTOCs (C§11.3 item 27)", async () => {
  await withRoot(async (root) => {
    const [idx] = lines(
      (await sociOk(root, ["create", "-q", "--min-layer-size", "0", `oci:${L}:app`])).stdout,
    );
    const doc = JSON.parse(await Deno.readTextFile(storeBlob(root, idx)));
    assert.equal(doc.layers.length, 3);
    await Deno.remove(storeBlob(root, idx));
    for (const l of doc.layers) await Deno.remove(storeBlob(root, l.digest));
    await rebuild(root);
    assert.equal((await sociOk(root, ["index", "list", "-q"])).stdout, "");
    assert.equal((await sociOk(root, ["ztoc", "list", "-q"])).stdout, "");
    assert.deepEqual(await dbRows(root), []);
  });
});

Deno.test("rebuild-db: removing one image's index keeps the zTOCs it shares with another (C§11.3 item 17)", async () => {
  await withRoot(async (root) => {
    const base = ["create", "-q", "--min-layer-size", "0"];
    await sociOk(root, [...base, "--platform", "linux/amd64", `oci:${L}:multi`]);
    await sociOk(root, [...base, `oci:${L}:sibling`]);
    const multiZtocs = (await sociOk(root, ["ztoc", "list", "--image-ref", "multi"])).stdout;
    assert.equal(lines(multiZtocs).length, 3);
    const shared = IMG.sibling.layers[0].desc.digest;
    assert.ok(multiZtocs.includes(shared));

    await sociOk(root, ["index", "rm", "--ref", "sibling"]);
    await rebuild(root);
    assert.equal((await sociOk(root, ["ztoc", "list", "--image-ref", "multi"])).stdout, multiZtocs);
    assert.equal(lines((await sociOk(root, ["index", "list", "-q"])).stdout).length, 1);
    // zTOC rows are never dropped while their blobs exist (the sibling's own one included).
    assert.equal(lines((await sociOk(root, ["ztoc", "list", "-q"])).stdout).length, 3);
  });
});

Deno.test("rebuild-db: after a rebuild, ztoc info and get-file work from the rebuilt rows", async () => {
  await withRoot(async (root) => {
    await sociOk(root, ["create", "-q", "--min-layer-size", "0", `oci:${L}:app`]);
    await removeDb(root);
    await rebuild(root);
    const ztocs = parseJson<ZtocJson[]>((await sociOk(root, ["ztoc", "list", "--json"])).stdout);
    const small = ztocs.find((z) => z.layerDigest === IMG.app.layers[0].desc.digest)!;
    const info = JSON.parse((await sociOk(root, ["ztoc", "info", "--json", small.digest])).stdout);
    assert.deepEqual(info.files.map((f: { filename: string }) => f.filename), [
      "etc/",
      "etc/hello.txt",
    ]);
    const r = await sociOk(root, ["ztoc", "get-file", small.digest, "etc/hello.txt"]);
    assert.equal(r.stdout, "hello soci\n");
  });
});
