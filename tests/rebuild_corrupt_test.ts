// A damaged artifacts DB (a garbage file, a real DB cut to half its size, a
// real DB with a page overwritten with junk, damage only `PRAGMA
// quick_check` finds): every other command fails in one line that names the
// DB and `soci rebuild-db`, leaving the root byte for byte as it was;
// `rebuild-db` moves the damaged file aside (byte for byte, `-wal`/`-shm`
// with it) and rebuilds the DB, or moves it back when the rebuild fails.
// Unreadable or locked DBs are not damage. The CLI runs as a process;
// damage is located with Python's sqlite3 (an independent reader).
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { LocalStore } from "../lib/store/local_store.ts";
import { rebuildDamagedDb, rebuildDb } from "../lib/use_cases/rebuild.ts";
import { ctrImport, ociArchive, startContainerd } from "./helpers/containerd.ts";
import {
  e2eImages,
  lines,
  noise,
  parseJson,
  python,
  soci,
  sociOk,
  storeBlob,
  tempDir,
  treeListing,
  withRoot,
} from "./helpers/create_e2e_images.ts";
import { blob, layerDigest, sociIndex, ztocBytes, ztocDesc } from "./helpers/store_fixture.ts";

const IMG = await e2eImages();
const L = IMG.layout;
const HINT = "(soci rebuild-db rebuilds it from the content store)";
const NOT_A_DB = "file is not a database";
const MALFORMED = "database disk image is malformed";

const dbOf = (root: string) => join(root, "artifacts.sqlite");

/** Runs `create` for each of `refs` (default: app); returns the index digests. */
async function populate(root: string, g: string[] = [], refs = [`oci:${L}:app`]) {
  const digests: string[] = [];
  for (const ref of refs) {
    const out = await sociOk(root, [...g, "create", "-q", "--min-layer-size", "0", ref]);
    digests.push(...lines(out.stdout));
  }
  return digests;
}

const REFS = [`oci:${L}:app`, `oci:${L}:docker`, `oci:${L}:sibling`];

/**
 * `index list --json` and `ztoc list --json` sorted by digest, creation
 * times left out (rebuilt rows are dated by their blobs).
 */
async function listed(root: string, g: string[] = []): Promise<unknown> {
  const list = async (what: string) =>
    parseJson<Array<{ digest: string; createdAt: string }>>(
      (await sociOk(root, [...g, what, "list", "--json"])).stdout,
    ).map(({ createdAt: _, ...rest }) => rest)
      .sort((a, b) => a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0);
  return { indexes: await list("index"), ztocs: await list("ztoc") };
}

/** Overwrites the root page of table or index `name` with junk (located by Python's sqlite3). */
async function overwritePage(db: string, name: string): Promise<void> {
  const [page, pageSize] = await python(
    String.raw`
import json, sqlite3, sys, urllib.parse
c = sqlite3.connect("file:" + urllib.parse.quote(sys.argv[1]) + "?mode=ro&immutable=1", uri=True)
root = c.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (sys.argv[2],)).fetchone()[0]
print(json.dumps([root, c.execute("PRAGMA page_size").fetchone()[0]]))
`,
    db,
    name,
  ) as [number, number];
  assert.ok(page > 1, `${name} has root page ${page}`);
  const f = await Deno.open(db, { write: true });
  try {
    await f.seek((page - 1) * pageSize, Deno.SeekMode.Start);
    await f.write(noise(pageSize, page));
  } finally {
    f.close();
  }
}

/** The damages that any query meets, and what SQLite calls them. */
const DAMAGES: Array<[string, (db: string) => Promise<void>, string]> = [
  ["a garbage file", (db) => Deno.writeTextFile(db, "this is not a database\n"), NOT_A_DB],
  [
    "a DB cut to half its size",
    async (db) => await Deno.truncate(db, (await Deno.stat(db)).size / 2),
    MALFORMED,
  ],
  ["a DB whose artifacts page is junk", (db) => overwritePage(db, "artifacts"), MALFORMED],
];

/**
 * Runs `rebuild-db` on the damaged DB of `root`: exit 0, one warning line
 * naming the DB, the cause (starting with `cause`) and the new path
 * `artifacts.sqlite.corrupt-<UTC time of the run>`, which holds the
 * damaged bytes; `index list`/`ztoc list` then show `before`.
 */
async function rebuildRecovers(root: string, cause: string, before: unknown, g: string[] = []) {
  const db = dbOf(root);
  const damaged = await Deno.readFile(db);
  const t0 = Math.floor(Date.now() / 1000) * 1000;
  const r = await soci(root, [...g, "rebuild-db"]);
  const t1 = Date.now();
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "");
  const m = r.stderr.match(
    /^warning: artifacts DB (.+) is damaged \((.+)\): moved it to (.+) and rebuilt it from the content store\n$/,
  );
  assert.ok(m, r.stderr);
  assert.equal(m[1], db);
  assert.ok(m[2].startsWith(cause), m[2]);
  const stamp = m[3].match(/^(.+)\/artifacts\.sqlite\.corrupt-(\d{8}T\d{6}Z)$/);
  assert.ok(stamp && stamp[1] === root, m[3]);
  const s = stamp[2];
  const when = Date.parse(
    `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(9, 11)}:${s.slice(11, 13)}:` +
      `${s.slice(13, 15)}Z`,
  );
  assert.ok(when >= t0 && when <= t1, `${s} is not the UTC time of the run`);
  assert.deepEqual(await Deno.readFile(m[3]), damaged);
  assert.deepEqual(await listed(root, g), before);
  return m[3];
}

