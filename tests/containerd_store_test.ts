/**
 * The containerd artifact store against a real containerd 1.6 (started by
 * each test on its own root, state and socket; CRI disabled), at the
 * library level: what a transaction makes visible and when (DB rows,
 * containerd labels and image records, its lease), failures and SIGKILLs
 * at every commit step followed by the next writer's recovery, GC roots for
 * images containerd lacks, image records made or moved for `convert`.
 * What containerd holds is read back with `ctr`; expected digests come from
 * `create oci:` into the local store (another code path), and expected
 * labels from the stored index JSON.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { GC_EXPIRE_LABEL } from "../lib/containerd/leases.ts";
import { ContainerdSource } from "../lib/image/containerd_source.ts";
import { openImage } from "../lib/image/open.ts";
import { ContainerdStore } from "../lib/store/containerd_store.ts";
import { LEASE_TX_LABEL } from "../lib/store/containerd_transaction.ts";
import { LocalStore } from "../lib/store/local_store.ts";
import { indexRecord, ztocRecord } from "../lib/store/artifact_record.ts";
import { createIndexes } from "../lib/use_cases/create.ts";
import { rebuildDb } from "../lib/use_cases/rebuild.ts";
import {
  ctrContentDigests,
  ctrContentLabels,
  ctrGc,
  ctrImageLabels,
  ctrImport,
  ctrLeases,
  ociArchive,
  startContainerd,
  type TestContainerd,
} from "./helpers/containerd.ts";
import { e2eImages, sha256, tempDir } from "./helpers/create_e2e_images.ts";

const IMG = await e2eImages();
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const SOCI_V1 = "application/vnd.amazon.soci.index.v1+json";
const EMPTY_CONFIG = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
const IMAGE = "docker.io/library/img:app";
const ROOT_LABEL = "containerd.io/gc.root";
const SOCI_LABEL = "containerd.io/gc.ref.content.soci-index";
const enc = new TextEncoder();

/** Archives of the test images (skopeo), made once, removed at unload. */
const ARCHIVES = await (async () => {
  const dir = await tempDir("soci-ctrd-store-");
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // already gone
    }
  });
  for (const tag of ["app", "multi"]) await ociArchive(IMG.layout, tag, join(dir, `${tag}.tar`));
  return dir;
})();

/** What `create oci:…:app` (min layer size 0) puts in a local store: index, zTOCs, index JSON. */
const EXPECTED = await (async () => {
  const root = await tempDir("soci-ctrd-expected-");
  const store = LocalStore.open(root);
  try {
    const made = await createIndexes(await openImage(`oci:${IMG.layout}:app`), store, {
      minLayerSize: 0,
    });
    const index = made.indexes[0].index.descriptor;
    const doc = JSON.parse(
      new TextDecoder().decode(await Deno.readFile(store.blobPath(index.digest))),
    );
    const ztocs: string[] = doc.layers.map((l: { digest: string }) => l.digest);
    return { index: index.digest, ztocs, config: doc.config.digest as string };
  } finally {
    store.close();
    await Deno.remove(root, { recursive: true });
  }
})();

/** The labels upstream puts on the SOCI index blob (F§10.3). */
function indexLabels(): Record<string, string> {
  const labels: Record<string, string> = { "containerd.io/gc.ref.content.config": EMPTY_CONFIG };
  EXPECTED.ztocs.forEach((z, i) => labels[`containerd.io/gc.ref.content.ztoc.${i}`] = z);
  return labels;
}

async function withDaemon(
  fn: (c: TestContainerd, root: string) => Promise<void>,
): Promise<void> {
  const c = await startContainerd();
  const scratch = await tempDir("soci-ctrd-root-");
  try {
    await fn(c, join(scratch, "root"));
  } finally {
    await c.stop();
    await Deno.remove(scratch, { recursive: true });
  }
}

