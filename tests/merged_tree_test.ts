// The merged file tree of an image's layers (OCI changeset rules): fixed
// cases for whiteouts, opaque directories, replacements, implicit
// directories and hard links; symlink resolution; and, on random layer
// stacks, the whole-tree merge, the top-down lookup and a naive
// entry-by-entry simulation written here all agree. (The rules against a
// real unpacker, umoci, are checked in read_e2e_test.ts.)
import assert from "node:assert/strict";
import { BadInputError, NotFoundError } from "../lib/errors.ts";
import {
  cleanPath,
  LayerFiles,
  lookupPath,
  mergeLayers,
  resolvePath,
  type TreeNode,
} from "../lib/soci/merged_tree.ts";
import type { FileMetadata } from "../lib/ztoc/model.ts";
import { prng, randInt } from "./helpers/bytes.ts";

const enc = new TextEncoder();

function entry(name: string, type = "reg", link = "", size = 0): FileMetadata {
  return {
    name: enc.encode(name),
    type,
    uncompressedOffset: 0,
    uncompressedSize: size,
    linkname: enc.encode(link),
    mode: type === "dir" ? 0o755 : 0o644,
    uid: 0,
    gid: 0,
    uname: enc.encode(""),
    gname: enc.encode(""),
    modTime: "",
    devmajor: 0,
    devminor: 0,
    xattrs: [],
  };
}

function layers(...specs: FileMetadata[][]): LayerFiles[] {
  return specs.map((s, i) => new LayerFiles(s, i));
}

function summary(tree: Map<string, TreeNode>): string[] {
  return [...tree.values()].map((n) =>
    `${n.path} ${n.implicit ? "implicit-" : ""}${n.meta.type}@${n.layer}`
  );
}

Deno.test("merged tree: whiteouts hide a file or a whole directory of the layers below", () => {
  const tree = mergeLayers(layers(
    [entry("./a/", "dir"), entry("./a/x"), entry("./a/y"), entry("./d/", "dir"), entry("./d/e/f")],
    [entry("./a/.wh.x"), entry("./.wh.d")],
  ));
  assert.deepEqual(summary(tree), ["a dir@0", "a/y reg@0"]);
});

Deno.test("merged tree: an opaque directory keeps its own layer's entries only", () => {
  const tree = mergeLayers(layers(
    [entry("o/", "dir"), entry("o/old"), entry("o/sub/deep")],
    [entry("o/", "dir"), entry("o/.wh..wh..opq"), entry("o/new")],
    [entry("o/newer")],
  ));
  assert.deepEqual(summary(tree), ["o dir@1", "o/new reg@1", "o/newer reg@2"]);
});

Deno.test("merged tree: a whiteout never hides an entry of its own layer", () => {
  const tree = mergeLayers(layers(
    [entry("x", "reg", "", 1)],
    [entry(".wh.x"), entry("x", "reg", "", 2)],
  ));
  assert.deepEqual(summary(tree), ["x reg@1"]);
  assert.equal(tree.get("x")!.meta.uncompressedSize, 2);
});

Deno.test("merged tree: replacing a directory by a file drops its children, and back", () => {
  const tree = mergeLayers(layers(
    [entry("d/", "dir"), entry("d/child"), entry("f")],
    [entry("d"), entry("f/", "dir"), entry("f/inner")],
  ));
  assert.deepEqual(summary(tree), ["d reg@1", "f dir@1", "f/inner reg@1"]);
  // The top-down lookup agrees.
  const ls = layers(
    [entry("d/", "dir"), entry("d/child"), entry("f")],
    [entry("d"), entry("f/", "dir"), entry("f/inner")],
  );
  const load = (i: number) => Promise.resolve(ls[i]);
  return lookupPath(2, load, "d/child").then((n) => assert.equal(n, undefined));
});

Deno.test("merged tree: directories only implied by their entries exist", async () => {
  const ls = layers([entry("x/y/z")], [entry("x/", "dir")], [entry("p/q")]);
  const tree = mergeLayers(ls);
  assert.deepEqual(summary(tree), [
    "p implicit-dir@2",
    "p/q reg@2",
    "x dir@1",
    "x/y implicit-dir@0",
    "x/y/z reg@0",
  ]);
  assert.equal(tree.get("p")!.meta.mode, 0o755);
  const load = (i: number) => Promise.resolve(ls[i]);
  const p = await lookupPath(3, load, "p");
  assert.ok(p?.implicit && p.layer === 2);
  // A lower file where an upper layer implies a directory is replaced by it.
  const over = layers([entry("p")], [entry("p/q")]);
  assert.deepEqual(summary(mergeLayers(over)), ["p implicit-dir@1", "p/q reg@1"]);
  const n = await lookupPath(2, (i) => Promise.resolve(over[i]), "p");
  assert.ok(n?.implicit && n.meta.type === "dir");
});

