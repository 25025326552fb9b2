/**
 * zTOCs built where their layer is scanned (`ScanPool.build`, `spans({
 * buildZtoc })`): the same bytes as scanning, then `buildZtoc` and
 * `encodeZtoc` in the calling thread, on a worker and where no worker runs;
 * errors of the build kept apart from errors of the scan; a worker that
 * failed one layer builds the next.
 */
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { goTar, type GoTarEntry } from "./helpers/tar_go_writer.ts";
import { pseudoRandomBytes } from "./helpers/registry_oci_layout.ts";
import { fileLayer } from "../lib/image/file_layer.ts";
import { spans, ztoc } from "../lib/pipeline.ts";
import { ScanPool } from "../lib/ztoc/scan_pool.ts";
import { buildZtoc, encodeScan, EntryCheck } from "../lib/ztoc/builder.ts";
import { decodeZtoc, encodeZtoc } from "../lib/ztoc/codec.ts";
import { sha256Digest } from "../lib/oci/digest.ts";
import { UnsupportedError } from "../lib/errors.ts";
import { encodeEntries, PackedEntries } from "../lib/tar/entry_codec.ts";
import type { TarEntry } from "../lib/tar/entry.ts";
import { scanLayer } from "../lib/ztoc/scan.ts";

const text = (s: string) => new TextEncoder().encode(s);

/** A tar of text and random files, ~`mb` MB, with `extra` entries at the end. */
function tarOf(mb: number, extra: GoTarEntry[] = []): Uint8Array {
  const entries: GoTarEntry[] = [{ name: "d/", typeflag: "5", mode: 0o755 }];
  for (let i = 0; i < mb * 4; i++) {
    entries.push({ name: `d/r${i}.bin`, data: pseudoRandomBytes(128 * 1024, i + 1) });
    entries.push({ name: `d/t${i}.txt`, data: text(`line ${i}\n`.repeat(12_000)) });
    entries.push({ name: `d/l${i}`, typeflag: "2", linkname: `t${i}.txt` });
  }
  return goTar([...entries, ...extra]);
}

const SPAN = 1 << 18;

/** What scanning in this thread and encoding gives. */
async function reference(bytes: Uint8Array, tool?: string): Promise<Uint8Array> {
  const pool = new ScanPool(1);
  try {
    const scan = await pool.scan([bytes], { compression: "detect", spanSize: SPAN });
    return encodeZtoc(buildZtoc(scan, { buildToolIdentifier: tool }));
  } finally {
    pool.close();
  }
}

Deno.test("ScanPool.build gives the bytes of scan + buildZtoc + encodeZtoc, gzip and tar", async () => {
  const tar = tarOf(3);
  const gz = gzipSync(tar, { level: 6 });
  const pool = new ScanPool(2);
  try {
    for (const [bytes, compression] of [[gz, "gzip"], [tar, "uncompressed"]] as const) {
      for (const tool of [undefined, "soci-deno test"]) {
        const want = await reference(bytes, tool);
        const got = await pool.build(
          // Uneven chunks, as an HTTP body gives them.
          (function* () {
            for (let i = 0; i < bytes.length; i += 100_003) yield bytes.slice(i, i + 100_003);
          })(),
          { compression: "detect", spanSize: SPAN, expectedDigest: sha256Digest(bytes) },
          { buildToolIdentifier: tool },
        );
        assert.equal(got.ztocError, undefined);
        assert.deepEqual(got.ztoc!.bytes, want, `${compression} ${tool}`);
        const z = decodeZtoc(want);
        assert.equal(got.compression, compression);
        assert.equal(got.digest, sha256Digest(bytes));
        assert.equal(got.size, bytes.length);
        assert.equal(got.uncompressedSize, z.uncompressedArchiveSize);
        assert.equal(got.spanSize, SPAN);
        assert.equal(got.ztoc!.files, z.toc.length);
        assert.equal(got.ztoc!.spans, z.maxSpanId + 1);
        assert.equal(got.ztoc!.xattrFree, undefined); // not asked
        if (compression === "gzip") assert.ok(z.maxSpanId >= 5, `${z.maxSpanId} spans`);
      }
    }
  } finally {
    pool.close();
  }
});