/**
 * Imports `app` into `ns` as docker.io/library/img:app; returns the digests
 * containerd keeps of it (after a GC: the import leaves an unreferenced blob).
 */
async function importApp(c: TestContainerd, ns: string): Promise<string[]> {
  await ctrImport(c, join(ARCHIVES, "app.tar"), {
    baseName: "docker.io/library/img",
    namespace: ns,
  });
  await ctrGc(c, ns);
  return (await ctrContentDigests(c, ns)).sort();
}

function open(c: TestContainerd, root: string, ns: string): ContainerdStore {
  return ContainerdStore.open(root, { address: c.socket, namespace: ns });
}

/** The DB rows of the store's root, as `[digest, type]`, by digest. */
function rows(store: ContainerdStore): string[][] {
  return store.db.all().map((r) => [r.digest, r.type]);
}

const expectedRows = () =>
  [[EXPECTED.index, "soci_index"], ...EXPECTED.ztocs.map((z) => [z, "soci_layer"])].sort((a, b) =>
    a[0] < b[0] ? -1 : 1
  );

/** Asserts that the create of `app` in `ns` is there whole: DB rows, labels, kept by the GC. */
async function assertWhole(c: TestContainerd, store: ContainerdStore, ns: string, why: string) {
  assert.deepEqual(rows(store), expectedRows(), why);
  await ctrGc(c, ns);
  const content = await ctrContentLabels(c, ns);
  assert.deepEqual(content.get(EXPECTED.index), indexLabels(), why);
  for (const z of [...EXPECTED.ztocs, EMPTY_CONFIG]) assert.ok(content.has(z), `${why}: ${z}`);
  const hex = EXPECTED.index.slice("sha256:".length);
  const image = (await ctrImageLabels(c, ns)).get(IMAGE);
  assert.deepEqual(image, {
    [SOCI_LABEL]: EXPECTED.index,
    [`${SOCI_LABEL}.${hex}`]: EXPECTED.index,
  }, why);
  assert.deepEqual(await ctrLeases(c, ns), [], why);
  assert.deepEqual(store.db.listPending(), new Map(), why);
}

/** Asserts that nothing of a create of `app` in `ns` is left once the GC ran. */
async function assertNothing(
  c: TestContainerd,
  store: ContainerdStore,
  ns: string,
  before: string[],
  why: string,
) {
  assert.deepEqual(rows(store), [], why);
  assert.deepEqual(await ctrLeases(c, ns), [], why);
  await ctrGc(c, ns);
  assert.deepEqual((await ctrContentDigests(c, ns)).sort(), before, why);
  assert.deepEqual((await ctrImageLabels(c, ns)).get(IMAGE), {}, why);
  assert.deepEqual(store.db.listPending(), new Map(), why);
}