Deno.test("merged tree: hard links resolve in their own layer first, else below", async () => {
  const ls = layers(
    [entry("lib/a", "reg", "", 10), entry("lib/gone", "reg", "", 20)],
    [
      entry("lib/b", "reg", "", 30),
      entry("lib/link-b", "hardlink", "lib/b"),
      entry("lib/link-a", "hardlink", "lib/a"),
      entry("lib/.wh.gone"),
      entry("lib/link-gone", "hardlink", "lib/gone"),
      entry("lib/link-none", "hardlink", "lib/none"),
    ],
  );
  const tree = mergeLayers(ls);
  assert.equal(tree.get("lib/link-b")!.target!.meta.uncompressedSize, 30);
  assert.equal(tree.get("lib/link-a")!.target!.layer, 0);
  // The link was made before the layer's whiteouts hid its target below.
  assert.equal(tree.get("lib/link-gone")!.target!.meta.uncompressedSize, 20);
  assert.equal(tree.get("lib/gone"), undefined);
  assert.equal(tree.get("lib/link-none")!.target, undefined);
  const load = (i: number) => Promise.resolve(ls[i]);
  for (const p of ["lib/link-b", "lib/link-a", "lib/link-gone"]) {
    const n = await lookupPath(2, load, p);
    assert.equal(n!.target!.meta, tree.get(p)!.target!.meta, p);
  }
});

Deno.test("merged tree: names are cleaned", () => {
  assert.equal(cleanPath("/./a//b/../c/"), "a/c");
  assert.equal(cleanPath("../../x"), "x");
  const tree = mergeLayers(layers([entry("./"), entry("/abs/file"), entry("./rel/file")]));
  assert.deepEqual([...tree.keys()], ["abs", "abs/file", "rel", "rel/file"]);
});

Deno.test("resolvePath: symlinks within the image, loops, and non-directories", async () => {
  const tree = mergeLayers(layers([
    entry("usr/", "dir"),
    entry("usr/lib/", "dir"),
    entry("usr/lib/libc.so.6"),
    entry("lib", "symlink", "usr/lib"),
    entry("lib64", "symlink", "/lib"),
    entry("etc/", "dir"),
    entry("etc/alt", "symlink", "../../../../usr/lib/libc.so.6"),
    entry("etc/loop", "symlink", "loop"),
    entry("etc/file"),
    entry("etc/dangling", "symlink", "/nowhere"),
  ]));
  const lookup = (p: string) => Promise.resolve(tree.get(p));
  assert.equal((await resolvePath(lookup, "/lib64/libc.so.6")).path, "usr/lib/libc.so.6");
  assert.equal((await resolvePath(lookup, "etc/alt")).path, "usr/lib/libc.so.6");
  // `..` after a symlink leaves the link's target, not the link (as Linux does).
  assert.equal((await resolvePath(lookup, "lib/../lib/libc.so.6")).path, "usr/lib/libc.so.6");
  await assert.rejects(resolvePath(lookup, "lib/../etc/file"), NotFoundError);
  assert.equal((await resolvePath(lookup, "etc/../etc/file")).path, "etc/file");
  assert.equal((await resolvePath(lookup, "lib64")).path, "usr/lib");
  assert.equal((await resolvePath(lookup, "lib64", { followLast: false })).path, "lib64");
  await assert.rejects(resolvePath(lookup, "etc/loop"), BadInputError);
  await assert.rejects(resolvePath(lookup, "etc/dangling"), NotFoundError);
  await assert.rejects(resolvePath(lookup, "etc/file/x"), /not a directory/);
  await assert.rejects(resolvePath(lookup, "/"), /root directory/);
  await assert.rejects(resolvePath(lookup, "nope"), /no such file or directory: nope/);
});

// ---------------------------------------------------------------------------
// Random stacks: three implementations agree.

