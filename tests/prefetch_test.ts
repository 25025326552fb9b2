// Prefetch artifacts (F§6, experimental upstream): the unit checks of C§11.2 item 6, the span
// rule of F§5.4, the path rules, and end to end on `create` and `convert` (C§11.3 item 6)
// with `prefetch list` / `prefetch info` (C§10). Expected spans are computed from the zTOCs
// as flatc decodes them and from the zinfo bytes read by the tests' own reader.
import assert from "node:assert/strict";
import { join } from "node:path";
import { BadInputError } from "../lib/errors.ts";
import { encodeGzipZinfo } from "../lib/gzip/zinfo.ts";
import {
  countSpans,
  decodePrefetch,
  encodePrefetch,
  fileSpanRange,
  mergeRanges,
  normalizePrefetchPath,
  prefetchBlob,
  PrefetchSearch,
} from "../lib/soci/prefetch.ts";
import {
  type BuiltLayer,
  dbRows,
  e2eImages,
  goTable,
  lines,
  sha256,
  sha256sum,
  soci,
  sociOk,
  storeBlob,
  storedZtocs,
  withRoot,
  ztocOf,
} from "./helpers/create_e2e_images.ts";
import { layoutText } from "./helpers/convert_expect.ts";
import { parseZinfoBlob } from "./helpers/ztoc_e2e_tools.ts";

const IMG = await e2eImages();
const L = IMG.layout;
const PREFETCH = "application/vnd.amazon.soci.prefetch.v1+json";
const ENC = new TextEncoder();
const DEC = new TextDecoder();

Deno.test("prefetch blob: media type, layer annotation; no ranges, no blob (C§11.2 item 6)", () => {
  const layer = "sha256:" + "a".repeat(64);
  const b = prefetchBlob(layer, [{ start: 3, end: 4 }])!;
  const text = '{"version":"1.0","prefetch_spans":[{"start_span":3,"end_span":4}]}';
  assert.equal(DEC.decode(b.bytes), text);
  assert.deepEqual(b.descriptor, {
    mediaType: PREFETCH,
    digest: sha256(ENC.encode(text)),
    size: text.length,
    annotations: { "com.amazon.soci.image-layer-digest": layer },
  });
  assert.equal(prefetchBlob(layer, []), undefined);
});

Deno.test("prefetch ranges: merged when overlapping or adjacent, kept when disjoint, sorted (C§11.2 item 6)", () => {
  const r = (start: number, end: number) => ({ start, end });
  assert.deepEqual(mergeRanges([]), []);
  assert.deepEqual(mergeRanges([r(3, 7)]), [r(3, 7)]);
  assert.deepEqual(mergeRanges([r(0, 10), r(5, 15)]), [r(0, 15)]);
  assert.deepEqual(mergeRanges([r(0, 10), r(11, 20)]), [r(0, 20)]);
  assert.deepEqual(mergeRanges([r(0, 10), r(12, 20)]), [r(0, 10), r(12, 20)]);
  assert.deepEqual(mergeRanges([r(20, 30), r(0, 10), r(5, 25)]), [r(0, 30)]);
  assert.deepEqual(mergeRanges([r(5, 6), r(0, 1), r(5, 5)]), [r(0, 1), r(5, 6)]);
  assert.equal(countSpans([r(0, 2), r(5, 5)]), 4);
});