Deno.test("ScanPool.build tells whether the xattr optimization may mark the zTOC", async () => {
  const pool = new ScanPool(1);
  try {
    const cases: Array<[GoTarEntry[], boolean]> = [
      [[], true],
      [[{ name: "d/x", data: text("x"), pax: [["SCHILY.xattr.user.a", "1"]] }], false],
      [[{ name: "d/.wh..wh..opq", data: new Uint8Array(0) }], false],
    ];
    for (const [extra, free] of cases) {
      const gz = gzipSync(tarOf(1, extra));
      const got = await pool.build([gz], { compression: "gzip", spanSize: SPAN }, { xattrs: true });
      assert.equal(got.ztoc!.xattrFree, free, JSON.stringify(extra.map((e) => e.name)));
    }
  } finally {
    pool.close();
  }
});

Deno.test("ScanPool.build: an entry a zTOC cannot hold is ztocError; the worker builds the next layer", async () => {
  const pool = new ScanPool(1);
  try {
    // Two entries a zTOC cannot hold: the first is the error (the worker checks them as it
    // reads them; its writer goes from the last entry to the first).
    const bad = gzipSync(tarOf(1, [
      { name: "global", typeflag: "g", pax: [["comment", "x"]] },
      { name: "fifo", typeflag: "6" },
      { name: "contiguous", typeflag: "7", data: text("c") },
    ]));
    const r = await pool.build([bad], {
      compression: "gzip",
      spanSize: SPAN,
      expectedDigest: sha256Digest(bad),
    });
    assert.ok(r.ztocError instanceof UnsupportedError, String(r.ztocError));
    assert.equal(r.ztocError.message, "unsupported input tar entry 'g'");
    assert.equal(r.ztoc, undefined);
    // The scan itself went well: the layer is known.
    assert.equal(r.digest, sha256Digest(bad));

    const good = gzipSync(tarOf(1));
    const next = await pool.build([good], { compression: "gzip", spanSize: SPAN });
    assert.deepEqual(next.ztoc!.bytes, await reference(good));
  } finally {
    pool.close();
  }
});

Deno.test("ScanPool.build: a wrong layer digest fails the scan, and the worker builds the next layer", async () => {
  const pool = new ScanPool(1);
  try {
    const gz = gzipSync(tarOf(1));
    const wrong = sha256Digest(text("another layer"));
    await assert.rejects(
      pool.build([gz], { compression: "gzip", spanSize: SPAN, expectedDigest: wrong }),
      /digest/,
    );
    const other = gzipSync(tarOf(2));
    const next = await pool.build([other], { compression: "gzip", spanSize: SPAN });
    assert.deepEqual(next.ztoc!.bytes, await reference(other));
  } finally {
    pool.close();
  }
});