Deno.test("containerd store: writes go into a lease and are invisible until the DB commits; commit labels and drops the lease", async () => {
  await withDaemon(async (c, root) => {
    const before = await importApp(c, "t1");
    const store = open(c, root, "t1");
    try {
      const src = new ContainerdSource(IMAGE, { client: store.client });
      // At the commit's first step everything is written and nothing is in the DB yet.
      const stepsSeen: string[] = [];
      const begin = store.begin.bind(store);
      store.begin = (o) =>
        begin({
          ...o,
          onStep: (s) => {
            stepsSeen.push(`${s}:${store.db.all().length}`);
          },
        });
      const tx = store.begin();
      const blob = await tx.putBlob(enc.encode("zTOC-like bytes"));
      const leases = await ctrLeases(c, "t1");
      assert.equal(leases.length, 1);
      assert.match(leases[0].labels[GC_EXPIRE_LABEL], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      const expiry = Date.parse(leases[0].labels[GC_EXPIRE_LABEL]) - Date.now();
      assert.ok(expiry > 23 * 3600e3 && expiry <= 24 * 3600e3, `expires in ${expiry} ms`);
      assert.match(leases[0].labels[LEASE_TX_LABEL], new RegExp(`^ctrd-[0-9a-z]+-${Deno.pid}-`));
      const pending = [...store.db.listPending()];
      assert.equal(pending.length, 1);
      assert.equal(pending[0][0], leases[0].labels[LEASE_TX_LABEL]);
      assert.deepEqual(pending[0][1], [
        `lease:${JSON.stringify({ sock: c.socket, ns: "t1", id: leases[0].id })}`,
      ]);
      assert.ok((await ctrContentDigests(c, "t1")).includes(blob.digest));
      assert.deepEqual(rows(store), []);
      await tx.abort();
      assert.deepEqual(await ctrLeases(c, "t1"), []);
      assert.deepEqual(store.db.listPending(), new Map());
      await ctrGc(c, "t1");
      assert.deepEqual((await ctrContentDigests(c, "t1")).sort(), before);

      // A whole create.
      const made = await createIndexes(src, store, { minLayerSize: 0 });
      const n = EXPECTED.ztocs.length + 1;
      assert.deepEqual(stepsSeen, [
        "pending:0",
        "blobs:0",
        "db:" + n,
        "committed:" + n,
        "index:" + n,
      ]);
      assert.equal(made.name, IMAGE);
      assert.equal(made.indexes[0].index.descriptor.digest, EXPECTED.index);
      await assertWhole(c, store, "t1", "after create");
      // The bytes containerd holds are those of the local store's create.
      for (const d of [EXPECTED.index, ...EXPECTED.ztocs]) {
        const bytes = await c.ctrBytes(["content", "get", d], "t1");
        assert.equal(sha256(bytes), d);
      }
      await src.close();
    } finally {
      store.close();
    }
  });
});

Deno.test("containerd store: a commit failing before the DB commits leaves DB and containerd as they were", async () => {
  await withDaemon(async (c, root) => {
    const before = await importApp(c, "t2");
    for (const failAt of ["pending", "blobs", "db"] as const) {
      const store = open(c, root, "t2");
      try {
        const begin = store.begin.bind(store);
        store.begin = () =>
          begin({
            onStep: (s) => {
              if (s === failAt) throw new Error(`injected failure at ${s}`);
            },
          });
        const src = new ContainerdSource(IMAGE, { client: store.client });
        await assert.rejects(
          createIndexes(src, store, { minLayerSize: 0 }),
          { message: `injected failure at ${failAt}` },
        );
        await assertNothing(c, store, "t2", before, failAt);
      } finally {
        store.close();
      }
    }
  });
});

Deno.test("containerd store: a failure after the DB commit does not undo it; the next writer finishes it", async () => {
  await withDaemon(async (c, root) => {
    for (const failAt of ["committed", "index"] as const) {
      const ns = `t3-${failAt}`;
      await importApp(c, ns);
      await Deno.remove(root, { recursive: true }).catch(() => {});
      const store = open(c, root, ns);
      try {
        const begin = store.begin.bind(store);
        let tx: { warnings: readonly string[] } | undefined;
        store.begin = () => {
          const t = begin({
            onStep: (s) => {
              if (s === failAt) throw new Error(`injected failure at ${s}`);
            },
          });
          tx = t;
          return t;
        };
        const src = new ContainerdSource(IMAGE, { client: store.client });
        await createIndexes(src, store, { minLayerSize: 0 }); // no error: it happened
        assert.deepEqual(tx!.warnings, [
          `updating containerd's labels and images failed: injected failure at ${failAt}`,
        ]);
        assert.deepEqual(rows(store), expectedRows());
        assert.equal((await ctrLeases(c, ns)).length, 1, "the lease waits for the recovery");
        const labels = (await ctrImageLabels(c, ns)).get(IMAGE)!;
        assert.equal(labels[SOCI_LABEL] === undefined, failAt === "committed");
        // The next writer (here rebuild-db, in another store object) catches up.
        const next = open(c, root, ns);
        try {
          assert.deepEqual(await rebuildDb(next), { removed: [], added: [] });
          await assertWhole(c, next, ns, failAt);
        } finally {
          next.close();
        }
      } finally {
        store.close();
      }
    }
  });
});

/** Runs the killer helper; returns its exit status. */
async function killer(args: string[]): Promise<Deno.CommandStatus> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./helpers/containerd_store_killer.ts", import.meta.url).pathname,
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
    env: { DENO_NO_UPDATE_CHECK: "1" },
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.signal, "SIGKILL", `not killed: ${out.code}: ${text}`);
  return out;
}