Deno.test("prefetch JSON: upstream's rules for writing and reading (C§11.2 item 6)", () => {
  assert.throws(() => encodePrefetch([]), { message: "prefetch artifact is empty" });
  assert.throws(
    () => decodePrefetch('{"version":"1.1","prefetch_spans":[{"start_span":0,"end_span":0}]}'),
    {
      message: "unsupported prefetch artifact version: 1.1 (expected 1.0)",
    },
  );
  assert.throws(() => decodePrefetch('{"version":"1.0","prefetch_spans":[]}'), {
    message: "prefetch artifact is empty",
  });
  assert.throws(() => decodePrefetch('{"version":"1.0"'), BadInputError);
  assert.throws(() => decodePrefetch("[]"), BadInputError);
  assert.throws(
    () =>
      decodePrefetch('{"version":"1.0","prefetch_spans":[{"start_span":2147483648,"end_span":0}]}'),
    BadInputError,
  );
  // Priority round-trips (and 0 is left out); Go's decoding: case-insensitive members.
  const spans = [{ start: 1, end: 2, priority: 7 }, { start: 4, end: 4 }];
  const bytes = encodePrefetch(spans);
  assert.equal(
    DEC.decode(bytes),
    '{"version":"1.0","prefetch_spans":[{"start_span":1,"end_span":2,"priority":7},{"start_span":4,"end_span":4}]}',
  );
  assert.deepEqual(decodePrefetch(bytes).spans, spans);
  assert.deepEqual(
    decodePrefetch('{"VERSION":"1.0","Prefetch_Spans":[{"START_SPAN":9,"end_span":9,"x":1}]}')
      .spans,
    [
      { start: 9, end: 9 },
    ],
  );
});

Deno.test("prefetch paths: '/' prepended, cleaned, leading '/' removed", () => {
  for (
    const [input, want] of [
      ["/etc/alpine-release", "etc/alpine-release"],
      ["etc/alpine-release", "etc/alpine-release"],
      ["./etc/alpine-release", "etc/alpine-release"],
      ["//etc///x/./y/../z", "etc/x/z"],
      ["../../etc/x", "etc/x"],
      ["etc/dir/", "etc/dir"],
      ["/", ""],
    ]
  ) assert.equal(normalizePrefetchPath(input), want, input);
});

Deno.test("span of a file (F§5.4): from its first byte to its exclusive end, with gzip checkpoints", () => {
  const w = new Uint8Array(32768);
  const checkpoints = encodeGzipZinfo(64, [
    { in: 10, out: 0, bits: 0, window: w },
    { in: 50, out: 100, bits: 3, window: w },
    { in: 90, out: 250, bits: 0, window: w },
  ]);
  const z = { checkpoints, compressionAlgorithm: "gzip" };
  const f = (off: number, size: number) =>
    fileSpanRange(z, { uncompressedOffset: off, uncompressedSize: size });
  assert.deepEqual(f(90, 5), { start: 0, end: 0 });
  assert.deepEqual(f(90, 20), { start: 0, end: 1 });
  assert.deepEqual(f(100, 0), { start: 1, end: 1 });
  assert.deepEqual(f(200, 50), { start: 1, end: 2 }); // ends exactly where span 2 starts
  assert.deepEqual(f(300, 1000), { start: 2, end: 2 });
});

Deno.test("prefetch search: the topmost layer with the exact raw name wins; uncleaned TOC names never match", () => {
  const entry = (name: string, off: number) => ({
    name: ENC.encode(name),
    uncompressedOffset: off,
    uncompressedSize: 1,
  });
  const tar = (names: [string, number][]) => ({
    checkpoints: new Uint8Array([
      // TarZinfo (F§5.6) version 2, span 100, size 10000, built by hand per the example layout.
      ...[20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0, 28, 0, 24, 0, 12, 0, 4, 0, 10, 0, 0, 0],
      ...[16, 39, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0],
    ]),
    compressionAlgorithm: "uncompressed",
    toc: names.map(([n, o]) => entry(n, o)),
  });
  const s = new PrefetchSearch(["etc/a", "/etc/b", "./etc/c", "etc/a"]);
  assert.deepEqual(s.paths, ["etc/a", "etc/b", "etc/c"]);
  s.addLayer(0, "sha256:l0", tar([["etc/a", 150], ["etc/b", 320], ["./etc/c", 10]]) as never);
  s.addLayer(1, "sha256:l1", tar([["etc/a", 999]]) as never);
  s.addLayer(2, "sha256:l2", tar([["etc/zzz", 0]]) as never);
  assert.deepEqual(s.blobs().map((b) => [b.layerDigest, b.spans]), [
    ["sha256:l0", [{ start: 3, end: 3 }]],
    ["sha256:l1", [{ start: 9, end: 10 }]],
  ]);
  assert.deepEqual(s.missing(), ["etc/c"]);
});

