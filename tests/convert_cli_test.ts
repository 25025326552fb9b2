// The rest of the CLI with v2 indexes (issue 7): `index list` (MANIFEST VERSION, --json),
// `index info`, `index rm`, `ztoc list`, `rebuild-db` over a store holding the v1 index of
// `create` and the v2 index of `convert` of the same image (C§7, C§8, C§9).
import assert from "node:assert/strict";
import { join } from "node:path";
import { expectedPlatform } from "./helpers/convert_expect.ts";
import {
  dbRows,
  e2eImages,
  goTable,
  lines,
  sociOk,
  storedZtocs,
  withRoot,
  ztocOf,
} from "./helpers/create_e2e_images.ts";

const IMG = await e2eImages();
const L = IMG.layout;
const V1 = "application/vnd.amazon.soci.index.v1+json";
const V2 = "application/vnd.amazon.soci.index.v2+json";
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

Deno.test("index list/info/rm, ztoc list and rebuild-db with a v1 and a v2 index of the same image", async () => {
  await withRoot(async (root) => {
    const v1 = lines(
      (await sociOk(root, ["create", "-q", "--min-layer-size", "0", `oci:${L}:app`])).stdout,
    )[0];
    await sociOk(root, ["convert", "--min-layer-size", "0", `oci:${L}:app`, "app-soci"]);
    const { soci: v2, man } = await expectedPlatform(root, IMG.app);

    // index list: newest first, the MANIFEST VERSION column, the image names.
    const list = await sociOk(root, ["index", "list"]);
    const rows = await dbRows(root);
    const size = (d: string) => String(rows.find((r) => r.digest === d)!.size);
    const table = lines(list.stdout).map((l) => l.replace(/\d+s ago/, "1s ago"));
    assert.equal(
      table.join("\n") + "\n",
      goTable([
        ["DIGEST", "SIZE", "IMAGE REF", "PLATFORM", "MEDIA TYPE", "MANIFEST VERSION", "CREATED"],
        [v2.digest, size(v2.digest), "app-soci", "linux/amd64", OCI_MANIFEST, "v2", "1s ago"],
        [v1, size(v1), "app", "linux/amd64", OCI_MANIFEST, "v1", "1s ago"],
      ]),
    );
    const json = JSON.parse((await sociOk(root, ["index", "list", "--json"])).stdout);
    assert.deepEqual(
      json.map((
        r: Record<string, unknown>,
      ) => [r.digest, r.version, r.artifactType, r.manifestDigest]),
      [
        [v2.digest, "v2", V2, man.digest],
        [v1, "v1", V1, IMG.app.manifest.digest],
      ],
    );
    // --ref follows each image's own manifests: the rewritten one for the converted image.
    assert.equal(
      (await sociOk(root, ["index", "list", "-q", "--ref", "app-soci"])).stdout,
      `${v2.digest}\n`,
    );
    assert.equal((await sociOk(root, ["index", "list", "-q", "--ref", "app"])).stdout, `${v1}\n`);

    // index info of the v2 index: the stored document, indented (no subject, v2 config).
    const info = JSON.parse((await sociOk(root, ["index", "info", v2.digest])).stdout);
    assert.equal(info.config.mediaType, V2);
    assert.equal(info.subject, undefined);
    assert.equal(info.layers.length, 3);

    // One zTOC per layer serves both indexes.
    const zs = await storedZtocs(root);
    const want = await Promise.all(IMG.app.layers.map((l) => ztocOf(zs, l, 4194304)));
    assert.deepEqual(
      lines((await sociOk(root, ["ztoc", "list", "-q"])).stdout).sort(),
      want.map((z) => z.digest).sort(),
    );
    assert.deepEqual(
      lines((await sociOk(root, ["ztoc", "list", "-q", "--image-ref", "app-soci"])).stdout),
      want.map((z) => z.digest),
    );

    // rebuild-db keeps the v2 row (its blob is there); with the DB gone, only v1 indexes
    // come back (upstream never re-adds v2 indexes).
    await sociOk(root, ["rebuild-db"]);
    assert.deepEqual(lines((await sociOk(root, ["index", "list", "-q"])).stdout), [v2.digest, v1]);
    for (const f of ["artifacts.sqlite", "artifacts.sqlite-wal", "artifacts.sqlite-shm"]) {
      await Deno.remove(join(root, f)).catch(() => {});
    }
    await sociOk(root, ["rebuild-db"]);
    assert.deepEqual(lines((await sociOk(root, ["index", "list", "-q"])).stdout), [v1]);

    // Converted again, then removed by image: the v2 index goes, the v1 index stays.
    await sociOk(root, ["convert", "--min-layer-size", "0", `oci:${L}:app`, "app-soci"]);
    assert.equal(lines((await sociOk(root, ["index", "list", "-q"])).stdout).length, 2);
    await sociOk(root, ["index", "rm", "--ref", "app-soci"]);
    assert.deepEqual(lines((await sociOk(root, ["index", "list", "-q"])).stdout), [v1]);
    await sociOk(root, ["convert", "--min-layer-size", "0", `oci:${L}:app`, "app-soci"]);
    await sociOk(root, ["index", "rm", v2.digest]);
    assert.deepEqual(lines((await sociOk(root, ["index", "list", "-q"])).stdout), [v1]);
  });
});