Deno.test("containerd store: SIGKILL at each step leaves, once the next writer ran, all or nothing and no lease", async () => {
  await withDaemon(async (c, root) => {
    const steps = ["ztoc", "pending", "blobs", "db", "committed", "index"] as const;
    for (const step of steps) {
      const ns = `kill-${step}`;
      await Deno.remove(root, { recursive: true }).catch(() => {});
      await Deno.mkdir(root, { recursive: true });
      const before = await importApp(c, ns);
      await killer([root, c.socket, ns, IMAGE, step]);
      const store = open(c, root, ns);
      try {
        // Left behind: the lease (with its expiry), its DB entry.
        const leases = await ctrLeases(c, ns);
        assert.equal(leases.length, 1, step);
        assert.ok(leases[0].labels[GC_EXPIRE_LABEL], step);
        assert.ok(store.db.listPending().has(leases[0].labels[LEASE_TX_LABEL]), step);
        // The next writer: rebuild-db (which would re-add an index blob it still found).
        await rebuildDb(store);
        if (step === "committed" || step === "index") await assertWhole(c, store, ns, step);
        else await assertNothing(c, store, ns, before, step);
      } finally {
        store.close();
      }
    }
  });
});

Deno.test("containerd store: a live transaction's lease survives others' recovery; killed, it goes", async () => {
  await withDaemon(async (c, root) => {
    const before = await importApp(c, "live");
    await Deno.mkdir(root, { recursive: true });
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("./helpers/containerd_store_killer.ts", import.meta.url).pathname,
        root,
        c.socket,
        "live",
        IMAGE,
        "hold",
      ],
      stdout: "piped",
      stderr: "inherit",
      env: { DENO_NO_UPDATE_CHECK: "1" },
    }).spawn();
    const reader = child.stdout.getReader();
    const first = await reader.read();
    assert.equal(new TextDecoder().decode(first.value).trim(), "READY");
    const store = open(c, root, "live");
    try {
      await store.withLock(() => Promise.resolve()); // runs the recovery
      assert.equal((await ctrLeases(c, "live")).length, 1, "a live owner's lease is kept");
      Deno.kill(child.pid, "SIGKILL");
      assert.equal((await child.status).signal, "SIGKILL");
      await reader.cancel();
      await store.withLock(() => Promise.resolve());
      await assertNothing(c, store, "live", before, "after the kill");
    } finally {
      store.close();
    }
  });
});

