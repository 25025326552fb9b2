import assert from "node:assert/strict";
import { join } from "node:path";
import { SociError } from "../lib/errors.ts";
import { type ArtifactRecord, ArtifactsDb } from "../lib/store/artifacts_db.ts";
import { artifactsDbPath } from "../lib/store/root.ts";
import { canLockPaths, lockPath, run } from "./helpers/store_tree.ts";

const dec = new TextDecoder();
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const SOCI_V1 = "application/vnd.amazon.soci.index.v1+json";

const d = (c: string) => "sha256:" + c.repeat(64);

function idx(
  digest: string,
  manifest: string,
  at: number,
  platform = "linux/amd64",
): ArtifactRecord {
  return {
    digest,
    size: 1000,
    location: manifest,
    originalDigest: manifest,
    imageDigest: d("f"),
    platform,
    type: "soci_index",
    mediaType: OCI_MANIFEST,
    artifactType: SOCI_V1,
    spanSize: 0,
    createdAt: new Date(at),
  };
}

function ztoc(digest: string, layer: string, spanSize: number): ArtifactRecord {
  return {
    digest,
    size: 5000,
    location: layer,
    originalDigest: layer,
    imageDigest: "",
    platform: "",
    type: "soci_layer",
    mediaType: "application/octet-stream",
    artifactType: "",
    spanSize,
    createdAt: new Date(1_700_000_000_123),
  };
}

