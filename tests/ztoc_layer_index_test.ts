// The lookup index over a zTOC's bytes (lib/soci/ztoc_layer_index.ts)
// against LayerFiles (the whole TOC decoded and indexed): for layers of
// random awkward names (`./` and `/` prefixes, doubled and trailing `/`,
// `.` and `..` parts, whiteouts, opaque markers, AUFS names, non-ASCII
// and invalid UTF-8 bytes) both answer every question the same way, and
// top-down lookups through stacks of either give the same nodes.
import assert from "node:assert/strict";
import {
  cleanPath,
  LayerFiles,
  type LayerLookup,
  lookupPath,
  mergeLayers,
  nameText,
} from "../lib/soci/merged_tree.ts";
import { ZtocLayerIndex } from "../lib/soci/ztoc_layer_index.ts";
import { decodeZtoc, encodeZtoc } from "../lib/ztoc/codec.ts";
import type { FileMetadata } from "../lib/ztoc/model.ts";
import { ZtocView } from "../lib/ztoc/ztoc_view.ts";
import { concat, prng, randInt } from "./helpers/bytes.ts";
import { entry, ztoc } from "./helpers/ztoc_samples.ts";

const enc = new TextEncoder();

const PARTS: Uint8Array[] = [
  "a",
  "b",
  "c",
  "é",
  ".",
  "..",
  "",
  ".x",
  ".wh.a",
  ".wh.b",
  ".wh..wh..opq",
  ".wh..wh.plnk",
  ".wh.",
  ".wh..",
  "a b",
].map((s) => enc.encode(s)).concat([new Uint8Array([0xff]), new Uint8Array([0x61, 0xc3])]);
const PREFIXES = ["", "", "", "./", "./", "/", "//", ".//", "./."].map((s) => enc.encode(s));
const TRAILERS = ["", "", "/", "//"].map((s) => enc.encode(s));
const TYPES = ["reg", "reg", "dir", "dir", "symlink", "hardlink", "char"];

function randomName(rnd: () => number, simple: boolean): Uint8Array {
  const pool = simple ? PARTS.slice(0, 3) : PARTS;
  const n = randInt(rnd, 1, 4);
  const parts: Uint8Array[] = [simple ? enc.encode("./") : PREFIXES[randInt(rnd, 0, 8)]];
  for (let i = 0; i < n; i++) {
    if (i > 0) parts.push(enc.encode(!simple && rnd() < 0.1 ? "//" : "/"));
    parts.push(pool[randInt(rnd, 0, pool.length - 1)]);
  }
  parts.push(simple ? new Uint8Array(0) : TRAILERS[randInt(rnd, 0, 3)]);
  return concat(parts);
}

/** A random layer's TOC, decoded from its zTOC (so both indexes see the same entries). */
function randomLayer(rnd: () => number, simple: boolean, count: number): Uint8Array {
  const toc: FileMetadata[] = [];
  for (let k = 0; k < count; k++) {
    const type = TYPES[randInt(rnd, 0, TYPES.length - 1)];
    toc.push(entry({
      name: randomName(rnd, simple),
      type,
      uncompressedOffset: 512 * (2 * k + 1),
      uncompressedSize: type === "reg" ? randInt(rnd, 0, 500) : 0,
      linkname: type === "symlink" || type === "hardlink"
        ? randomName(rnd, simple)
        : new Uint8Array(0),
      mode: 0o644,
    }));
  }
  return encodeZtoc(ztoc({ uncompressedArchiveSize: 512 * (2 * count + 2), toc }));
}

/** Every cleaned name, its ancestors, the paths whiteouts hide, and a few others. */
function questions(toc: FileMetadata[], rnd: () => number): Set<string> {
  const out = new Set<string>(["a", "b", "a/b", "é", "\ufffd", "a\ufffd", "x/y"]);
  for (const m of toc) {
    for (const name of [m.name, m.linkname]) {
      const p = cleanPath(nameText(name));
      const parts = p.split("/");
      for (let i = 1; i <= parts.length; i++) out.add(parts.slice(0, i).join("/"));
      const base = parts[parts.length - 1];
      if (base.startsWith(".wh.")) out.add([...parts.slice(0, -1), base.slice(4)].join("/"));
    }
  }
  for (let i = 0; i < 20; i++) out.add(cleanPath(nameText(randomName(rnd, false))));
  out.delete("");
  return out;
}

Deno.test("ztoc layer index: answers as LayerFiles for layers of awkward names", () => {
  const rnd = prng(0x1a7e);
  let asked = 0;
  let found = 0;
  for (let round = 0; round < 400; round++) {
    const bytes = randomLayer(rnd, false, randInt(rnd, 1, 40));
    const toc = decodeZtoc(bytes).toc;
    const files = new LayerFiles(toc, 3);
    const index = new ZtocLayerIndex(ZtocView.decode(bytes), 3);
    const ctx = `round ${round}`;
    assert.equal(index.layer, 3);
    assert.deepEqual([...index.whiteouts].sort(), [...files.whiteouts].sort(), `${ctx}: whiteouts`);
    assert.deepEqual([...index.opaque].sort(), [...files.opaque].sort(), `${ctx}: opaque`);
    for (const p of questions(toc, rnd)) {
      asked++;
      const want = files.entry(p);
      if (want) found++;
      assert.deepEqual(index.entry(p), want, `${ctx}: entry ${JSON.stringify(p)}`);
      assert.equal(index.impliesDir(p), files.impliesDir(p), `${ctx}: impliesDir ${p}`);
      assert.equal(index.hidesBelow(p), files.hidesBelow(p), `${ctx}: hidesBelow ${p}`);
    }
  }
  assert.ok(found > asked / 10 && found < asked, `${found} of ${asked} questions found an entry`);
});