Deno.test("containerd store: an image containerd lacks gets no record, its index is a GC root; upsert makes and moves records", async () => {
  await withDaemon(async (c, root) => {
    const store = open(c, root, "roots");
    try {
      // From the OCI layout: containerd has no record of the image.
      const made = await createIndexes(await openImage(`oci:${IMG.layout}:app`), store, {
        minLayerSize: 0,
      });
      assert.equal(made.indexes[0].index.descriptor.digest, EXPECTED.index);
      assert.deepEqual([...(await ctrImageLabels(c, "roots")).keys()], []);
      await ctrGc(c, "roots");
      const content = await ctrContentLabels(c, "roots");
      const labels = content.get(EXPECTED.index)!;
      assert.match(labels[ROOT_LABEL], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      delete labels[ROOT_LABEL];
      assert.deepEqual(labels, indexLabels());
      for (const z of EXPECTED.ztocs) assert.ok(content.has(z));
      // The image's own documents are not kept (nothing keeps them).
      assert.ok(!content.has(IMG.app.manifest.digest));

      // convert's destination: a record made, then moved; annotations become labels.
      const a = { mediaType: OCI_MANIFEST, digest: EXPECTED.index, size: 0 };
      a.size = (await store.stat(EXPECTED.index))!.size;
      let tx = store.begin();
      tx.tagImage("127.0.0.1:5000/app:soci", a, { "x.test/by": "convert" }, { upsert: true });
      await tx.commit();
      const m = enc.encode('{"schemaVersion":2}');
      tx = store.begin();
      const b = await tx.putBlob(m);
      tx.tagImage("127.0.0.1:5000/app:soci", { mediaType: OCI_MANIFEST, ...b }, {}, {
        upsert: true,
      });
      await tx.commit();
      const list = await c.ctr(["images", "ls"], "roots");
      assert.match(
        list,
        new RegExp(
          `127\\.0\\.0\\.1:5000/app:soci\\s+${OCI_MANIFEST.replace("+", "\\+")}\\s+${b.digest}`,
        ),
      );
      assert.deepEqual((await ctrImageLabels(c, "roots")).get("127.0.0.1:5000/app:soci"), {
        "x.test/by": "convert",
      });
      // Without upsert nothing is made.
      tx = store.begin();
      tx.tagImage("127.0.0.1:5000/app:other", { mediaType: OCI_MANIFEST, ...b });
      await tx.commit();
      assert.deepEqual([...(await ctrImageLabels(c, "roots")).keys()], ["127.0.0.1:5000/app:soci"]);
    } finally {
      store.close();
    }
  });
});

Deno.test("containerd store: recovery leaves other sockets' entries; the local store leaves containerd's alone", async () => {
  await withDaemon(async (c, root) => {
    await Deno.mkdir(root, { recursive: true });
    const store = open(c, root, "other");
    const elsewhere = `lease:${JSON.stringify({ sock: "/elsewhere.sock", ns: "x", id: "l1" })}`;
    const dead = "ctrd-1-4194305-00000000"; // a pid above Linux's pid_max: gone
    store.db.transaction(() => store.db.addPending(dead, [elsewhere]));
    try {
      await store.withLock(() => Promise.resolve());
      assert.deepEqual(store.db.listPending(), new Map([[dead, [elsewhere]]]));
      // A commit of the local store on the same root (same DB) keeps them too.
      const local = LocalStore.open(root);
      try {
        const tx = local.begin();
        const blob = await tx.putBlob(enc.encode("{}"));
        tx.putRecord(indexRecord(blob.digest, blob.size, blob.digest, blob.digest, "", SOCI_V1));
        await tx.commit();
      } finally {
        local.close();
      }
      assert.deepEqual(store.db.listPending(), new Map([[dead, [elsewhere]]]));
      // Its own socket's entry of a dead process: the lease goes (a missing one is fine).
      const mine = `lease:${JSON.stringify({ sock: c.socket, ns: "other", id: "gone" })}`;
      store.db.transaction(() => {
        store.db.clearPending(dead);
        store.db.addPending(dead, [mine]);
      });
      await store.withLock(() => Promise.resolve());
      assert.deepEqual(store.db.listPending(), new Map());
      // (zTOC rows need their blob: a missing one fails the commit, nothing changes.)
      const tx = store.begin();
      tx.putRecord(ztocRecord("sha256:" + "9".repeat(64), 1, "sha256:" + "8".repeat(64), 1));
      await assert.rejects(
        tx.commit(),
        /cannot record sha256:9{64}: the blob is not in containerd namespace other/,
      );
      assert.equal(store.db.get("sha256:" + "9".repeat(64)), undefined);
    } finally {
      store.close();
    }
  });
});
