import assert from "node:assert/strict";
import { join } from "node:path";
import { BadInputError, NotFoundError, SociError } from "../lib/errors.ts";
import { StoreSource } from "../lib/image/store_source.ts";
import { type ArtifactRecord, ArtifactsDb } from "../lib/store/artifacts_db.ts";
import { LocalStore } from "../lib/store/local_store.ts";
import { artifactsDbPath, contentDir, ensureRoot, resolveRoot } from "../lib/store/root.ts";
import { writeFileAtomic } from "../lib/util/atomic_file.ts";
import { run, sha256sum, sha256sumBytes, snapshotTree } from "./helpers/store_tree.ts";
import { sha256 } from "./helpers/bytes.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
const SOCI_V1 = "application/vnd.amazon.soci.index.v1+json";
const EMPTY_INDEX =
  '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}';
const SKIP_DB = /^artifacts\.sqlite/;

async function tempRoot(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "soci-store-test-" });
}

/** The hex digits of the sha256 of bytes. */
function hexOf(bytes: Uint8Array): string {
  return sha256(bytes).slice("sha256:".length);
}

function indexRecord(digest: string, size: number, manifest: string): ArtifactRecord {
  return {
    digest,
    size,
    location: manifest,
    originalDigest: manifest,
    imageDigest: manifest,
    platform: "linux/amd64",
    type: "soci_index",
    mediaType: OCI_MANIFEST,
    artifactType: SOCI_V1,
    spanSize: 0,
    createdAt: new Date(1_700_000_000_000),
  };
}

function ztocRecord(digest: string, size: number, layer: string): ArtifactRecord {
  return {
    digest,
    size,
    location: layer,
    originalDigest: layer,
    imageDigest: "",
    platform: "",
    type: "soci_layer",
    mediaType: "application/octet-stream",
    artifactType: "",
    spanSize: 4194304,
    createdAt: new Date(1_700_000_000_000),
  };
}

async function withEnv(vars: Record<string, string | undefined>, fn: () => void): Promise<void> {
  const saved: Record<string, string | undefined> = {};
  for (const k of Object.keys(vars)) saved[k] = Deno.env.get(k);
  try {
    for (const [k, v] of Object.entries(vars)) {
      if (v === undefined) Deno.env.delete(k);
      else Deno.env.set(k, v);
    }
    await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) Deno.env.delete(k);
      else Deno.env.set(k, v);
    }
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await Deno.lstat(p);
    return true;
  } catch {
    return false;
  }
}

Deno.test("resolveRoot: --root, then SOCI_ROOT, then XDG_DATA_HOME/soci, then ~/.local/share/soci", async () => {
  await withEnv({ SOCI_ROOT: "/env/root", XDG_DATA_HOME: "/xdg", HOME: "/home/u" }, () => {
    assert.equal(resolveRoot("/flag/root"), "/flag/root");
    assert.equal(resolveRoot(), "/env/root");
    assert.equal(resolveRoot(""), "/env/root");
  });
  await withEnv({ SOCI_ROOT: undefined, XDG_DATA_HOME: "/xdg", HOME: "/home/u" }, () => {
    assert.equal(resolveRoot(), "/xdg/soci");
  });
  await withEnv({ SOCI_ROOT: undefined, XDG_DATA_HOME: undefined, HOME: "/home/u" }, () => {
    assert.equal(resolveRoot(), "/home/u/.local/share/soci");
  });
  // A relative XDG_DATA_HOME is invalid per the XDG spec and ignored.
  await withEnv({ SOCI_ROOT: undefined, XDG_DATA_HOME: "rel", HOME: "/home/u" }, () => {
    assert.equal(resolveRoot(), "/home/u/.local/share/soci");
  });
  await withEnv({ SOCI_ROOT: undefined, XDG_DATA_HOME: undefined, HOME: undefined }, () => {
    assert.throws(() => resolveRoot(), BadInputError);
  });
  assert.equal(contentDir("/r"), "/r/content");
  assert.equal(artifactsDbPath("/r"), "/r/artifacts.sqlite");
});