/** A naive simulation: apply each layer's deletions, then its entries one by one. */
function naiveMerge(specs: FileMetadata[][]): Map<string, { meta: FileMetadata; layer: number }> {
  const fs = new Map<string, { meta: FileMetadata; layer: number; implicit?: boolean }>();
  const dropUnder = (dir: string) => {
    for (const p of [...fs.keys()]) if (p.startsWith(dir + "/")) fs.delete(p);
  };
  specs.forEach((spec, layer) => {
    const real: Array<[string, FileMetadata]> = [];
    for (const m of spec) {
      const p = cleanPath(new TextDecoder().decode(m.name));
      const base = p.slice(p.lastIndexOf("/") + 1);
      const dir = p.includes("/") ? p.slice(0, p.lastIndexOf("/")) : "";
      if (base === ".wh..wh..opq") {
        for (const q of [...fs.keys()]) if (dir === "" || q.startsWith(dir + "/")) fs.delete(q);
      } else if (base.startsWith(".wh.")) {
        const hidden = (dir ? dir + "/" : "") + base.slice(4);
        fs.delete(hidden);
        dropUnder(hidden);
      } else if (m.type !== "dir") {
        // A non-directory hides what the lower layers had under its path.
        for (const [q, v] of [...fs]) if (q.startsWith(p + "/") && v.layer < layer) fs.delete(q);
      }
      real.push([p, m]);
    }
    // Parent directories of everything the layer holds (whiteouts too).
    for (const [p] of real) {
      const parts = p.split("/");
      for (let i = 1; i < parts.length; i++) {
        const a = parts.slice(0, i).join("/");
        const at = fs.get(a);
        if (!at || at.meta.type !== "dir") {
          fs.set(a, { meta: entry(a + "/", "dir"), layer, implicit: true });
        }
      }
    }
    for (const [p, m] of real) {
      const base = p.slice(p.lastIndexOf("/") + 1);
      if (base.startsWith(".wh.")) continue;
      fs.set(p, { meta: m, layer });
    }
  });
  return fs;
}

function randomStack(seed: number): FileMetadata[][] {
  const rnd = prng(seed);
  const names = ["a", "b", "c"];
  const randPath = () => {
    const depth = randInt(rnd, 1, 3);
    return Array.from({ length: depth }, () => names[randInt(rnd, 0, 2)]).join("/");
  };
  const specs: FileMetadata[][] = [];
  const count = randInt(rnd, 1, 4);
  for (let l = 0; l < count; l++) {
    const spec: FileMetadata[] = [];
    const n = randInt(rnd, 1, 8);
    for (let k = 0; k < n; k++) {
      const p = randPath();
      const dir = p.includes("/") ? p.slice(0, p.lastIndexOf("/")) + "/" : "";
      const base = p.slice(p.lastIndexOf("/") + 1);
      const r = rnd();
      if (r < 0.35) spec.push(entry("./" + p, "reg", "", randInt(rnd, 1, 99)));
      else if (r < 0.6) spec.push(entry("./" + p + "/", "dir"));
      else if (r < 0.7) spec.push(entry("./" + p, "symlink", randPath()));
      else if (r < 0.78) spec.push(entry("./" + p, "hardlink", randPath()));
      else if (r < 0.92 && l > 0) spec.push(entry("./" + dir + ".wh." + base));
      else if (l > 0) spec.push(entry("./" + (dir || base + "/") + ".wh..wh..opq"));
    }
    specs.push(spec);
  }
  return specs;
}

Deno.test("merged tree: merge, top-down lookup and a naive simulation agree on random stacks", async () => {
  for (let seed = 1; seed <= 500; seed++) {
    const specs = randomStack(seed);
    const ls = specs.map((s, i) => new LayerFiles(s, i));
    const tree = mergeLayers(ls);
    const naive = naiveMerge(specs);
    const ctx = `seed ${seed}`;
    assert.deepEqual([...tree.keys()].sort(), [...naive.keys()].sort(), ctx);
    for (const [p, n] of tree) {
      const v = naive.get(p)!;
      assert.equal(n.layer, v.layer, `${ctx} ${p}`);
      assert.equal(n.meta.type, v.meta.type, `${ctx} ${p}`);
      if (!n.implicit) assert.equal(n.meta, v.meta, `${ctx} ${p}`);
    }
    // Every path any layer mentions (and its parents), looked up from the top.
    const candidates = new Set<string>();
    for (const s of specs) {
      for (const m of s) {
        const parts = cleanPath(new TextDecoder().decode(m.name)).split("/");
        for (let i = 1; i <= parts.length; i++) candidates.add(parts.slice(0, i).join("/"));
      }
    }
    const load = (i: number) => Promise.resolve(ls[i]);
    for (const p of candidates) {
      const n = await lookupPath(ls.length, load, p);
      const m = tree.get(p);
      assert.equal(n === undefined, m === undefined, `${ctx} ${p}: ${n?.path} vs ${m?.path}`);
      if (n && m) {
        assert.equal(n.layer, m.layer, `${ctx} ${p}`);
        assert.equal(n.implicit, m.implicit, `${ctx} ${p}`);
        if (!n.implicit) assert.equal(n.meta, m.meta, `${ctx} ${p}`);
        assert.equal(n.target?.meta, m.target?.meta, `${ctx} ${p} link target`);
      }
    }
  }
});
