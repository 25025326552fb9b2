// The lazy zTOC view (lib/ztoc/ztoc_view.ts) against the whole-zTOC decoder
// (decodeZtoc): on the upstream vector, zTOCs of real layers built here and
// synthetic zTOCs (unsorted TOC, PAX records, non-UTF-8 names), both give
// the same header and the same entries in the same order; on truncated,
// mutated and random buffers both accept the same ones and fail with the
// same one-line message.
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { BadInputError } from "../lib/errors.ts";
import { fileLayer } from "../lib/image/file_layer.ts";
import { spans, ztoc as ztocStage } from "../lib/pipeline.ts";
import { buildZtoc } from "../lib/ztoc/builder.ts";
import { decodeZtoc, encodeZtoc } from "../lib/ztoc/codec.ts";
import type { Ztoc } from "../lib/ztoc/model.ts";
import { scanLayer } from "../lib/ztoc/scan.ts";
import { ZtocView } from "../lib/ztoc/ztoc_view.ts";
import { mutate } from "./helpers/mutate.ts";
import { goTar } from "./helpers/tar_go_writer.ts";
import { entry, prng, u8, UPSTREAM_VECTOR, ztoc } from "./helpers/ztoc_samples.ts";

const D1 = "sha256:" + "0123456789abcdef".repeat(4);

/** Checks that the view of `bytes` equals decodeZtoc's result, entry by entry. */
function assertSameAsDecoder(bytes: Uint8Array, label: string): void {
  const full = decodeZtoc(bytes);
  const view = ZtocView.decode(bytes);
  const { toc, ...header } = full;
  assert.deepEqual(view.header, header, `${label}: header`);
  assert.equal(view.length, toc.length, `${label}: length`);
  assert.deepEqual(view.toc(), toc, `${label}: toc()`);
  assert.deepEqual(view.toZtoc(), full, `${label}: toZtoc()`);
  for (let k = 0; k < toc.length; k++) {
    assert.deepEqual(view.entry(k), toc[k], `${label}: entry ${k}`);
    assert.deepEqual(view.name(k), toc[k].name, `${label}: name ${k}`);
    assert.equal(view.isDir(k), toc[k].type === "dir", `${label}: isDir ${k}`);
  }
}

/** decodeZtoc and ZtocView.decode: both succeed with equal results, or both fail alike. */
function assertSameOutcome(bytes: Uint8Array, label: string): "ok" | "error" {
  let full: Ztoc | Error;
  let view: ZtocView | Error;
  try {
    full = decodeZtoc(bytes);
  } catch (e) {
    full = e as Error;
  }
  try {
    view = ZtocView.decode(bytes);
  } catch (e) {
    view = e as Error;
  }
  if (full instanceof Error || view instanceof Error) {
    assert.ok(full instanceof BadInputError, `${label}: decodeZtoc: ${full}`);
    assert.ok(view instanceof BadInputError, `${label}: ZtocView: ${view}`);
    assert.equal(view.message, full.message, label);
    assert.ok(!view.message.includes("\n"), `${label}: one line`);
    return "error";
  }
  const { toc, ...header } = full;
  assert.deepEqual(view.header, header, label);
  assert.deepEqual(view.toc(), toc, label);
  for (let k = 0; k < toc.length; k++) assert.deepEqual(view.entry(k), toc[k], `${label} ${k}`);
  return "ok";
}

/** A zTOC with PAX records, non-UTF-8 names, links and an unsorted TOC. */
function synthetic(): Uint8Array {
  return encodeZtoc(ztoc({
    compressedArchiveSize: 1000,
    uncompressedArchiveSize: 8192,
    maxSpanId: 0,
    spanDigests: [D1],
    checkpoints: new Uint8Array(40).fill(3),
    toc: [
      entry({ name: u8("./c"), type: "reg", uncompressedOffset: 4096, uncompressedSize: 700 }),
      entry({
        name: u8("./a/"),
        type: "dir",
        uncompressedOffset: 512,
        mode: 0o755,
        uname: u8("root"),
        gname: u8("root"),
        modTime: "2023-11-14T22:13:20Z",
      }),
      entry({
        name: new Uint8Array([0x2e, 0x2f, 0x61, 0x2f, 0xff, 0x0a]),
        type: "reg",
        uncompressedOffset: 1536,
        uncompressedSize: 10,
        xattrs: [[u8("SCHILY.xattr.user.k"), new Uint8Array([0, 1, 2])], [u8("path"), u8("x")]],
      }),
      entry({ name: u8("./l"), type: "symlink", linkname: u8("c"), uncompressedOffset: 2560 }),
      entry({ name: u8("./h"), type: "hardlink", linkname: u8("./c"), uncompressedOffset: 3072 }),
      entry({
        name: u8("./dev"),
        type: "char",
        devmajor: 1,
        devminor: 3,
        uncompressedOffset: 3584,
      }),
    ],
  }));
}

