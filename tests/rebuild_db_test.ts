import assert from "node:assert/strict";
import { join } from "node:path";
import { BadInputError } from "../lib/errors.ts";
import { ArtifactsDb } from "../lib/store/artifacts_db.ts";
import { LocalStore } from "../lib/store/local_store.ts";
import { rebuildDb } from "../lib/use_cases/rebuild.ts";
import { artifactsDbPath } from "../lib/store/root.ts";
import {
  blob,
  buildFixture,
  layerDigest,
  OCI_MANIFEST,
  SOCI_V1,
  SOCI_V2,
  sociIndex,
  withoutTime,
  ztocBytes,
  ztocDesc,
  ztocRow,
} from "./helpers/store_fixture.ts";
import { snapshotTree } from "./helpers/store_tree.ts";

async function withStore(
  fn: (store: LocalStore, db: ArtifactsDb, root: string) => Promise<void>,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "soci-rebuild-test-" });
  const db = ArtifactsDb.open(artifactsDbPath(root));
  try {
    await fn(LocalStore.open(root, { db }), db, root);
  } finally {
    db.close();
    await Deno.remove(root, { recursive: true });
  }
}

async function deleteDb(root: string): Promise<void> {
  for (const suffix of ["", "-wal", "-shm"]) {
    await Deno.remove(artifactsDbPath(root) + suffix).catch(() => {});
  }
}

Deno.test("rebuild-db on an intact DB changes nothing", async () => {
  await withStore(async (store, db) => {
    const fx = await buildFixture(store);
    const before = db.all();
    assert.deepEqual(before, fx.rows);
    assert.deepEqual(await rebuildDb(store), { removed: [], added: [] });
    assert.deepEqual(db.all(), before);
  });
});

Deno.test("delete the DB, rebuild-db: same index and zTOC rows (except created times)", async () => {
  await withStore(async (store, db0, root) => {
    const fx = await buildFixture(store);
    const indexesBefore = db0.listIndexes().map((r) => r.digest).sort();
    const ztocsBefore = db0.listZtocs();
    db0.close();
    await deleteDb(root);
    const contentBefore = await snapshotTree(join(root, "content"));

    const db = ArtifactsDb.open(artifactsDbPath(root));
    try {
      assert.deepEqual(db.all(), []);
      const now = new Date(1_800_000_000_000);
      const result = await rebuildDb(LocalStore.open(root, { db }), { now });
      assert.deepEqual(result.removed, []);
      assert.deepEqual(result.added, fx.rows.map((r) => r.digest));
      // Field for field against the rows `create` wrote, created time = now.
      assert.deepEqual(db.all(), fx.rows.map((r) => ({ ...r, createdAt: now })));
      assert.deepEqual(db.listIndexes().map((r) => r.digest).sort(), indexesBefore);
      assert.deepEqual(db.listZtocs().map(withoutTime), ztocsBefore.map(withoutTime));
      // The content store is only read.
      assert.deepEqual(await snapshotTree(join(root, "content")), contentBefore);
    } finally {
      db.close();
    }
  });
});

Deno.test("rebuild-db drops rows whose blob is gone (index and zTOC)", async () => {
  await withStore(async (store, db) => {
    const fx = await buildFixture(store);
    const { S2, Z2 } = fx.blobs;
    await Deno.remove(store.blobPath(S2.digest));
    await Deno.remove(store.blobPath(Z2.digest));
    const result = await rebuildDb(store);
    assert.deepEqual(result, { removed: [S2.digest, Z2.digest].sort(), added: [] });
    assert.deepEqual(
      db.all(),
      fx.rows.filter((r) => r.digest !== S2.digest && r.digest !== Z2.digest),
    );
  });
});