async function withDb(fn: (db: ArtifactsDb, path: string, dir: string) => Promise<void> | void) {
  const dir = await Deno.makeTempDir({ prefix: "soci-db-test-" });
  const path = artifactsDbPath(dir);
  const db = ArtifactsDb.open(path);
  try {
    await fn(db, path, dir);
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function python(path: string, code: string): Promise<string> {
  const r = await run("python3", [
    "-c",
    "import sqlite3,sys\nc=sqlite3.connect(sys.argv[1])\n" + code,
    path,
  ]);
  assert.equal(r.code, 0, r.stderr);
  return dec.decode(r.stdout);
}

Deno.test("open creates <root>/artifacts.sqlite (0600, WAL, schema version 2) (C§11.2 #8)", async () => {
  await withDb(async (_db, path, dir) => {
    assert.equal(path, join(dir, "artifacts.sqlite"));
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    const out = await python(
      path,
      "print(c.execute('pragma journal_mode').fetchone()[0])\n" +
        "print(c.execute('pragma user_version').fetchone()[0])\n" +
        "print([r[1] for r in c.execute('pragma table_info(artifacts)')])",
    );
    assert.equal(
      out,
      "wal\n2\n['digest', 'size', 'location', 'original_digest', 'image_digest', 'platform', " +
        "'type', 'media_type', 'artifact_type', 'span_size', 'created_at_us']\n",
    );
  });
});

Deno.test("write then read is field-for-field equal; created_at kept in microseconds (C§11.2 #8)", async () => {
  await withDb(async (db, path) => {
    const a = idx(d("a"), d("1"), 1_700_000_000_123);
    const z = ztoc(d("b"), d("2"), 4194304);
    db.put(a);
    db.put(z);
    assert.deepEqual(db.get(a.digest), a);
    assert.deepEqual(db.get(z.digest), z);
    assert.equal(db.get(d("c")), undefined);
    // Check the stored values with an independent reader.
    const out = await python(
      path,
      "for r in c.execute('select digest, size, span_size, created_at_us, type from artifacts " +
        "order by digest'): print(r)",
    );
    assert.equal(
      out,
      `('${d("a")}', 1000, 0, 1700000000123000, 'soci_index')\n` +
        `('${d("b")}', 5000, 4194304, 1700000000123000, 'soci_layer')\n`,
    );
    // A second connection (another process would do the same) sees the rows.
    const ro = ArtifactsDb.open(path, { readOnly: true });
    try {
      assert.deepEqual(ro.all(), [a, z]);
    } finally {
      ro.close();
    }
  });
});

Deno.test("put on an existing digest replaces every field; delete removes the row", async () => {
  await withDb((db) => {
    db.put(idx(d("a"), d("1"), 1000));
    const replaced = { ...idx(d("a"), d("2"), 2000, "linux/arm64"), size: 7, imageDigest: d("9") };
    db.put(replaced);
    assert.deepEqual(db.all(), [replaced]);
    assert.equal(db.delete(d("a")), true);
    assert.equal(db.delete(d("a")), false);
    assert.deepEqual(db.all(), []);
  });
});

Deno.test("indexesByManifest returns exactly the index rows of that manifest (C§11.2 #8)", async () => {
  await withDb((db) => {
    const m = d("1");
    db.put(idx(d("a"), m, 1000));
    db.put(idx(d("c"), m, 1001));
    db.put(idx(d("e"), d("2"), 1002));
    db.put(ztoc(d("b"), m, 4194304)); // a zTOC whose original digest happens to equal m
    assert.deepEqual(db.indexesByManifest(m).map((r) => r.digest), [d("a"), d("c")]);
    assert.deepEqual(db.indexesByManifest(d("3")), []);
    // indexesByImage: image digest d("f") for all three indexes; zTOC has none.
    assert.deepEqual(db.indexesByImage(d("f")).map((r) => r.digest), [d("a"), d("c"), d("e")]);
    assert.deepEqual(db.indexesByImage(""), []);
  });
});

Deno.test("findZtoc: same layer and span size found, first in digest order (C§11.2 #1)", async () => {
  await withDb((db) => {
    const layer = d("1");
    db.put(ztoc(d("c"), layer, 4194304));
    db.put(ztoc(d("b"), layer, 4194304));
    db.put(ztoc(d("a"), layer, 1048576));
    db.put(idx(d("0"), layer, 1000)); // an index with that original digest is not a zTOC
    assert.equal(db.findZtoc(layer, 4194304)?.digest, d("b"));
    assert.equal(db.findZtoc(layer, 1048576)?.digest, d("a"));
    assert.equal(db.findZtoc(layer, 0), undefined);
    assert.equal(db.findZtoc(d("2"), 4194304), undefined, "different layer: none");
  });
});

Deno.test("listIndexes newest first, ties by digest, platform filter; listZtocs and all in digest order", async () => {
  await withDb((db) => {
    db.put(idx(d("b"), d("1"), 2000));
    db.put(idx(d("a"), d("1"), 3000, "linux/arm64"));
    db.put(idx(d("d"), d("1"), 1000));
    db.put(idx(d("c"), d("1"), 2000)); // same time as b: digest order breaks the tie
    db.put(ztoc(d("f"), d("2"), 1));
    db.put(ztoc(d("e"), d("2"), 1));
    assert.deepEqual(db.listIndexes().map((r) => r.digest), [d("a"), d("b"), d("c"), d("d")]);
    assert.deepEqual(db.listIndexes({ platform: "linux/amd64" }).map((r) => r.digest), [
      d("b"),
      d("c"),
      d("d"),
    ]);
    assert.deepEqual(db.listIndexes({ platform: "linux/arm64/v8" }), []);
    assert.deepEqual(db.listZtocs().map((r) => r.digest), [d("e"), d("f")]);
    assert.deepEqual(db.all().map((r) => r.digest), ["a", "b", "c", "d", "e", "f"].map(d));
  });
});

Deno.test("transaction: all or nothing; nested transactions use savepoints", async () => {
  await withDb((db) => {
    assert.throws(() =>
      db.transaction(() => {
        db.put(idx(d("a"), d("1"), 1));
        db.put(idx(d("b"), d("1"), 1));
        throw new Error("boom");
      }), { message: "boom" });
    assert.deepEqual(db.all(), []);
    const n = db.transaction(() => {
      db.put(idx(d("a"), d("1"), 1));
      try {
        db.transaction(() => {
          db.put(idx(d("b"), d("1"), 1));
          throw new Error("inner");
        });
      } catch {
        // inner rolled back only
      }
      db.put(idx(d("c"), d("1"), 1));
      return 42;
    });
    assert.equal(n, 42);
    assert.deepEqual(db.all().map((r) => r.digest), [d("a"), d("c")]);
    // Async callbacks are refused (and rolled back).
    assert.throws(() =>
      db.transaction(() => {
        db.put(idx(d("e"), d("1"), 1));
        return Promise.resolve();
      }), SociError);
    assert.equal(db.get(d("e")), undefined);
  });
});

Deno.test("read-only: a missing DB is empty and no file is created; writes are refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "soci-db-test-" });
  try {
    const path = join(dir, "artifacts.sqlite");
    const ro = ArtifactsDb.open(path, { readOnly: true });
    assert.deepEqual(ro.all(), []);
    assert.deepEqual(ro.listIndexes(), []);
    assert.deepEqual(ro.listZtocs(), []);
    assert.equal(ro.findZtoc(d("1"), 1), undefined);
    assert.throws(() => ro.put(idx(d("a"), d("1"), 1)), SociError);
    assert.throws(() => ro.delete(d("a")), SociError);
    ro.close();
    assert.deepEqual(await Array.fromAsync(Deno.readDir(dir)), []);

    // Read-only on an existing DB sees its rows and cannot write.
    const rw = ArtifactsDb.open(path);
    rw.put(idx(d("a"), d("1"), 1));
    rw.close();
    const ro2 = ArtifactsDb.open(path, { readOnly: true });
    try {
      assert.deepEqual(ro2.all().map((r) => r.digest), [d("a")]);
      assert.throws(() => ro2.put(idx(d("b"), d("1"), 1)), SociError);
    } finally {
      ro2.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function names(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
}

Deno.test("create lazy: no file until the first write; reads see a file another connection made", async () => {
  const dir = await Deno.makeTempDir({ prefix: "soci-db-test-" });
  try {
    const path = join(dir, "artifacts.sqlite");
    const lazy = ArtifactsDb.open(path, { create: "lazy" });
    try {
      assert.equal(lazy.readOnly, false);
      assert.deepEqual(lazy.all(), []);
      assert.equal(lazy.findZtoc(d("1"), 4194304), undefined);
      assert.equal(lazy.delete(d("a")), false);
      assert.throws(() => lazy.put({ ...idx(d("a"), d("1"), 1), size: -1 }), SociError);
      assert.deepEqual(await names(dir), []);

      // Another connection (another process) creates the file: reads now see its rows.
      const other = ArtifactsDb.open(path);
      other.put(ztoc(d("b"), d("2"), 4194304));
      other.close();
      assert.deepEqual(lazy.all().map((r) => r.digest), [d("b")]);
      lazy.put(idx(d("a"), d("1"), 1));
      assert.deepEqual(lazy.all().map((r) => r.digest), [d("a"), d("b")]);
    } finally {
      lazy.close();
    }

    // The first write creates the file (0600, WAL, schema 1); a transaction counts as a write.
    const dir2 = join(dir, "second");
    await Deno.mkdir(dir2);
    const path2 = join(dir2, "artifacts.sqlite");
    const db2 = ArtifactsDb.open(path2, { create: "lazy" });
    try {
      assert.deepEqual(await names(dir2), []);
      db2.transaction(() => db2.put(ztoc(d("c"), d("3"), 65536)));
      assert.equal((await Deno.stat(path2)).mode! & 0o777, 0o600);
      assert.deepEqual(db2.all().map((r) => r.digest), [d("c")]);
    } finally {
      db2.close();
    }
    assert.equal(
      await python(
        path2,
        "print(c.execute('pragma journal_mode').fetchone()[0])\n" +
          "print(c.execute('pragma user_version').fetchone()[0])\n" +
          "print(c.execute('select digest, span_size from artifacts').fetchall())",
      ),
      `wal\n2\n[('${d("c")}', 65536)]\n`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A DB of one row in a directory whose name needs escaping in a file: URI; and a reader of it. */
async function readOnlyFixture(): Promise<{ tmp: string; dir: string; read: () => void }> {
  const tmp = await Deno.makeTempDir({ prefix: "soci-db-test-" });
  const dir = join(tmp, "a?b%41#c");
  await Deno.mkdir(dir);
  const path = join(dir, "artifacts.sqlite");
  const rw = ArtifactsDb.open(path);
  rw.put(idx(d("a"), d("1"), 1));
  rw.close();
  assert.deepEqual(await names(dir), ["artifacts.sqlite"]);
  const read = () => {
    const ro = ArtifactsDb.open(path, { readOnly: true });
    try {
      assert.equal(ro.readOnly, true);
      assert.deepEqual(ro.all().map((r) => r.digest), [d("a")]);
      assert.equal(ro.get(d("a"))?.size, 1000);
      assert.throws(() => ro.put(idx(d("b"), d("1"), 1)), SociError);
    } finally {
      ro.close();
    }
  };
  return { tmp, dir, read };
}

Deno.test({
  name: "read-only on a DB we may not write leaves no -wal/-shm behind (file, then directory)",
  ignore: !canLockPaths,
  fn: async () => {
    const { tmp, dir, read } = await readOnlyFixture();
    try {
      for (const locked of [join(dir, "artifacts.sqlite"), dir]) {
        const unlock = await lockPath(locked);
        try {
          read();
          assert.deepEqual(await names(dir), ["artifacts.sqlite"], locked);
        } finally {
          await unlock();
        }
      }
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test("read-only on a writable DB reads through a query_only connection, which leaves nothing", async () => {
  const { tmp, dir, read } = await readOnlyFixture();
  try {
    read();
    assert.deepEqual(await names(dir), ["artifacts.sqlite"]);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("open fails cleanly when the DB cannot be created or is from a newer schema (C§11.2 #8)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "soci-db-test-" });
  try {
    const nowhere = join(dir, "missing", "artifacts.sqlite");
    assert.throws(() => ArtifactsDb.open(nowhere), (e: Error) => {
      assert.ok(e instanceof SociError);
      assert.ok(e.message.startsWith(`artifacts DB ${nowhere} is not available: `), e.message);
      return true;
    });
    const isDir = join(dir, "adir");
    await Deno.mkdir(isDir);
    assert.throws(() => ArtifactsDb.open(isDir), SociError);
    assert.throws(() => ArtifactsDb.open(isDir, { readOnly: true }), SociError);
    const garbage = join(dir, "garbage.sqlite");
    await Deno.writeTextFile(garbage, "this is not a database, just some text that is long enough");
    assert.throws(() => ArtifactsDb.open(garbage), SociError);

    const newer = join(dir, "newer.sqlite");
    await python(newer, "c.execute('pragma user_version = 7'); c.commit()");
    assert.throws(() => ArtifactsDb.open(newer), {
      message: `artifacts DB ${newer} is not available: schema version 7 is newer than this ` +
        "soci understands (2); use a newer soci or run rebuild-db on a fresh root",
    });
    assert.throws(() => ArtifactsDb.open(newer, { readOnly: true }), SociError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("rejects records it cannot store faithfully", async () => {
  await withDb((db) => {
    const bad = [
      { ...idx(d("a"), d("1"), 1), type: "nope" as ArtifactRecord["type"] },
      { ...idx(d("a"), d("1"), 1), createdAt: new Date(Number.NaN) },
      { ...idx(d("a"), d("1"), 1), size: -1 },
      { ...idx(d("a"), d("1"), 1), size: 1.5 },
    ];
    for (const r of bad) assert.throws(() => db.put(r), SociError);
    assert.deepEqual(db.all(), []);
  });
});