/** The commands other than rebuild-db, read-only and writing. */
const otherCommands = (digest: string) => [
  ["index", "list"],
  ["ztoc", "list"],
  ["index", "info", digest],
  ["index", "rm", digest],
  ["create", "-q", "--min-layer-size", "0", `oci:${L}:app`],
];

for (const [what, damage, cause] of DAMAGES) {
  Deno.test(`${what}: other commands fail in one line naming the DB and rebuild-db, changing nothing; rebuild-db moves it aside and brings every index back`, async () => {
    await withRoot(async (root) => {
      const [digest] = await populate(root, [], REFS);
      const before = await listed(root);
      const db = dbOf(root);
      await damage(db);
      const tree = await treeListing(root); // every file's bytes
      const line = `artifacts DB ${db} is not available: ${cause} ${HINT}`;
      for (const args of otherCommands(digest)) {
        const r = await soci(root, args);
        assert.equal(r.code, 1, `${args.join(" ")}: ${r.stderr}`);
        assert.equal(r.stdout, "");
        assert.match(r.stderr, /^soci: [^\n]*\n$/, args.join(" "));
        // create may fail in every layer: the same failure is said once.
        if (args[0] === "create") {
          assert.ok(r.stderr.endsWith(`${line}\n`), r.stderr);
          assert.equal(r.stderr.split(line).length, 2, r.stderr);
        } else assert.equal(r.stderr, `soci: ${line}\n`, args.join(" "));
        assert.deepEqual(await treeListing(root), tree, args.join(" "));
      }
      const aside = await rebuildRecovers(root, cause, before);
      assert.deepEqual(
        (await Array.fromAsync(Deno.readDir(root))).map((e) => e.name).sort(),
        ["artifacts.sqlite", aside.slice(root.length + 1), "content"],
      );
    });
  });
}

Deno.test("damage only quick_check finds (an index's page is junk): rebuild-db moves the DB aside and rebuilds it", async () => {
  await withRoot(async (root) => {
    await populate(root, [], REFS);
    const before = await listed(root);
    await overwritePage(dbOf(root), "artifacts_by_image");
    await rebuildRecovers(root, `${MALFORMED}: `, before);
  });
});

Deno.test("a damaged DB with -wal and -shm files: rebuild-db moves the three together, DB and WAL byte for byte", async () => {
  await withRoot(async (root) => {
    await populate(root, [], REFS);
    const before = await listed(root);
    const db = dbOf(root);
    // A real WAL: a commit not yet checkpointed, kept as a crashed writer leaves it.
    const conn = new DatabaseSync(db);
    conn.exec("PRAGMA wal_autocheckpoint = 0");
    conn.exec("INSERT INTO meta (key, value) VALUES ('wal-test', '1')");
    const wal = await Deno.readFile(`${db}-wal`);
    const shm = await Deno.readFile(`${db}-shm`);
    conn.close(); // checkpoints and removes them: put them back
    assert.ok(wal.length > 0);
    await Deno.truncate(db, (await Deno.stat(db)).size / 2);
    await Deno.writeFile(`${db}-wal`, wal);
    await Deno.writeFile(`${db}-shm`, shm);

    const aside = await rebuildRecovers(root, MALFORMED, before);
    assert.deepEqual(await Deno.readFile(`${aside}-wal`), wal);
    assert.ok((await Deno.stat(`${aside}-shm`)).isFile); // SQLite's index of the WAL, rebuilt
    assert.deepEqual(
      (await Array.fromAsync(Deno.readDir(root))).map((e) => e.name).sort(),
      ["artifacts.sqlite", ...["", "-shm", "-wal"].map((s) => aside.slice(root.length + 1) + s)]
        .concat("content").sort(),
    );
  });
});

Deno.test("rebuild-db failing after moving a damaged DB aside moves it back: the root is as it was", async () => {
  await withRoot(async (root) => {
    await populate(root);
    // A v1 index with an unparsable span size: the rebuild fails (C§7).
    const z = ztocBytes(1);
    const bad = sociIndex([ztocDesc(z, layerDigest(9), "abc")], blob("{}"));
    await Deno.writeFile(storeBlob(root, bad.digest), bad.bytes);
    await Deno.writeTextFile(dbOf(root), "this is not a database\n");
    const tree = await treeListing(root);
    const r = await soci(root, ["rebuild-db"]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      "soci: failed to add new artifacts to db: failed to parse span size from annotations " +
        `for layer  ${z.digest}: strconv.ParseInt: parsing "abc": invalid syntax\n`,
    );
    assert.deepEqual(await treeListing(root), tree);
  });
});