Deno.test("ztoc layer index: prepared for one path, it answers for it and its ancestors as LayerFiles", () => {
  const rnd = prng(0x9a7);
  let prepared = 0;
  for (let round = 0; round < 300; round++) {
    const bytes = randomLayer(rnd, round % 3 === 0, randInt(rnd, 1, 40));
    const toc = decodeZtoc(bytes).toc;
    const files = new LayerFiles(toc, 0);
    const view = ZtocView.decode(bytes);
    const qs = [...questions(toc, rnd)];
    for (let i = 0; i < 6; i++) {
      const path = cleanPath(qs[randInt(rnd, 0, qs.length - 1)]);
      if (path === "") continue;
      const index = new ZtocLayerIndex(view, 0);
      index.prepare(path);
      prepared++;
      const parts = path.split("/");
      const asked = parts.map((_, j) => parts.slice(0, j + 1).join("/"));
      // Its ancestors and itself, then a few others (answered by the hash tables).
      for (const p of [...asked, ...qs.slice(0, 5)]) {
        const ctx = `round ${round}: prepared ${JSON.stringify(path)}, asked ${JSON.stringify(p)}`;
        assert.deepEqual(index.entry(p), files.entry(p), `${ctx}: entry`);
        assert.equal(index.impliesDir(p), files.impliesDir(p), `${ctx}: impliesDir`);
        assert.equal(index.hidesBelow(p), files.hidesBelow(p), `${ctx}: hidesBelow`);
      }
      assert.deepEqual([...index.whiteouts].sort(), [...files.whiteouts].sort(), round + "");
      assert.deepEqual([...index.opaque].sort(), [...files.opaque].sort(), round + "");
    }
  }
  assert.ok(prepared > 1000, `${prepared} prepared indexes`);
});

Deno.test("ztoc layer index: a large layer of plain names, including a later entry replacing one", () => {
  const rnd = prng(77);
  const bytes = randomLayer(rnd, true, 3000);
  const toc = decodeZtoc(bytes).toc;
  const files = new LayerFiles(toc, 0);
  const index = new ZtocLayerIndex(ZtocView.decode(bytes), 0);
  let replaced = 0;
  const seen = new Set<string>();
  for (const m of toc) {
    const p = cleanPath(nameText(m.name));
    if (seen.has(p)) replaced++;
    seen.add(p);
  }
  assert.ok(replaced > 100, `${replaced} replaced entries`);
  for (const p of questions(toc, rnd)) {
    assert.deepEqual(index.entry(p), files.entry(p), p);
    assert.equal(index.impliesDir(p), files.impliesDir(p), p);
    assert.equal(index.hidesBelow(p), files.hidesBelow(p), p);
  }
});

Deno.test("ztoc layer index: top-down lookups through random stacks equal the merged tree", async () => {
  const rnd = prng(4242);
  for (let seed = 0; seed < 300; seed++) {
    const count = randInt(rnd, 1, 4);
    const zs = Array.from(
      { length: count },
      () => randomLayer(rnd, seed % 2 === 0, randInt(rnd, 1, 10)),
    );
    const tocs = zs.map((b) => decodeZtoc(b).toc);
    const files = tocs.map((t, i) => new LayerFiles(t, i));
    const indexes: LayerLookup[] = zs.map((b, i) => new ZtocLayerIndex(ZtocView.decode(b), i));
    const tree = mergeLayers(files);
    const candidates = new Set<string>();
    for (const t of tocs) for (const p of questions(t, rnd)) candidates.add(p);
    for (const p of candidates) {
      const a = await lookupPath(count, (i) => Promise.resolve(files[i]), p);
      const b = await lookupPath(count, (i) => Promise.resolve(indexes[i]), p);
      // The same through indexes prepared for this path (as a read prepares them).
      const fresh = zs.map((z, i) => new ZtocLayerIndex(ZtocView.decode(z), i));
      const c = await lookupPath(count, (i) => {
        fresh[i].prepare(cleanPath(p));
        return Promise.resolve(fresh[i]);
      }, p);
      assert.deepEqual(c && { ...c, meta: c.meta }, b && { ...b, meta: b.meta }, `prepared ${p}`);
      const m = tree.get(p);
      const ctx = `seed ${seed} ${JSON.stringify(p)}`;
      assert.equal(b === undefined, a === undefined, ctx);
      if (p === cleanPath(p)) assert.equal(a === undefined, m === undefined, ctx);
      if (a && b) {
        assert.equal(b.layer, a.layer, ctx);
        assert.equal(b.implicit, a.implicit, ctx);
        assert.deepEqual(b.meta, a.meta, ctx);
        assert.deepEqual(b.target?.meta, a.target?.meta, `${ctx} link target`);
      }
    }
  }
});
