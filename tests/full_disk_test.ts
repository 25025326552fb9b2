// A store on a full file system: create and convert fail with one line naming the store,
// and the root is as it was (real tmpfs, real ENOSPC; needs root to mount: ignored otherwise).
import assert from "node:assert/strict";
import { join } from "node:path";
import { linesOf, runSoci, SAMPLE_LAYOUT } from "./helpers/registry_e2e_cli.ts";
import { run, snapshotTree } from "./helpers/store_tree.ts";

/** Mounts a tmpfs of `bytes` at a new directory; `undefined` when this machine cannot. */
async function mountTmpfs(
  bytes: number,
): Promise<{ dir: string; unmount(): Promise<void> } | undefined> {
  const dir = await Deno.makeTempDir({ prefix: "soci-full-disk-" });
  const r = Deno.uid() === 0
    ? await run("mount", ["-t", "tmpfs", "-o", `size=${bytes}`, "tmpfs", dir])
    : { code: 1 };
  if (r.code !== 0) {
    await Deno.remove(dir);
    return undefined;
  }
  return {
    dir,
    async unmount() {
      const u = await run("umount", [dir]);
      if (u.code !== 0) throw new Error(`umount ${dir} failed: ${u.stderr}`);
      await Deno.remove(dir);
    },
  };
}

const SIDE_FILES = /^artifacts\.sqlite-(wal|shm)$/;

const probe = await mountTmpfs(1 << 20);
await probe?.unmount();

/** Fills the file system of `dir` up to `left` bytes free. */
async function fill(dir: string, left: number): Promise<void> {
  const { avail } = await dfAvail(dir);
  const f = await Deno.open(join(dir, "filler"), { append: true, create: true });
  try {
    const block = new Uint8Array(4096);
    for (let free = avail; free > left; free -= block.length) await f.write(block);
  } finally {
    f.close();
  }
}

async function dfAvail(dir: string): Promise<{ avail: number }> {
  const r = await run("df", ["-B1", "--output=avail", dir]);
  assert.equal(r.code, 0, r.stderr);
  return { avail: Number(new TextDecoder().decode(r.stdout).trim().split("\n").pop()) };
}

Deno.test({
  name:
    "a full disk: create and convert fail with one line naming the store; the root is unchanged",
  ignore: probe === undefined,
  fn: async () => {
    const fs = (await mountTmpfs(2 << 20))!;
    try {
      const root = join(fs.dir, "root");
      // A root that already holds an index (and its DB), then a full disk.
      const first = await runSoci([
        "--root",
        root,
        "create",
        "-q",
        "--min-layer-size",
        "0",
        "--span-size",
        "1MiB",
        `oci:${SAMPLE_LAYOUT}:latest`,
      ]);
      assert.equal(first.code, 0, first.stderr);
      const esc = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      const blobFull = `soci: cannot write to the local store ${join(root, "content")}: ` +
        "no space left on device";
      const dbFull = new RegExp(
        `^soci: artifacts DB ${esc(join(root, "artifacts.sqlite"))} is not available: ` +
          "(disk I/O error|database or disk is full)$",
      );
      // 64 KiB free: the DB opens, a zTOC blob does not fit. 8 KiB: the DB's WAL
      // files do not fit either.
      for (const [left, expected] of [[65536, blobFull], [8192, dbFull]] as const) {
        await fill(fs.dir, left);
        const before = await snapshotTree(root, SIDE_FILES);
        for (
          const args of [
            [
              "create",
              "--min-layer-size",
              "0",
              "--span-size",
              "64KiB",
              `oci:${SAMPLE_LAYOUT}:latest`,
            ],
            ["convert", "--min-layer-size", "0", `oci:${SAMPLE_LAYOUT}:latest`, "sample-soci"],
          ]
        ) {
          const what = `${left} bytes free: ${args.join(" ")}`;
          const r = await runSoci(["--root", root, ...args]);
          assert.equal(r.code, 1, what);
          const errors = linesOf(r.stderr).filter((l) => l.startsWith("soci: "));
          assert.equal(errors.length, 1, r.stderr);
          if (typeof expected === "string") assert.equal(errors[0], expected, what);
          else assert.match(errors[0], expected, what);
          // The DB and the store as they were; SQLite may leave its (empty) WAL side
          // files, which the next command that opens the DB removes.
          assert.deepEqual(await snapshotTree(root, SIDE_FILES), before, what);
          const wal = await Deno.stat(join(root, "artifacts.sqlite-wal")).catch(() => undefined);
          assert.ok(wal === undefined || wal.size === 0, `${what}: -wal of ${wal?.size} bytes`);
        }
      }
    } finally {
      await fs.unmount();
    }
  },
});