Deno.test("ensureRoot: creates a missing root (parents too) with mode 0700, keeps an existing one (C§11.2 #10)", async () => {
  const tmp = await tempRoot();
  try {
    // Parent exists (upstream case).
    const a = join(tmp, "a");
    await ensureRoot(a);
    const ia = await Deno.stat(a);
    assert.ok(ia.isDirectory);
    assert.equal(ia.mode! & 0o777, 0o700);
    // Parents missing too (our improvement).
    const deep = join(tmp, "x", "y", "soci");
    await ensureRoot(deep);
    assert.ok((await Deno.stat(deep)).isDirectory);
    // Already present: left alone, content and mode unchanged.
    await Deno.chmod(a, 0o750);
    await Deno.writeTextFile(join(a, "keep"), "k");
    const before = await snapshotTree(tmp);
    await ensureRoot(a);
    assert.deepEqual(await snapshotTree(tmp), before);
    assert.equal((await Deno.stat(a)).mode! & 0o777, 0o750);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("ensureRoot: a file in the way is a clear BadInputError", async () => {
  const tmp = await tempRoot();
  try {
    const file = join(tmp, "file");
    await Deno.writeTextFile(file, "x");
    await assert.rejects(() => ensureRoot(file), (e: Error) => {
      assert.ok(e instanceof BadInputError);
      assert.equal(e.message, `soci root ${file}: it is not a directory`);
      return true;
    });
    await assert.rejects(() => ensureRoot(join(file, "sub")), (e: Error) => {
      assert.ok(e instanceof BadInputError);
      assert.ok(
        e.message.startsWith(`soci root ${join(file, "sub")}: cannot access it: Not a directory`),
        e.message,
      );
      return true;
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("reading a missing store creates nothing", async () => {
  const tmp = await tempRoot();
  try {
    const root = join(tmp, "root");
    const store = LocalStore.open(root);
    const d = "sha256:" + "a".repeat(64);
    assert.equal(await store.has(d), false);
    assert.equal(await store.image("app"), undefined);
    assert.deepEqual(await store.images(), []);
    const listed = [];
    for await (const b of store.listBlobs()) listed.push(b);
    assert.deepEqual(listed, []);
    await assert.rejects(() => store.readBlob(d), NotFoundError);
    await assert.rejects(() => store.openBlob(d), NotFoundError);
    await assert.rejects(() => store.readRange(d, 0, 1), NotFoundError);
    assert.deepEqual(store.db.all(), []);
    // An empty transaction commits without writing anything either.
    await store.begin().commit();
    store.close();
    assert.equal(await exists(root), false);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("first commit writes an OCI layout: exact oci-layout and index.json, blobs 0444", async () => {
  const root = await tempRoot();
  try {
    const store = LocalStore.open(root);
    const bytes = enc.encode("hello soci\n");
    const tx = store.begin();
    const info = await tx.putBlob(bytes);
    const expectedDigest = await sha256sumBytes(bytes);
    assert.deepEqual(info, { digest: expectedDigest, size: 11 });
    // Staged, not visible yet.
    assert.equal(await store.has(info.digest), false);
    const ingest = await Array.fromAsync(Deno.readDir(join(root, "content", "ingest")));
    assert.equal(ingest.length, 1);
    await tx.commit();

    const c = join(root, "content");
    assert.equal(await Deno.readTextFile(join(c, "oci-layout")), '{"imageLayoutVersion":"1.0.0"}');
    assert.equal(await Deno.readTextFile(join(c, "index.json")), EMPTY_INDEX);
    const path = join(c, "blobs", "sha256", expectedDigest.slice(7));
    assert.equal(store.blobPath(info.digest), path);
    assert.equal(await sha256sum(path), expectedDigest);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o444);
    assert.equal(await exists(join(c, "ingest")), false, "staging is cleaned up");
    // Blobs alone need no DB.
    assert.equal(await exists(join(root, "artifacts.sqlite")), false);

    assert.equal(await store.has(info.digest), true);
    assert.deepEqual(await store.stat(info.digest), info);
    assert.deepEqual(await store.readBlob(info.digest), bytes);
    assert.deepEqual(await store.readRange(info.digest, 6, 10), enc.encode("soci"));
    assert.deepEqual(await store.readRange(info.digest, 11, 11), new Uint8Array());
    await assert.rejects(() => store.readRange(info.digest, 5, 12), BadInputError);
    await assert.rejects(() => store.readRange(info.digest, 5, 4), BadInputError);
    const streamed = new Uint8Array(
      await new Response(await store.openBlob(info.digest)).arrayBuffer(),
    );
    assert.deepEqual(streamed, bytes);
    const [blob] = await Array.fromAsync(store.listBlobs());
    assert.deepEqual({ digest: blob.digest, size: blob.size }, info);
    assert.ok(blob.createdAt instanceof Date);
    // The transaction is finished.
    await assert.rejects(() => tx.putBlob(bytes), SociError);
    store.close();
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("putBlob verifies the expected digest and size and stages nothing on mismatch", async () => {
  const root = await tempRoot();
  try {
    const store = LocalStore.open(root);
    const bytes = enc.encode("{}");
    const digest = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
    const tx = store.begin();
    await assert.rejects(() => tx.putBlob(bytes, { digest, size: 3 }), (e: Error) => {
      assert.ok(e instanceof BadInputError);
      assert.equal(e.message, `blob ${digest}: size mismatch: expected 3 bytes, got 2`);
      return true;
    });
    const wrong = "sha256:" + "0".repeat(64);
    await assert.rejects(() => tx.putBlob(bytes, { digest: wrong, size: 2 }), (e: Error) => {
      assert.ok(e instanceof BadInputError);
      assert.equal(e.message, `blob digest mismatch: expected ${wrong}, got ${digest}`);
      return true;
    });
    assert.equal(await exists(join(root, "content")), false);
    assert.deepEqual(await tx.putBlob(bytes, { digest, size: 2 }), { digest, size: 2 });
    await tx.commit();
    assert.deepEqual(await store.readBlob(digest), bytes);
    store.close();
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("index.json is a view of the DB: named images by name, then SOCI indexes oldest first", async () => {
  const root = await tempRoot();
  try {
    const store = LocalStore.open(root);
    let tx = store.begin();
    const a = await tx.putBlob(enc.encode('{"a":1}'));
    const b = await tx.putBlob(enc.encode('{"b":2}'));
    const m = await tx.putBlob(enc.encode('{"m":3}'));
    tx.addIndex({ mediaType: OCI_MANIFEST, ...b, artifactType: SOCI_V1 });
    tx.putRecord({ ...indexRecord(b.digest, b.size, m.digest), createdAt: new Date(2000) });
    tx.addIndex({ mediaType: OCI_MANIFEST, ...a, artifactType: SOCI_V1 });
    tx.putRecord({ ...indexRecord(a.digest, a.size, m.digest), createdAt: new Date(1000) });
    tx.tagImage("zz", { mediaType: OCI_MANIFEST, ...m });
    tx.tagImage("app", { mediaType: OCI_MANIFEST, ...m }, { "z.last": "1", "a.first": "<&>" });
    await tx.commit();
    const entry = (d: { digest: string }) =>
      `{"mediaType":"${OCI_MANIFEST}","digest":"${d.digest}","size":7,` +
      `"artifactType":"${SOCI_V1}"}`;
    const tag = (d: { digest: string }, name: string, extra = "") =>
      `{"mediaType":"${OCI_MANIFEST}","digest":"${d.digest}","size":7,` +
      `"annotations":{${extra}"org.opencontainers.image.ref.name":"${name}"` +
      (name === "app" && extra ? ',"z.last":"1"' : "") + "}}";
    const head = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"';
    const appTag = tag(m, "app", '"a.first":"\\u003c\\u0026\\u003e",');
    assert.equal(
      await Deno.readTextFile(store.indexPath),
      `${head},"manifests":[${appTag},${tag(m, "zz")},${entry(a)},${entry(b)}]}`,
    );
    assert.deepEqual((await store.image("app"))?.target, {
      mediaType: OCI_MANIFEST,
      digest: m.digest,
      size: 7,
    });
    assert.deepEqual((await store.image("app"))?.annotations, { "a.first": "<&>", "z.last": "1" });

    // Naming again replaces the record; removeIndex drops the index's row and entry.
    tx = store.begin();
    tx.tagImage("app", { mediaType: OCI_MANIFEST, ...a });
    tx.removeIndex(a.digest);
    await tx.commit();
    assert.equal(
      await Deno.readTextFile(store.indexPath),
      `${head},"manifests":[${tag(a, "app")},${tag(m, "zz")},${entry(b)}]}`,
    );
    assert.equal(store.db.get(a.digest), undefined);
    store.close();
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("commit refuses DB rows, indexes and images for blobs that are not in the store", async () => {
  const root = await tempRoot();
  const store = LocalStore.open(root);
  try {
    let tx = store.begin();
    const present = await tx.putBlob(enc.encode("present"));
    tx.putRecord(ztocRecord(present.digest, present.size, "sha256:" + "1".repeat(64)));
    await tx.commit();
    const before = await snapshotTree(root, SKIP_DB);
    const rowsBefore = store.db.all();
    const missing = "sha256:" + "e".repeat(64);
    for (const edit of ["record", "index", "image"]) {
      tx = store.begin();
      await tx.putBlob(enc.encode("new blob"));
      if (edit === "record") tx.putRecord(ztocRecord(missing, 5, "sha256:" + "2".repeat(64)));
      if (edit === "index") tx.addIndex({ mediaType: OCI_MANIFEST, digest: missing, size: 5 });
      if (edit === "image") tx.tagImage("x", { mediaType: OCI_MANIFEST, digest: missing, size: 5 });
      await assert.rejects(() => tx.commit(), (e: Error) => {
        assert.ok(e instanceof NotFoundError);
        assert.equal(e.message, `cannot record ${missing}: the blob is not in the local store`);
        return true;
      });
      assert.deepEqual(await snapshotTree(root, SKIP_DB), before, edit);
      assert.deepEqual(store.db.all(), rowsBefore, edit);
    }
    // Writing rows through a read-only store is a usage error of the API.
    const ro = LocalStore.open(root, { readOnly: true });
    assert.throws(() => ro.begin().putRecord(ztocRecord(present.digest, 7, "")), SociError);
    ro.close();
  } finally {
    store.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("abort leaves the tree byte-identical (fresh root and existing store)", async () => {
  const root = await tempRoot();
  const store = LocalStore.open(root);
  try {
    // Fresh root: nothing there.
    let before = await snapshotTree(root, SKIP_DB);
    let tx = store.begin();
    const x = await tx.putBlob(enc.encode("x"));
    tx.addIndex({ mediaType: OCI_MANIFEST, ...x, artifactType: SOCI_V1 });
    tx.putRecord(indexRecord(x.digest, 1, x.digest));
    await tx.abort();
    assert.deepEqual(await snapshotTree(root, SKIP_DB), before);
    assert.deepEqual(store.db.all(), []);

    // Existing store.
    tx = store.begin();
    const y = await tx.putBlob(enc.encode("y"));
    tx.putRecord(indexRecord(y.digest, 1, y.digest));
    await tx.commit();
    before = await snapshotTree(root, SKIP_DB);
    {
      await using tx2 = store.begin();
      await tx2.putBlob(enc.encode("z"));
      await tx2.putBlob(enc.encode("y"));
      tx2.tagImage("t", { mediaType: OCI_MANIFEST, ...y });
      // leaving the block aborts
    }
    assert.deepEqual(await snapshotTree(root, SKIP_DB), before);
  } finally {
    store.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a commit that fails before its DB commit leaves store and DB as they were", async () => {
  const root = await tempRoot();
  const store = LocalStore.open(root);
  try {
    let tx = store.begin();
    const old = await tx.putBlob(enc.encode("old blob"));
    tx.putRecord(indexRecord(old.digest, old.size, old.digest));
    await tx.commit();
    const before = await snapshotTree(root, SKIP_DB);
    const rowsBefore = store.db.all();

    for (const failAt of ["pending", "blobs", "db"] as const) {
      tx = store.begin({
        onStep: (step) => {
          if (step === failAt) throw new Error(`injected failure at ${step}`);
        },
      });
      const fresh = await tx.putBlob(enc.encode("new blob"));
      await tx.putBlob(enc.encode("old blob")); // already stored: must survive the rollback
      tx.addIndex({ mediaType: OCI_MANIFEST, ...fresh, artifactType: SOCI_V1 });
      tx.removeIndex(old.digest);
      tx.tagImage("app", { mediaType: OCI_MANIFEST, ...fresh });
      tx.putRecord(indexRecord(fresh.digest, fresh.size, old.digest));
      await assert.rejects(() => tx.commit(), { message: `injected failure at ${failAt}` });
      assert.deepEqual(await snapshotTree(root, SKIP_DB), before, failAt);
      assert.deepEqual(store.db.all(), rowsBefore, failAt);
      assert.deepEqual(store.db.listPending(), new Map(), failAt);
      assert.deepEqual(await store.images(), [], failAt);
    }
  } finally {
    store.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("once the DB has committed, a failure after it does not undo the commit", async () => {
  const root = await tempRoot();
  const store = LocalStore.open(root);
  try {
    const tx = store.begin({
      onStep: (s) => {
        if (s === "index") throw new Error("boom after the commit point");
      },
    });
    const b = await tx.putBlob(enc.encode("b"));
    tx.putRecord(indexRecord(b.digest, b.size, b.digest));
    await tx.commit(); // does not throw: the change has happened
    assert.equal(store.db.get(b.digest)?.digest, b.digest);
    assert.equal(await store.has(b.digest), true);
  } finally {
    store.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a failing first commit on an empty root leaves it empty (but for the DB file)", async () => {
  const root = await tempRoot();
  try {
    const store = LocalStore.open(root);
    const tx = store.begin({
      onStep: (s) => {
        if (s === "db") throw new Error("boom");
      },
    });
    const b = await tx.putBlob(enc.encode("b"));
    tx.putRecord(indexRecord(b.digest, b.size, b.digest));
    await assert.rejects(() => tx.commit(), { message: "boom" });
    store.close();
    assert.deepEqual(await snapshotTree(root, SKIP_DB), []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("transactions committing at the same time in one process all land", async () => {
  const root = await tempRoot();
  const store = LocalStore.open(root);
  try {
    const work = Array.from({ length: 8 }, async (_, i) => {
      const tx = store.begin();
      const b = await tx.putBlob(enc.encode(`blob ${i}`));
      tx.addIndex({ mediaType: OCI_MANIFEST, ...b, artifactType: SOCI_V1 });
      tx.putRecord(indexRecord(b.digest, b.size, b.digest));
      await tx.commit();
      return b.digest;
    });
    const digests = (await Promise.all(work)).sort();
    const index = JSON.parse(await Deno.readTextFile(store.indexPath));
    assert.deepEqual(index.manifests.map((d: { digest: string }) => d.digest).sort(), digests);
    assert.deepEqual(store.db.all().map((r) => r.digest), digests);
  } finally {
    store.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("putBlob calls running at once in one transaction (same and different bytes)", async () => {
  const root = await tempRoot();
  try {
    const store = LocalStore.open(root);
    const tx = store.begin();
    const texts = ["a", "b", "a", "c", "b", "a"];
    const infos = await Promise.all(texts.map((t) => tx.putBlob(enc.encode(t))));
    assert.deepEqual(
      infos.map((i) => i.digest),
      texts.map((t) => "sha256:" + hexOf(enc.encode(t))),
    );
    await tx.commit();
    const listed = (await Array.fromAsync(store.listBlobs())).map((b) => b.digest);
    assert.deepEqual(listed, [...new Set(infos.map((i) => i.digest))].sort());
    assert.equal(await exists(join(root, "content", "ingest")), false);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("putBlob calls that come while a blob's write is ending stage it once", async () => {
  // The write's bookkeeping used to end a few microtasks before its caller
  // resumed and recorded the blob as staged: a call in between wrote the
  // staged file again (EEXIST; seen when create fetched an image's documents
  // side by side). Here the staged file's fsync waits for a gate (and does
  // no I/O), so that after the gate opens everything is microtasks, and
  // calls come at every microtask depth after it.
  const root = await tempRoot();
  const open = Deno.open;
  let gate: PromiseWithResolvers<void> | undefined;
  const entered = Promise.withResolvers<void>();
  (Deno as { open: typeof Deno.open }).open = async (path, options) => {
    const f = await open(path, options);
    if (gate !== undefined && String(path).includes("ingest")) {
      const g = gate.promise;
      (f as { sync: () => Promise<void> }).sync = async () => {
        entered.resolve();
        await g;
      };
    }
    return f;
  };
  try {
    const store = LocalStore.open(root);
    const tx = store.begin();
    const bytes = enc.encode("written once");
    gate = Promise.withResolvers();
    const puts = [tx.putBlob(bytes)];
    await entered.promise;
    gate.resolve();
    for (let depth = 0; depth < 20; depth++) {
      puts.push(tx.putBlob(bytes));
      await Promise.resolve();
    }
    const infos = await Promise.all(puts);
    assert.equal(new Set(infos.map((i) => i.digest)).size, 1);
    await tx.abort();
    store.close();
  } finally {
    (Deno as { open: typeof Deno.open }).open = open;
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("two processes committing 50 transactions each on one root: everything lands", async () => {
  const root = await tempRoot();
  const writer = new URL("./helpers/store_writer.ts", import.meta.url).pathname;
  const children: Deno.ChildProcess[] = [];
  try {
    for (const name of ["p1", "p2"]) {
      children.push(
        new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", writer, root, name, "50"],
          stdout: "piped",
          stderr: "piped",
        }).spawn(),
      );
    }
    const outs = await Promise.all(children.map((c) => c.output()));
    for (const [i, o] of outs.entries()) {
      assert.equal(o.code, 0, new TextDecoder().decode(o.stderr));
      assert.equal(dec.decode(o.stdout).trim(), `done p${i + 1}`);
    }
    // Expected content, computed independently of the store.
    const expected = new Map<string, string>();
    for (const name of ["p1", "p2"]) {
      for (let i = 0; i < 50; i++) {
        const text = JSON.stringify({ writer: name, n: i });
        expected.set("sha256:" + hexOf(enc.encode(text)), text);
      }
    }
    const raw = await Deno.readTextFile(join(root, "content", "index.json"));
    const index = JSON.parse(raw); // valid JSON
    assert.equal(index.schemaVersion, 2);
    const untagged = index.manifests.filter((d: { annotations?: unknown }) => !d.annotations);
    const tagged = index.manifests.filter((d: { annotations?: unknown }) => d.annotations);
    assert.equal(untagged.length, 100);
    assert.deepEqual(
      new Set(untagged.map((d: { digest: string }) => d.digest)),
      new Set(expected.keys()),
    );
    assert.deepEqual(
      tagged.map((d: { annotations: Record<string, string> }) =>
        d.annotations["org.opencontainers.image.ref.name"]
      ).sort(),
      ["p1", "p2"].flatMap((n) => [0, 10, 20, 30, 40].map((i) => `${n}-${i}`)).sort(),
    );
    for (const [digest, text] of expected) {
      const path = join(root, "content", "blobs", "sha256", digest.slice(7));
      assert.equal(await Deno.readTextFile(path), text);
    }
    assert.equal(
      await Deno.readTextFile(
        join(
          root,
          "content",
          "blobs",
          "sha256",
          "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        ),
      ),
      "{}",
    );
    const db = ArtifactsDb.open(artifactsDbPath(root), { readOnly: true });
    try {
      assert.deepEqual(db.all().map((r) => r.digest), [...expected.keys()].sort());
    } finally {
      db.close();
    }
    // Independent check of the DB with Python's sqlite3.
    const py = await run("python3", [
      "-c",
      "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); " +
      "print(c.execute('select count(*), count(distinct digest) from artifacts').fetchone()); " +
      "print(c.execute('pragma integrity_check').fetchone()[0])",
      artifactsDbPath(root),
    ]);
    assert.equal(py.code, 0, py.stderr);
    assert.equal(dec.decode(py.stdout), "(100, 100)\nok\n");
    assert.equal(await exists(join(root, "content", "ingest")), false);
  } finally {
    for (const c of children) {
      try {
        c.kill();
      } catch {
        // already exited
      }
    }
    await Deno.remove(root, { recursive: true });
  }
});

/** Stores a tiny image (config + manifest, no layers) and a SOCI index for it. */
async function storeImageAndIndex(store: LocalStore, tagImage: boolean) {
  const cfgBytes = enc.encode(
    '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}',
  );
  const cfgDigest = "sha256:" + hexOf(cfgBytes);
  const manBytes = enc.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: cfgDigest, size: cfgBytes.length },
    layers: [],
  }));
  const manDigest = "sha256:" + hexOf(manBytes);
  const ztoc = new Uint8Array([0x10, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
  const ztocDigest = "sha256:" + hexOf(ztoc);
  const idxBytes = enc.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: {
      mediaType: SOCI_V1,
      digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
      size: 2,
    },
    layers: [{
      mediaType: "application/octet-stream",
      digest: ztocDigest,
      size: ztoc.length,
      annotations: {
        "com.amazon.soci.image-layer-digest": "sha256:" + "1".repeat(64),
        "com.amazon.soci.image-layer-mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
        "com.amazon.soci.span-size": "4194304",
      },
    }],
    subject: { mediaType: OCI_MANIFEST, digest: manDigest, size: manBytes.length },
    annotations: { "com.amazon.soci.build-tool-identifier": "AWS SOCI CLI v0.2" },
  }));
  const tx = store.begin();
  await tx.putBlob(cfgBytes, { digest: cfgDigest, size: cfgBytes.length });
  await tx.putBlob(manBytes);
  await tx.putBlob(enc.encode("{}"));
  await tx.putBlob(ztoc);
  const idx = await tx.putBlob(idxBytes);
  tx.addIndex({ mediaType: OCI_MANIFEST, ...idx, artifactType: SOCI_V1 });
  tx.putRecord(indexRecord(idx.digest, idx.size, manDigest));
  tx.putRecord(ztocRecord(ztocDigest, ztoc.length, "sha256:" + "1".repeat(64)));
  if (tagImage) {
    tx.tagImage("app", { mediaType: OCI_MANIFEST, digest: manDigest, size: manBytes.length });
  }
  await tx.commit();
  return { cfgDigest, manBytes, manDigest, ztocDigest, idxBytes, idxDigest: idx.digest };
}

Deno.test("skopeo reads a stored SOCI index and a tagged image manifest byte for byte", async () => {
  const root = await tempRoot();
  try {
    const store = LocalStore.open(root);
    const s = await storeImageAndIndex(store, false);
    const layout = join(root, "content");
    // skopeo 1.9.3 does not know `oci:DIR@digest`; with a single index.json entry
    // `oci:DIR` selects it, which reads our index.json entry and blob as they are.
    const raw = await run("skopeo", ["inspect", "--raw", `oci:${layout}`]);
    assert.equal(raw.code, 0, raw.stderr);
    assert.deepEqual(raw.stdout, s.idxBytes);
    assert.equal("sha256:" + hexOf(raw.stdout), s.idxDigest);

    const tx = store.begin();
    tx.tagImage("app", { mediaType: OCI_MANIFEST, digest: s.manDigest, size: s.manBytes.length });
    await tx.commit();
    const man = await run("skopeo", ["inspect", "--raw", `oci:${layout}:app`]);
    assert.equal(man.code, 0, man.stderr);
    assert.deepEqual(man.stdout, s.manBytes);
    const info = await run("skopeo", ["inspect", `oci:${layout}:app`]);
    assert.equal(info.code, 0, info.stderr);
    const parsed = JSON.parse(dec.decode(info.stdout));
    assert.equal(parsed.Digest, s.manDigest);
    assert.equal(parsed.Architecture, "amd64");
    assert.equal(parsed.Os, "linux");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("gc removes only unreachable blobs; index rm collects the index and its image", async () => {
  const root = await tempRoot();
  const store = LocalStore.open(root);
  try {
    const s = await storeImageAndIndex(store, false);
    const empty = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
    let tx = store.begin();
    const orphan = await tx.putBlob(enc.encode("orphan"));
    await tx.commit();
    assert.deepEqual(await store.gc(), [orphan.digest]);
    assert.deepEqual(await store.gc(), []);

    // `index rm`: the row goes, and with it, in the same commit, the index,
    // its subject manifest, the manifest's config and `{}`; the zTOC keeps
    // its DB row and stays.
    tx = store.begin();
    tx.removeIndex(s.idxDigest);
    await tx.commit();
    assert.deepEqual((await Array.fromAsync(store.listBlobs())).map((b) => b.digest), [
      s.ztocDigest,
    ]);
    for (const d of [s.idxDigest, s.manDigest, s.cfgDigest, empty]) {
      assert.equal(await store.has(d), false, d);
    }
    assert.equal(await Deno.readTextFile(store.indexPath), EMPTY_INDEX);
    assert.deepEqual(store.db.listPending(), new Map());
  } finally {
    store.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("gc keeps a named image and its config", async () => {
  const root = await tempRoot();
  const store = LocalStore.open(root);
  try {
    const s = await storeImageAndIndex(store, true);
    const tx = store.begin();
    tx.removeIndex(s.idxDigest);
    tx.deleteRecord(s.ztocDigest);
    await tx.commit();
    const empty = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
    for (const d of [s.idxDigest, s.ztocDigest, empty]) assert.equal(await store.has(d), false);
    assert.equal(await store.has(s.manDigest), true);
    assert.equal(await store.has(s.cfgDigest), true);
  } finally {
    store.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("StoreSource: a bare name resolves through the named images; blobs verified; layers are not stored", async () => {
  const root = await tempRoot();
  try {
    const store = LocalStore.open(root);
    const s = await storeImageAndIndex(store, true);
    const src = new StoreSource(store, "app");
    assert.equal(src.reference, "app");
    assert.equal(src.storeName, "app");
    const target = await src.resolve();
    assert.equal(target.digest, s.manDigest);
    assert.deepEqual(await src.fetchBytes(target), s.manBytes);
    assert.deepEqual(await src.readRange!(target, 0, 5), s.manBytes.subarray(0, 5));
    const streamed = await new Response(await src.openBlob(target)).arrayBuffer();
    assert.deepEqual(new Uint8Array(streamed), s.manBytes);
    await assert.rejects(
      () => src.fetchBytes({ ...target, size: target.size + 1 }),
      BadInputError,
    );
    const layer = {
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      digest: "sha256:" + "1".repeat(64),
      size: 100,
    };
    await assert.rejects(() => src.openBlob(layer), (e: Error) => {
      assert.ok(e instanceof NotFoundError);
      assert.equal(
        e.message,
        `blob ${layer.digest} is not in the local store ` +
          "(layers are not stored; give the image's original source)",
      );
      return true;
    });
    await assert.rejects(() => src.fetchBytes(layer), NotFoundError);
    await assert.rejects(() => new StoreSource(store, "nope").resolve(), NotFoundError);

    // A blob altered on disk is caught by fetchBytes.
    const path = store.blobPath(s.manDigest);
    await Deno.chmod(path, 0o644);
    const altered = s.manBytes.slice();
    altered[0] = 0x20;
    await Deno.writeFile(path, altered);
    await assert.rejects(() => src.fetchBytes(target), (e: Error) => {
      assert.ok(e instanceof BadInputError);
      assert.equal(
        e.message,
        `blob digest mismatch: expected ${s.manDigest}, got sha256:${hexOf(altered)}`,
      );
      return true;
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("gc follows a JSON document that starts with whitespace (the same sniffing as rebuild-db)", async () => {
  const root = await tempRoot();
  const store = LocalStore.open(root);
  try {
    const cfg = enc.encode('{"architecture":"amd64","os":"linux"}');
    const cfgDigest = "sha256:" + hexOf(cfg);
    // Valid JSON for Go and JavaScript alike: leading CR LF and spaces.
    const man = enc.encode(
      "\r\n  " + JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, digest: cfgDigest, size: cfg.length },
        layers: [],
      }),
    );
    const tx = store.begin();
    await tx.putBlob(cfg);
    const m = await tx.putBlob(man);
    const orphan = await tx.putBlob(enc.encode('{"orphan":true}'));
    tx.tagImage("app", { mediaType: OCI_MANIFEST, ...m });
    await tx.commit();
    assert.deepEqual(await store.gc(), [orphan.digest]);
    assert.equal(await store.has(cfgDigest), true);
    assert.deepEqual(await store.readJsonCandidate(m.digest), man);
  } finally {
    store.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a commit removes the ingest folders of processes that are gone, and no others", async () => {
  const root = await tempRoot();
  // A live process other than us, and the PID of one that has exited.
  const sleeper = new Deno.Command("sleep", { args: ["60"], stdout: "null" }).spawn();
  const done = new Deno.Command("true", { stdout: "null" }).spawn();
  const gonePid = done.pid;
  await done.status;
  try {
    assert.equal(await exists(`/proc/${gonePid}`), false);
    assert.equal(await exists(`/proc/${sleeper.pid}`), true);
    const ingest = join(root, "content", "ingest");
    const stamp = Date.now().toString(36);
    const names = {
      gone: `${stamp}-${gonePid}-0badcafe`,
      live: `${stamp}-${sleeper.pid}-0badcafe`,
      ours: `${stamp}-${Deno.pid}-0badcafe`,
      foreign: "not-a-staging-folder",
    };
    for (const name of Object.values(names)) {
      await Deno.mkdir(join(ingest, name, "sub"), { recursive: true });
      await Deno.writeTextFile(join(ingest, name, "sub", "partial"), "half a blob");
    }
    const store = LocalStore.open(root);
    const tx = store.begin();
    await tx.putBlob(enc.encode("x"));
    await tx.commit();
    const left = (await Array.fromAsync(Deno.readDir(ingest))).map((e) => e.name).sort();
    assert.deepEqual(left, [names.live, names.ours, names.foreign].sort());
    assert.equal(await store.has("sha256:" + hexOf(enc.encode("x"))), true);
  } finally {
    sleeper.kill();
    await sleeper.status;
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("writeFileAtomic (used by the store): failures name the target, never the temp file", async () => {
  const dir = await tempRoot();
  try {
    const target = join(dir, "index.json");
    await writeFileAtomic(target, [enc.encode("old")]);
    assert.equal(await Deno.readTextFile(target), "old");
    assert.equal((await Deno.stat(target)).mode! & 0o777, 0o644 & ~Deno.umask());

    // The temp file cannot be created: ENOENT (strerror text, as Deno reports OS errors).
    const missing = join(dir, "missing", "index.json");
    await assert.rejects(() => writeFileAtomic(missing, [enc.encode("x")]), (e: Error) => {
      assert.ok(e instanceof SociError);
      assert.equal(e.message, `cannot write ${missing}: No such file or directory (os error 2)`);
      return true;
    });
    // The rename fails: the target is a non-empty directory.
    const isDir = join(dir, "adir");
    await Deno.mkdir(join(isDir, "child"), { recursive: true });
    await assert.rejects(() => writeFileAtomic(isDir, [enc.encode("x")]), {
      message: `cannot write ${isDir}: Is a directory (os error 21)`,
    });
    // An error of the bytes' source is passed through as it is.
    const boom = new Error("the source failed");
    await assert.rejects(
      () =>
        writeFileAtomic(
          target,
          (async function* () {
            yield enc.encode("new");
            throw boom;
          })(),
        ),
      (e) => e === boom,
    );
    assert.equal(await Deno.readTextFile(target), "old");
    const names = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
    assert.deepEqual(names, ["adir", "index.json"]); // no temp file left behind
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
