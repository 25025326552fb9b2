/**
 * Checks of the benchmark data generator against independent tools:
 * Python's `tarfile` and GNU tar read the tar, `gzip`/`sha256sum` check the
 * layer file and its digests, `skopeo` reads and copies the image layout.
 *
 * Run: `deno test -A tests/bench_data_test.ts`
 *
 * @module
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  ensureImage,
  ensureLayer,
  ensureRealImage,
  ensureRealLayer,
  type LayerStats,
  tarChunks,
  tarHeader,
} from "../tasks/bench_data.ts";
import { concat } from "./helpers/bytes.ts";

async function run(
  cmd: string,
  args: string[],
  stdin?: Uint8Array,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = new Deno.Command(cmd, {
    args,
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin) {
    const w = p.stdin.getWriter();
    await w.write(stdin);
    await w.close();
  }
  const out = await p.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function sha256Hex(chunks: Iterable<Uint8Array>): string {
  const h = createHash("sha256");
  for (const c of chunks) h.update(c);
  return h.digest("hex");
}

async function writeTar(path: string, seed: number, size: number, stats?: LayerStats) {
  const f = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    for (const c of tarChunks(seed, size, stats)) {
      let off = 0;
      while (off < c.length) off += await f.write(c.subarray(off));
    }
  } finally {
    f.close();
  }
}

// Python's view of a tar: entry counts by type, file bytes, end of the last member.
const PY_SUMMARY = `
import sys, tarfile, json
t = tarfile.open(sys.argv[1])
types = {}; fbytes = 0; names = []
for m in t:
    types[m.type.decode()] = types.get(m.type.decode(), 0) + 1
    if m.isfile(): fbytes += m.size
    names.append(m.name)
print(json.dumps({"types": types, "fileBytes": fbytes, "end": t.offset, "names": names,
  "longest": max(len(n) for n in names), "nonascii": sum(1 for n in names if not n.isascii())}))
`;

Deno.test("tarChunks: same bytes for the same seed and size, exact size, other seed differs", () => {
  const size = 3 * 1024 * 1024;
  const a = sha256Hex(tarChunks(7, size));
  const b = sha256Hex(tarChunks(7, size));
  const c = sha256Hex(tarChunks(8, size));
  assert.equal(a, b);
  assert.notEqual(a, c);
  let n = 0;
  for (const chunk of tarChunks(7, size)) n += chunk.length;
  assert.equal(n, size);
  // a size that is not a multiple of 512 is rounded up
  n = 0;
  for (const chunk of tarChunks(7, 100_000)) n += chunk.length;
  assert.equal(n, 100_352);
});

Deno.test("tarChunks: Python tarfile and GNU tar read every entry", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/layer.tar`;
    const size = 24 * 1024 * 1024;
    const stats: LayerStats = {
      entries: 0,
      files: 0,
      dirs: 0,
      symlinks: 0,
      hardlinks: 0,
      pax: 0,
      largest: 0,
      bytes: { text: 0, binary: 0, records: 0, compressed: 0, zeros: 0 },
    };
    await writeTar(path, 8, size, stats); // seed 8: has PAX entries and hard links at this size
    const py = await run("python3", ["-c", PY_SUMMARY, path]);
    assert.equal(py.code, 0, py.stderr);
    const s = JSON.parse(py.stdout);
    assert.equal(s.names.length, stats.entries);
    assert.equal(s.types["0"], stats.files);
    assert.equal(s.types["5"], stats.dirs);
    assert.equal(s.types["2"], stats.symlinks);
    assert.equal(s.types["1"] ?? 0, stats.hardlinks);
    const kinds = stats.bytes;
    assert.equal(
      s.fileBytes,
      kinds.text + kinds.binary + kinds.records + kinds.compressed + kinds.zeros,
    );
    // Python's offset is the end of the last member: the two zero blocks follow.
    assert.equal(s.end, size - 1024);
    // varied content, many files, PAX names beyond USTAR's 255 bytes
    assert.ok(kinds.text > 0 && kinds.binary > 0 && kinds.records > 0 && kinds.compressed > 0);
    assert.ok(stats.files > 300 && stats.dirs > 50 && stats.symlinks > 0);
    assert.ok(stats.hardlinks > 0 && stats.pax > 0);
    assert.equal(new Set(s.names).size, s.names.length, "names are unique");
    const gnu = await run("tar", ["-tvf", path]);
    assert.equal(gnu.code, 0, gnu.stderr);
    assert.equal(gnu.stderr, "");
    assert.equal(gnu.stdout.trim().split("\n").length, stats.entries);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tarHeader: checksum, long and non-ASCII names read back by Python", async () => {
  const long = "opt/" + "deep/".repeat(60) + "file.txt"; // > 255 bytes: PAX path
  const split = "a".repeat(90) + "/" + "b".repeat(90); // fits prefix + name
  const utf8 = "usr/share/größe/日本語.txt";
  const entries = [
    { name: long, type: "0" as const, size: 3, mode: 0o644, mtime: 1_700_000_000 },
    { name: split, type: "0" as const, size: 0, mode: 0o600, mtime: 1 },
    { name: utf8, type: "0" as const, size: 0, mode: 0o644, mtime: 2 },
    { name: "l", type: "2" as const, size: 0, mode: 0o777, mtime: 3, linkname: long },
    {
      name: "x",
      type: "0" as const,
      size: 0,
      mode: 0o755,
      mtime: 4,
      pax: { "SCHILY.xattr.user.k": "v" },
    },
  ];
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    parts.push(tarHeader(e));
    if (e.size > 0) {
      const data = new Uint8Array(512);
      data.set([0x61, 0x62, 0x63]);
      parts.push(data);
    }
  }
  parts.push(new Uint8Array(1024));
  const tar = concat(parts);
  const py = await run("python3", [
    "-c",
    `
import sys, tarfile, io, json
t = tarfile.open(fileobj=io.BytesIO(sys.stdin.buffer.read()))
print(json.dumps([[m.name, m.type.decode(), m.size, m.mode, m.mtime, m.linkname,
  m.pax_headers.get("SCHILY.xattr.user.k"),
  t.extractfile(m).read().decode() if m.isfile() else None] for m in t]))
`,
  ], tar);
  assert.equal(py.code, 0, py.stderr);
  assert.deepEqual(JSON.parse(py.stdout), [
    [long, "0", 3, 0o644, 1_700_000_000, "", null, "abc"],
    [split, "0", 0, 0o600, 1, "", null, ""],
    [utf8, "0", 0, 0o644, 2, "", null, ""],
    ["l", "2", 0, 0o777, 3, long, null, null],
    ["x", "0", 0, 0o755, 4, "", "v", ""],
  ]);
});

Deno.test("ensureLayer: gzip file, digests checked by gzip and sha256sum, cached", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const info = await ensureLayer({ dir, seed: 5, size: 2 * 1024 * 1024 });
    assert.equal(info.uncompressedSize, 2 * 1024 * 1024);
    assert.equal((await Deno.stat(info.path)).size, info.size);
    const file = await run("sha256sum", [info.path]);
    assert.equal("sha256:" + file.stdout.split(" ")[0], info.digest);
    const tar = await run("sh", ["-c", 'gzip -dc "$0" | sha256sum', info.path]);
    assert.equal(tar.code, 0);
    assert.equal("sha256:" + tar.stdout.split(" ")[0], info.diffId);
    assert.equal("sha256:" + sha256Hex(tarChunks(5, 2 * 1024 * 1024)), info.diffId);
    // gzip -n: no name, mtime 0 (bytes 4..7 of the header)
    const head = (await Deno.readFile(info.path)).subarray(0, 10);
    assert.deepEqual([...head.subarray(0, 4)], [0x1f, 0x8b, 8, 0]);
    assert.deepEqual([...head.subarray(4, 8)], [0, 0, 0, 0]);
    const mtime = (await Deno.stat(info.path)).mtime;
    const again = await ensureLayer({ dir, seed: 5, size: 2 * 1024 * 1024 });
    assert.deepEqual(again, info);
    assert.deepEqual((await Deno.stat(info.path)).mtime, mtime, "served from the cache");
    const leftovers = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) =>
      n.includes(".tmp-")
    );
    assert.deepEqual(leftovers, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ensureImage: skopeo reads the layout and verifies every blob", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const img = await ensureImage({ dir, size: 1024 * 1024 });
    const ref = `oci:${img.dir}:${img.tag}`;
    const raw = await run("skopeo", ["inspect", "--raw", ref]);
    assert.equal(raw.code, 0, raw.stderr);
    assert.equal("sha256:" + createHash("sha256").update(raw.stdout).digest("hex"), img.manifest);
    const manifest = JSON.parse(raw.stdout);
    assert.deepEqual(
      manifest.layers.map((l: { digest: string; size: number }) => [l.digest, l.size]),
      img.layers.map((l) => [l.digest, l.size]),
    );
    const cfg = await run("skopeo", ["inspect", "--config", "--raw", ref]);
    assert.equal(cfg.code, 0, cfg.stderr);
    const config = JSON.parse(cfg.stdout);
    // diff_ids: sha256 of each decompressed layer, computed here by gzip + sha256sum
    const diffIds: string[] = [];
    for (const l of img.layers) {
      const r = await run("sh", ["-c", 'gzip -dc "$0" | sha256sum', l.path]);
      diffIds.push("sha256:" + r.stdout.split(" ")[0]);
    }
    assert.deepEqual(config.rootfs, { type: "layers", diff_ids: diffIds });
    assert.equal(config.os, "linux");
    // skopeo copy checks every blob against its digest
    const copy = await run("skopeo", ["copy", "--quiet", ref, `dir:${dir}/copy`]);
    assert.equal(copy.code, 0, copy.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("real-content layers: sorted, fixed owner and mtime, file bytes as on disk, read by Python and skopeo", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // A tree of our own: files, a long name (PAX), a symlink and a hard link.
    const root = `${dir}/root`;
    const deep = `${root}/b/${"long-directory-name-".repeat(8)}`;
    await Deno.mkdir(deep, { recursive: true });
    await Deno.mkdir(`${root}/a`);
    const files: Record<string, Uint8Array> = {};
    for (let i = 0; i < 60; i++) {
      const p = `${i % 2 ? root + "/a" : deep}/f${String(i).padStart(2, "0")}`;
      files[p] = new TextEncoder().encode(`file ${i} `.repeat(50 * i + 1));
      await Deno.writeFile(p, files[p]);
    }
    await Deno.symlink("a/f01", `${root}/link`);
    await Deno.link(`${root}/a/f01`, `${root}/a/zz-hard`);
    // (a plain file where its first link went to the other slice)
    files[`${root}/a/zz-hard`] = files[`${root}/a/f01`];
    // A slice size of half the tree's tar bytes: two slices, both in the image.
    const tarBytes = Object.values(files).reduce(
      (n, d) => n + 512 + Math.ceil(d.length / 512) * 512,
      0,
    );
    const opts = { dir: `${dir}/cache`, roots: [root], size: Math.ceil(tarBytes / 2) };
    const img = await ensureRealImage(opts);
    const again = await ensureRealLayer({ ...opts, dir: `${dir}/cache2` });
    assert.equal(again.digest, img.layers[0].digest, "same files, same bytes");
    assert.notEqual(img.layers[0].digest, img.layers[1].digest);
    const py = await run("python3", [
      "-c",
      `
import sys, tarfile, json, hashlib
out = []
for path in sys.argv[1:]:
    t = tarfile.open(path)
    out.append([[m.name, m.type.decode(), m.uid, m.gid, m.uname, m.gname, m.mtime, m.linkname,
      hashlib.sha256(t.extractfile(m).read()).hexdigest() if m.isfile() else None] for m in t])
print(json.dumps(out))
`,
      ...img.layers.map((l) => l.path),
    ]);
    assert.equal(py.code, 0, py.stderr);
    const layers = JSON.parse(py.stdout) as Array<Array<[string, string, ...unknown[]]>>;
    const seen = new Set<string>();
    for (const entries of layers) {
      const names = entries.map((e) => e[0]);
      assert.deepEqual(names, [...names].sort(), "sorted");
      for (const [name, type, uid, gid, uname, gname, mtime, linkname, sha] of entries) {
        assert.deepEqual([uid, gid, uname, gname, mtime], [0, 0, "root", "root", 1_700_000_000]);
        if (type === "0") {
          const data = files["/" + name];
          assert.ok(data, name);
          assert.equal(sha, createHash("sha256").update(data).digest("hex"), name);
          assert.ok(!seen.has(name), "each file in one layer only");
          seen.add(name);
        }
        if (type === "2") assert.equal(linkname, "a/f01");
        if (type === "1") assert.equal(linkname, root.slice(1) + "/a/f01");
      }
    }
    // every file of the tree is in one of the two slices
    const slices = Number(/slice \d+\/(\d+)/.exec(img.layers[0].source!)![1]);
    assert.equal(slices, 2);
    assert.equal(seen.size + (layers.flat().some((e) => e[1] === "1") ? 1 : 0), 61);
    const inspect = await run("skopeo", ["inspect", "--raw", `oci:${img.dir}:${img.tag}`]);
    assert.equal(inspect.code, 0, inspect.stderr);
    const copy = await run("skopeo", [
      "copy",
      "--quiet",
      `oci:${img.dir}:${img.tag}`,
      `dir:${dir}/copy`,
    ]);
    assert.equal(copy.code, 0, copy.stderr);
    // gzip -n: no name, mtime 0
    const head = (await Deno.readFile(img.layers[0].path)).subarray(0, 10);
    assert.deepEqual([...head.subarray(0, 8)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