/** The span of entry `name` of a stored zTOC, from flatc's view and the zinfo bytes (F§5.4). */
async function expectedRange(root: string, layer: BuiltLayer, name: string, spanSize: number) {
  const z = await ztocOf(await storedZtocs(root), layer, spanSize);
  const m = z.ztoc.toc.metadata.find((e) => e.name === name)!;
  const spanOf = (off: number) => {
    if (z.ztoc.compression_info.compression_algorithm !== "Gzip") return Math.floor(off / spanSize);
    const { cps } = parseZinfoBlob(Uint8Array.from(z.ztoc.compression_info.checkpoints));
    let i = 0;
    while (i + 1 < cps.length && cps[i + 1].out <= off) i++;
    return i;
  };
  const start = spanOf(m.uncompressed_offset);
  return {
    start,
    end: Math.max(start, spanOf(m.uncompressed_offset + m.uncompressed_size)),
    ztoc: z.digest,
  };
}

Deno.test("create --prefetch-file (relative and absolute paths) and --prefetch-files-json: one artifact per layer, stored, listed, shown (C§11.3 item 6, C§10)", async () => {
  await withRoot(async (root, scratch) => {
    const json = join(scratch, "files.json");
    await Deno.writeTextFile(
      json,
      JSON.stringify([" usr/share/doc/big.txt ", "", null, "/nowhere"]),
    );
    const span = 65536;
    const r = await sociOk(root, [
      "create",
      "--min-layer-size",
      "0",
      "--span-size",
      String(span),
      "--prefetch-file",
      "app/data/part3.bin",
      "--prefetch-file",
      " /app/data/part5.bin",
      "--prefetch-files-json",
      json,
      `oci:${L}:app`,
    ]);
    const [, big, tar] = IMG.app.layers;
    const p3 = await expectedRange(root, big, "app/data/part3.bin", span);
    const p5 = await expectedRange(root, big, "app/data/part5.bin", span);
    const doc = await expectedRange(root, tar, "usr/share/doc/big.txt", span);
    const spansText = (rs: { start: number; end: number }[]) =>
      rs.map((x) => `{"start_span":${x.start},"end_span":${x.end}}`).join(",");
    const merged = p3.end + 1 >= p5.start
      ? [{ start: p3.start, end: Math.max(p3.end, p5.end) }]
      : [p3, p5];
    const bigText = `{"version":"1.0","prefetch_spans":[${spansText(merged)}]}`;
    const tarText = `{"version":"1.0","prefetch_spans":[${spansText([doc])}]}`;
    const bigDigest = sha256(ENC.encode(bigText));
    const tarDigest = sha256(ENC.encode(tarText));
    assert.deepEqual(lines(r.stdout).filter((l) => l.startsWith("Created")), [
      `Created prefetch artifact for layer ${big.desc.digest}: ${bigDigest}`,
      `Created prefetch artifact for layer ${tar.desc.digest}: ${tarDigest}`,
    ]);
    assert.deepEqual(lines(r.stderr), [
      "warning: prefetch file nowhere is in no indexed layer of linux/amd64",
      "image stored as app (use this name with push, index list --ref)",
    ]);
    // The index lists them after the zTOCs, in layer order (F§6 step 5, F§7.4).
    const indexDigest = lines(r.stdout).at(-1)!.split(" ")[2];
    const index = JSON.parse(DEC.decode(await Deno.readFile(storeBlob(root, indexDigest))));
    assert.deepEqual(index.layers.slice(3), [
      {
        mediaType: PREFETCH,
        digest: bigDigest,
        size: bigText.length,
        annotations: { "com.amazon.soci.image-layer-digest": big.desc.digest },
      },
      {
        mediaType: PREFETCH,
        digest: tarDigest,
        size: tarText.length,
        annotations: { "com.amazon.soci.image-layer-digest": tar.desc.digest },
      },
    ]);
    assert.equal(DEC.decode(await Deno.readFile(storeBlob(root, bigDigest))), bigText);
    assert.equal(await sha256sum(storeBlob(root, tarDigest)), tarDigest);
    // F§9: soci_prefetch rows, location empty, original digest the layer.
    const rows = (await dbRows(root)).filter((x) => x.type === "soci_prefetch")
      .map(({ created_at_us: _, ...rest }) => rest);
    const row = (digest: string, size: number, layer: string) => ({
      digest,
      size,
      location: "",
      original_digest: layer,
      image_digest: "",
      platform: "",
      type: "soci_prefetch",
      media_type: PREFETCH,
      artifact_type: "",
      span_size: 0,
    });
    assert.deepEqual(
      rows,
      [
        row(bigDigest, bigText.length, big.desc.digest),
        row(tarDigest, tarText.length, tar.desc.digest),
      ]
        .sort((a, b) => a.digest < b.digest ? -1 : 1),
    );

    // prefetch list: digest order, spans counted, CREATED in Go duration text.
    const list = await sociOk(root, ["prefetch", "list"]);
    const sorted = [[bigDigest, big.desc.digest, merged], [tarDigest, tar.desc.digest, [doc]]]
      .sort((a, b) => (a[0] as string) < (b[0] as string) ? -1 : 1) as [
        string,
        string,
        { start: number; end: number }[],
      ][];
    const count = (rs: { start: number; end: number }[]) =>
      rs.reduce((n, x) => n + x.end - x.start + 1, 0);
    const listed = lines(list.stdout).map((l) => l.replace(/\d+s ago/, "0s ago"));
    assert.deepEqual(
      listed.join("\n") + "\n",
      goTable([
        ["DIGEST", "LAYER DIGEST", "SPANS", "CREATED"],
        ...sorted.map(([d, l, rs]) => [d, l, String(count(rs)), "0s ago"]),
      ]).replace(/\d+s ago/g, "0s ago"),
    );
    const asJson = JSON.parse((await sociOk(root, ["prefetch", "ls", "--json"])).stdout);
    assert.deepEqual(asJson.map((x: Record<string, unknown>) => Object.keys(x)), [
      ["Digest", "LayerDigest", "TotalSpans", "CreatedAt"],
      ["Digest", "LayerDigest", "TotalSpans", "CreatedAt"],
    ]);
    assert.deepEqual(
      asJson.map((x: Record<string, unknown>) => [x.Digest, x.LayerDigest, x.TotalSpans]),
      sorted.map(([d, l, rs]) => [d, l, count(rs)]),
    );
    for (const x of asJson) assert.match(x.CreatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);

    // prefetch info: upstream's summary; --json adds the artifact indented.
    const info = await sociOk(root, ["prefetch", "info", "--json", tarDigest]);
    const out = lines(info.stdout);
    assert.deepEqual(out.slice(0, 5), [
      `Digest:        ${tarDigest}`,
      "Version:       1.0",
      "Span Ranges:   1",
      `Layer Digest:  ${tar.desc.digest}`,
      `Size:          ${tarText.length} bytes`,
    ]);
    assert.match(out[5], /^Created: {7}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    assert.deepEqual(out.slice(6), [
      "",
      "Prefetch Spans:",
      `  [0] StartSpan: ${doc.start}, EndSpan: ${doc.end} (covers ${
        doc.end - doc.start + 1
      } spans)`,
      "",
      `Total spans to prefetch: ${doc.end - doc.start + 1}`,
      "",
      "Raw JSON:",
      "{",
      '  "version": "1.0",',
      '  "prefetch_spans": [',
      "    {",
      `      "start_span": ${doc.start},`,
      `      "end_span": ${doc.end}`,
      "    }",
      "  ]",
      "}",
    ]);
    const wrong = await soci(root, ["prefetch", "info", doc.ztoc]);
    assert.equal(
      wrong.stderr,
      "soci: the provided digest is not a prefetch artifact (type: soci_layer)\n",
    );
    const none = await soci(root, ["prefetch", "info", "sha256:" + "0".repeat(64)]);
    assert.equal(
      none.stderr,
      `soci: couldn't retrieve artifact for sha256:${"0".repeat(64)}, not found\n`,
    );

    // rebuild-db from the blobs alone records the v1 index's prefetch descriptors the way
    // upstream does: as soci_layer rows of their layer (C§7 step 2), span size 0.
    for (const f of ["artifacts.sqlite", "artifacts.sqlite-wal", "artifacts.sqlite-shm"]) {
      await Deno.remove(join(root, f)).catch(() => {});
    }
    await sociOk(root, ["rebuild-db"]);
    const rebuilt = (await dbRows(root)).filter((x) =>
      x.digest === bigDigest || x.digest === tarDigest
    )
      .map((x) => [x.digest, x.type, x.original_digest, x.span_size]);
    assert.deepEqual(
      rebuilt,
      [[bigDigest, "soci_layer", big.desc.digest, 0], [tarDigest, "soci_layer", tar.desc.digest, 0]]
        .sort((a, b) => (a[0] as string) < (b[0] as string) ? -1 : 1),
    );

    // A missing or malformed JSON file: upstream's messages.
    const missing = await soci(root, [
      "create",
      "--prefetch-files-json",
      join(scratch, "no.json"),
      `oci:${L}:app`,
    ]);
    assert.equal(
      missing.stderr,
      `soci: failed to parse prefetch files: failed to load prefetch files from JSON: failed to read JSON file: open ${
        join(scratch, "no.json")
      }: no such file or directory\n`,
    );
    await Deno.writeTextFile(json, '{"files": []}');
    const bad = await soci(root, ["create", "--prefetch-files-json", json, `oci:${L}:app`]);
    assert.equal(
      bad.stderr,
      "soci: failed to parse prefetch files: failed to load prefetch files from JSON: failed to parse JSON: json: cannot unmarshal object into Go value of type []string\n",
    );
  });
});

Deno.test("convert --prefetch-file: the v2 index lists the artifact after the zTOCs; it travels with the image", async () => {
  await withRoot(async (root, scratch) => {
    const out = join(scratch, "out");
    // A reused zTOC is searched too: create first, convert with the zTOCs it left.
    await sociOk(root, ["create", "--all-platforms", "--min-layer-size", "0", `oci:${L}:multi`]);
    const r = await sociOk(root, [
      "convert",
      "--all-platforms",
      "--min-layer-size",
      "0",
      "--prefetch-file",
      "bin/tool",
      "--prefetch-file",
      "base/os-release",
      `oci:${L}:multi`,
      `oci:${out}:m`,
    ]);
    assert.equal(lines(r.stdout).filter((l) => l.endsWith("(already exists)")).length, 4);
    const index = JSON.parse(
      await layoutText(
        out,
        JSON.parse(await Deno.readTextFile(join(out, "index.json"))).manifests[0].digest,
      ),
    );
    const socis = index.manifests.filter((m: { artifactType?: string }) => m.artifactType);
    assert.equal(socis.length, 2);
    for (const [i, img] of [IMG.multi.amd64, IMG.multi.arm64].entries()) {
      const sociIndex = JSON.parse(await layoutText(out, socis[i].digest));
      const kinds = sociIndex.layers.map((l: { mediaType: string }) => l.mediaType);
      assert.deepEqual(kinds, [
        "application/octet-stream",
        "application/octet-stream",
        PREFETCH,
        PREFETCH,
      ]);
      const pf = sociIndex.layers.slice(2);
      // Each layer holds one of the files: the shared base layer, then the tool layer.
      assert.deepEqual(
        pf.map((p: { annotations: Record<string, string> }) =>
          p.annotations["com.amazon.soci.image-layer-digest"]
        ),
        img.layers.map((l) => l.desc.digest),
      );
      for (const p of pf) {
        const text = await layoutText(out, p.digest);
        assert.equal(text, '{"version":"1.0","prefetch_spans":[{"start_span":0,"end_span":0}]}');
        assert.equal(sha256(ENC.encode(text)), p.digest);
      }
    }
  });
});