Deno.test("rebuild-db --content-store containerd failing to reach containerd moves a damaged DB back", async () => {
  await withRoot(async (root, scratch) => {
    await populate(root);
    await Deno.writeTextFile(dbOf(root), "this is not a database\n");
    const tree = await treeListing(root);
    const sock = join(scratch, "containerd.sock");
    const r = await soci(root, ["--content-store", "containerd", "--address", sock, "rebuild-db"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^soci: containerd socket [^\n]+ does not exist[^\n]*\n$/);
    assert.deepEqual(await treeListing(root), tree);
  });
});

Deno.test("a DB that may not be read is not damage: no hint, nothing moved; readable, rebuild-db moves it aside", async () => {
  await withRoot(async (root) => {
    await populate(root);
    const before = await listed(root);
    const db = dbOf(root);
    await Deno.writeTextFile(db, "this is not a database\n");
    const tree = await treeListing(root);
    const denied = [
      "run",
      "--quiet",
      `--allow-read=${root},${new URL("..", import.meta.url).pathname}`,
      `--deny-read=${db}`,
      `--allow-write=${root}`,
      "--allow-env",
      new URL("../cli.ts", import.meta.url).pathname,
      "--root",
      root,
    ];
    for (const cmd of [["rebuild-db"], ["index", "list"]]) {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [...denied, ...cmd],
        env: { NO_COLOR: "1" },
        stdin: "null",
      }).output();
      assert.equal(out.code, 1);
      assert.equal(
        new TextDecoder().decode(out.stderr),
        `soci: artifacts DB ${db} is not available: Requires read access to "${db}", ` +
          "run again with the --allow-read flag\n",
      );
      assert.deepEqual(await treeListing(root), tree);
    }
    await rebuildRecovers(root, NOT_A_DB, before);
  });
});

Deno.test("a locked DB is not damage: rebuild-db's check fails without the hint and moves nothing", async () => {
  await withRoot(async (root) => {
    await populate(root);
    const db = dbOf(root);
    const holder = new DatabaseSync(db);
    try {
      holder.exec("PRAGMA locking_mode = EXCLUSIVE");
      holder.exec("BEGIN EXCLUSIVE");
      holder.exec("INSERT INTO meta (key, value) VALUES ('lock-test', '1')");
      let rebuilt = false;
      await assert.rejects(
        rebuildDamagedDb(root, () => {
          rebuilt = true;
          return Promise.resolve();
        }, { busyTimeoutMs: 100 }),
        (e: Error) => {
          assert.equal(e.message, `artifacts DB ${db} is not available: database is locked`);
          return true;
        },
      );
      assert.equal(rebuilt, false);
      const names = (await Array.fromAsync(Deno.readDir(root))).map((e) => e.name);
      assert.deepEqual(names.filter((n) => n.includes("corrupt")), []);
    } finally {
      holder.close();
    }
  });
});

Deno.test("moving aside never overwrites: an existing artifacts.sqlite.corrupt-<time> (or its -wal) gets a numbered sibling", async () => {
  await withRoot(async (root) => {
    await populate(root);
    const db = dbOf(root);
    await Deno.writeTextFile(db, "this is not a database\n");
    const older = `${db}.corrupt-20261207T051500Z`;
    await Deno.writeTextFile(older, "an older damaged DB\n");
    await Deno.writeTextFile(`${older}-2-wal`, "its WAL\n");
    const moved = await rebuildDamagedDb(root, async () => {
      using store = LocalStore.open(root);
      await rebuildDb(store);
    }, { now: new Date("2026-12-07T05:15:00.750Z") });
    assert.deepEqual(moved, { path: db, aside: `${older}-3`, cause: NOT_A_DB });
    assert.equal(await Deno.readTextFile(older), "an older damaged DB\n");
    assert.equal(await Deno.readTextFile(`${older}-2-wal`), "its WAL\n");
    assert.equal(await Deno.readTextFile(`${older}-3`), "this is not a database\n");
  });
});

Deno.test("containerd store: a garbage DB fails index list with the hint; rebuild-db --content-store containerd moves it aside and rebuilds it", async () => {
  const c = await startContainerd();
  const scratch = await tempDir("soci-rebuild-corrupt-ctrd-");
  try {
    const archive = join(scratch, "app.tar");
    await ociArchive(L, "app", archive);
    await ctrImport(c, archive, { baseName: "docker.io/library/img", namespace: "default" });
    const root = join(scratch, "root");
    const g = ["--content-store", "containerd", "--address", c.socket, "--namespace", "default"];
    await populate(root, g, ["img:app"]);
    const before = await listed(root, g);
    const db = dbOf(root);
    await Deno.writeTextFile(db, "this is not a database\n");
    const tree = await treeListing(root);
    const r = await soci(root, [...g, "index", "list"]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `soci: artifacts DB ${db} is not available: ${NOT_A_DB} ${HINT}\n`);
    assert.deepEqual(await treeListing(root), tree);
    await rebuildRecovers(root, NOT_A_DB, before, g);
  } finally {
    await c.stop();
    await Deno.remove(scratch, { recursive: true });
  }
});