Deno.test("spans({ buildZtoc }) → ztoc() gives what spans() → ztoc() gives", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const paths: string[] = [];
    for (const [i, bytes] of [gzipSync(tarOf(2)), tarOf(1), gzipSync(tarOf(1))].entries()) {
      paths.push(`${dir}/l${i}`);
      await Deno.writeFile(paths[i], bytes);
    }
    const run = async (buildZtoc?: { xattrs: boolean }) => {
      const input = await Promise.all(paths.map(async (p) => ({ layer: await fileLayer(p) })));
      const scanned = [];
      for await (const r of spans(input, { spanSize: SPAN, buildZtoc })) scanned.push(r);
      const results = [];
      for await (const r of ztoc(scanned, { spanSize: SPAN, disableXattrs: true })) {
        results.push(r);
      }
      return { scanned, results };
    };
    const built = await run({ xattrs: true });
    const plain = await run();
    // Built where scanned: no scan travels, the zTOC does.
    for (const r of built.scanned) {
      assert.equal(r.scan, undefined);
      assert.ok(r.ztoc?.bytes && !r.ztoc.reused);
    }
    for (const r of plain.scanned) assert.ok(r.scan !== undefined && r.ztoc === undefined);
    assert.equal(built.results.length, 3);
    for (const [i, r] of built.results.entries()) {
      const p = plain.results[i];
      assert.equal(r.error, undefined);
      assert.deepEqual(r.ztoc!.bytes, p.ztoc!.bytes);
      assert.equal(r.ztoc!.digest, sha256Digest(p.ztoc!.bytes!));
      assert.deepEqual(r.descriptor, p.descriptor);
      // Layer files: the descriptor is learnt as they are read.
      assert.deepEqual(r.layer.descriptor, p.layer.descriptor);
      assert.match(r.layer.descriptor.digest, /^sha256:/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("encodeScan: entries kept packed give the same zTOC, xattr answer and first error", async () => {
  const tar = goTar([
    { name: "d/", typeflag: "5", mode: 0o755, uid: 1000, gid: 1000, uname: "me", gname: "us" },
    {
      name: "d/x",
      data: text("x".repeat(5000)),
      pax: [["SCHILY.xattr.user.b", "2"], ["SCHILY.xattr.user.a", "1"]],
    },
    { name: "d/" + "long/".repeat(40) + "name", data: text("long") },
    { name: "d/hard", typeflag: "1", linkname: "d/x" },
    { name: "d/sym", typeflag: "2", linkname: "x" },
    { name: "d/null", typeflag: "3", devmajor: 1, devminor: 3, mode: 0o666 },
    { name: "d/fifo", typeflag: "6" },
    { name: "d/t", data: text("t"), mtime: 1_700_000_000, mtimeNanos: 5 },
    ...Array.from({ length: 300 }, (_, i) => ({ name: `d/f${i}`, data: text(`${i}`) })),
  ]);
  const scan = await scanLayer([gzipSync(tar)], { compression: "gzip", spanSize: SPAN });
  const options = { xattrs: true, buildToolIdentifier: "test tool" };
  const want = encodeScan(scan, options);
  assert.equal(want.xattrFree, false);
  assert.equal(want.files, 308);
  // Kept packed in batches and read into one reused entry (what a scan worker does).
  const keptBy = (entries: TarEntry[], cut: number) => {
    const buffers: Uint8Array[] = [];
    for (let i = 0; i < entries.length; i += cut) {
      buffers.push(encodeEntries(entries.slice(i, i + cut)));
    }
    return new PackedEntries(buffers);
  };
  for (const cut of [1, 7, 1000]) {
    assert.deepEqual(encodeScan({ ...scan, entries: keptBy(scan.entries, cut) }, options), want);
  }
  const free = scan.entries.filter((e) => e.pax.length === 0);
  assert.equal(encodeScan({ ...scan, entries: keptBy(free, 10) }, options).xattrFree, true);
  // Checked as they came (a scan worker's EntryCheck): the same answers, without a first pass.
  const checkOf = (entries: TarEntry[]) => {
    const check = new EntryCheck();
    for (const e of entries) check.add(e);
    return check;
  };
  const checked = { ...scan, entries: keptBy(scan.entries, 7), checked: checkOf(scan.entries) };
  assert.deepEqual(encodeScan(checked, options), want);
  const freeChecked = { ...scan, entries: keptBy(free, 10), checked: checkOf(free) };
  assert.equal(encodeScan(freeChecked, options).xattrFree, true);

  // Two entries no zTOC can hold: the first in the layer is the error, as buildZtoc gives it.
  const bad = scan.entries.slice();
  bad[2] = { ...bad[2], typeflag: "g" };
  bad[10] = { ...bad[10], typeflag: "V" };
  assert.throws(() => buildZtoc({ ...scan, entries: bad }), /unsupported input tar entry 'g'/);
  assert.throws(
    () => encodeScan({ ...scan, entries: keptBy(bad, 7) }),
    /unsupported input tar entry 'g'/,
  );
  const badCheck = checkOf(bad);
  assert.match(badCheck.error!.message, /unsupported input tar entry 'g'/);
  assert.throws(
    () => encodeScan({ ...scan, entries: keptBy(bad, 7), checked: badCheck }),
    /unsupported input tar entry 'g'/,
  );
  // A check of other entries than those given is not trusted: the first pass runs.
  assert.throws(
    () => encodeScan({ ...scan, entries: keptBy(bad, 7), checked: checkOf(bad.slice(0, 1)) }),
    /unsupported input tar entry 'g'/,
  );
});