async function realZtocs(): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  // The sample image's layers, through the pipeline.
  const dir = new URL("../fixtures/sample-image/blobs/sha256/", import.meta.url).pathname;
  for await (const e of Deno.readDir(dir)) {
    const path = dir + e.name;
    const head = new Uint8Array(2);
    const f = await Deno.open(path);
    await f.read(head);
    f.close();
    if (head[0] !== 0x1f || head[1] !== 0x8b) continue; // not a gzip layer
    for await (
      const r of ztocStage(spans([{ layer: await fileLayer(path) }], { spanSize: 1024 }))
    ) {
      if (r.ztoc?.ztoc) out.push(encodeZtoc(r.ztoc.ztoc));
    }
  }
  // A Go-writer tar with long names, PAX records, links and devices, gzip and plain.
  const tar = goTar([
    { name: "d/", typeflag: "5", mode: 0o755 },
    { name: "d/" + "long".repeat(40), data: u8("x".repeat(3000)) },
    { name: "d/ü.txt", data: u8("umlaut"), pax: [["SCHILY.xattr.user.a", "1"]] },
    { name: "d/link", typeflag: "2", linkname: "ü.txt" },
    { name: "d/hard", typeflag: "1", linkname: "d/ü.txt" },
    { name: "d/null", typeflag: "3", devmajor: 1, devminor: 3 },
    { name: "d/.wh.gone", data: new Uint8Array(0) },
  ]);
  for (const layer of [new Uint8Array(gzipSync(tar)), tar]) {
    const z = buildZtoc(await scanLayer([layer], { compression: "detect", spanSize: 4096 }));
    out.push(encodeZtoc(z));
  }
  return out;
}

Deno.test("ztoc view: equal to decodeZtoc on the upstream vector, real layers and synthetic zTOCs", async () => {
  assertSameAsDecoder(await Deno.readFile(UPSTREAM_VECTOR), "upstream vector (fixture)");
  const real = await realZtocs();
  assert.ok(real.length >= 3, `${real.length} real zTOCs`);
  real.forEach((bytes, i) => assertSameAsDecoder(bytes, `real zTOC ${i}`));
  const s = synthetic();
  assertSameAsDecoder(s, "synthetic");
  // The stored order was not the offset order: the view sorts as decodeZtoc does.
  const view = ZtocView.decode(s);
  assert.deepEqual(
    Array.from({ length: view.length }, (_, k) => view.entry(k).uncompressedOffset),
    [512, 1536, 2560, 3072, 3584, 4096],
  );
  assert.equal(ZtocView.decode(encodeZtoc(ztoc())).length, 0);
});

Deno.test("ztoc view: overlapping entries are `invalid toc entry`, as for decodeZtoc", () => {
  const a = entry({ name: u8("a"), uncompressedOffset: 512, uncompressedSize: 1000 });
  const b = entry({ name: u8("b"), uncompressedOffset: 1024 });
  const bytes = encodeZtoc(ztoc({ toc: [a, b] }));
  assert.throws(() => ZtocView.decode(bytes), (e) => {
    assert.ok(e instanceof BadInputError);
    assert.equal(e.message, "invalid toc entry");
    return true;
  });
  assert.equal(assertSameOutcome(bytes, "overlap"), "error");
});

Deno.test("ztoc view: truncated, mutated and random buffers get decodeZtoc's outcome", async () => {
  const inputs = [synthetic(), ...(await realZtocs())];
  const upstream = await Deno.readFile(UPSTREAM_VECTOR);
  let ok = 0;
  let errors = 0;
  const count = (r: "ok" | "error") => r === "ok" ? ok++ : errors++;
  const s = inputs[0];
  for (let n = 0; n < s.length; n++) count(assertSameOutcome(s.subarray(0, n), `truncated ${n}`));
  for (const n of [0, 4, 100, 4096, 500_000, 574_000, 1_000_000, upstream.length - 1]) {
    count(assertSameOutcome(upstream.subarray(0, n), `upstream truncated ${n}`));
  }
  const rnd = prng(0x7a0c);
  for (let k = 0; k < 4000; k++) {
    const input = inputs[k % inputs.length];
    const other = inputs[(k + 1) % inputs.length];
    count(assertSameOutcome(mutate(input, rnd, other), `mutation ${k}`));
  }
  // The upstream vector, a few bit flips at a time (kept short: it is 1 MB).
  for (let k = 0; k < 200; k++) {
    const copy = upstream.slice();
    for (let f = 0; f < 4; f++) copy[Math.floor(rnd() * copy.length)] ^= 1 << (k % 8);
    count(assertSameOutcome(copy, `upstream flips ${k}`));
  }
  for (let k = 0; k < 2000; k++) {
    const n = Math.floor(rnd() * 400);
    const bytes = new Uint8Array(n);
    for (let i = 0; i < n; i++) bytes[i] = Math.floor(rnd() * 256);
    if (n >= 4 && k % 2 === 0) bytes.set([Math.floor(rnd() * n) & ~3, 0, 0, 0]);
    count(assertSameOutcome(bytes, `random ${k}`));
  }
  // Both outcomes occur often enough for the comparison to mean something.
  assert.ok(ok > 500 && errors > 500, `${ok} decoded, ${errors} refused`);
});