Deno.test("rebuild-db on a missing store empties the DB and creates nothing", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "soci-rebuild-test-" });
  try {
    const root = join(tmp, "root");
    await Deno.mkdir(root);
    const db = ArtifactsDb.open(artifactsDbPath(root));
    try {
      const z = ztocBytes(9);
      db.put(ztocRow(z, layerDigest(9), 4194304));
      const result = await rebuildDb(LocalStore.open(root, { db }));
      assert.deepEqual(result, { removed: [z.digest], added: [] });
      assert.deepEqual(db.all(), []);
    } finally {
      db.close();
    }
    assert.deepEqual(await snapshotTree(root, /^artifacts\.sqlite/), []);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("rebuild-db never re-adds v2 indexes, but keeps their rows while the blob exists", async () => {
  await withStore(async (store, db, root) => {
    const z = ztocBytes(6);
    const v2 = sociIndex([ztocDesc(z, layerDigest(6), "4194304")], undefined, SOCI_V2);
    const v1NoSubject = sociIndex([ztocDesc(z, layerDigest(6), "4194304")]);
    const tx = store.begin();
    for (const b of [v2, v1NoSubject, z, blob("{}")]) await tx.putBlob(b.bytes);
    const v2Row = {
      digest: v2.digest,
      size: v2.size,
      location: layerDigest(7),
      originalDigest: layerDigest(7),
      imageDigest: layerDigest(8),
      platform: "linux/amd64",
      type: "soci_index" as const,
      mediaType: OCI_MANIFEST,
      artifactType: SOCI_V2,
      spanSize: 0,
      createdAt: new Date(1_700_000_000_000),
    };
    tx.putRecord(v2Row);
    await tx.commit();
    assert.deepEqual(await rebuildDb(store), { removed: [], added: [] });
    assert.deepEqual(db.all(), [v2Row]);

    db.close();
    await deleteDb(root);
    const db2 = ArtifactsDb.open(artifactsDbPath(root));
    try {
      assert.deepEqual(await rebuildDb(LocalStore.open(root, { db: db2 })), {
        removed: [],
        added: [],
      });
      assert.deepEqual(db2.all(), []);
    } finally {
      db2.close();
    }
  });
});

Deno.test("rebuild-db: a bad span-size annotation fails with upstream's message, DB unchanged", async () => {
  await withStore(async (store, db) => {
    const z = ztocBytes(7);
    const subject = blob('{"schemaVersion":2}');
    const bad = sociIndex([ztocDesc(z, layerDigest(7), "4MiB")], subject);
    const stale = ztocBytes(8); // a row without blob: would be removed on success
    const tx = store.begin();
    for (const b of [z, subject, bad]) await tx.putBlob(b.bytes);
    await tx.commit();
    db.put(ztocRow(stale, layerDigest(8), 4194304));
    const before = db.all();
    await assert.rejects(() => rebuildDb(store), (e: Error) => {
      assert.ok(e instanceof BadInputError);
      assert.equal(
        e.message,
        "failed to add new artifacts to db: failed to parse span size from annotations for " +
          `layer  ${z.digest}: strconv.ParseInt: parsing "4MiB": invalid syntax`,
      );
      return true;
    });
    assert.deepEqual(db.all(), before);
  });
});

Deno.test("rebuild-db: span size absent = 0; prefetch descriptors recorded as soci_layer (upstream)", async () => {
  await withStore(async (store, db) => {
    const z = ztocBytes(3);
    const prefetch = blob('{"version":"1.0","prefetchFiles":[]}');
    const subject = blob('{"schemaVersion":2}');
    const s = sociIndex([
      ztocDesc(z, layerDigest(3), undefined),
      {
        mediaType: "application/vnd.amazon.soci.prefetch.v1+json",
        digest: prefetch.digest,
        size: prefetch.size,
        annotations: { "com.amazon.soci.image-layer-digest": layerDigest(3) },
      },
    ], subject);
    const tx = store.begin();
    for (const b of [z, prefetch, subject, s]) await tx.putBlob(b.bytes);
    await tx.commit();
    const now = new Date(1_800_000_000_000);
    await rebuildDb(store, { now });
    const expected = [
      {
        digest: s.digest,
        size: s.size,
        location: subject.digest,
        originalDigest: subject.digest,
        imageDigest: subject.digest,
        platform: "", // the subject is not a manifest with a config in our store
        type: "soci_index" as const,
        mediaType: OCI_MANIFEST,
        artifactType: SOCI_V1,
        spanSize: 0,
        createdAt: now,
      },
      { ...ztocRow(z, layerDigest(3), 0), createdAt: now },
      { ...ztocRow(prefetch, layerDigest(3), 0), createdAt: now },
    ].sort((a, b) => a.digest < b.digest ? -1 : 1);
    assert.deepEqual(db.all(), expected);
  });
});

Deno.test("rebuild-db: the bad span size is quoted like Go's %q (control characters as \\x..)", async () => {
  await withStore(async (store) => {
    const z = ztocBytes(4);
    const subject = blob('{"schemaVersion":2}');
    // Go: strconv.Quote("4\x01\x7fé\u2028") == `"4\x01\x7fé\u2028"` (JSON would give \u0001).
    const bad = sociIndex([ztocDesc(z, layerDigest(4), "4\x01\x7f\u00e9\u2028")], subject);
    const tx = store.begin();
    for (const b of [z, subject, bad]) await tx.putBlob(b.bytes);
    await tx.commit();
    await assert.rejects(() => rebuildDb(store), {
      message: "failed to add new artifacts to db: failed to parse span size from annotations " +
        `for layer  ${z.digest}: strconv.ParseInt: parsing "4\\x01\\x7f\u00e9\\u2028": ` +
        "invalid syntax",
    });
  });
});

Deno.test("rebuild-db with nothing to change does not create a lazily created DB", async () => {
  const root = await Deno.makeTempDir({ prefix: "soci-rebuild-test-" });
  try {
    const store = LocalStore.open(root); // the DB is created lazily
    const tx = store.begin();
    await tx.putBlob(ztocBytes(5).bytes); // a blob, but no index
    await tx.commit();
    try {
      assert.deepEqual(await rebuildDb(store), { removed: [], added: [] });
    } finally {
      store.close();
    }
    assert.deepEqual((await Array.fromAsync(Deno.readDir(root))).map((e) => e.name), ["content"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
