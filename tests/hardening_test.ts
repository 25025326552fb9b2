/**
 * Regression tests of the hardening issue (defects 1, 2, 3, 6 and 7), each
 * with its own hostile input; peak memory measured with `/usr/bin/time` of
 * a subprocess where the defect is about memory. The answers are listed in
 * `docs/hardening.md`.
 */
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { BadInputError, UnsupportedError } from "../lib/errors.ts";
import { inflateFromCheckpoint } from "../lib/gzip/resume.ts";
import { encodeTarZinfo } from "../lib/gzip/tar_zinfo.ts";
import { decodeGzipZinfo, encodeGzipZinfo } from "../lib/gzip/zinfo.ts";
import type { TarEntry } from "../lib/tar/entry.ts";
import { TarReader } from "../lib/tar/reader.ts";
import { buildZtoc } from "../lib/ztoc/builder.ts";
import { decodeZtoc, encodeZtoc } from "../lib/ztoc/codec.ts";
import { extractFile, findFile } from "../lib/ztoc/extract.ts";
import { ztocInfo, ztocInfoTableChunks } from "../lib/ztoc/info.ts";
import {
  MAX_ENTRIES_PER_LAYER,
  MAX_PAX_BYTES_PER_LAYER,
  MAX_ZTOC_BYTES,
} from "../lib/ztoc/limits.ts";
import type { FileMetadata, Ztoc } from "../lib/ztoc/model.ts";
import { scanLayer } from "../lib/ztoc/scan.ts";
import { zinfoOf } from "../lib/ztoc/spans.ts";
import { emptyFiles, paxBomb, writeLayer } from "./helpers/hostile_layers.ts";
import { measureDeno } from "./helpers/peak_memory.ts";
import { goTar, type GoTarEntry } from "./helpers/tar_go_writer.ts";
import {
  collect,
  exec,
  randomBytes,
  sameBytes,
  textBytes,
  withTempDir,
} from "./helpers/ztoc_e2e_tools.ts";

const ENC = new TextEncoder();
const DEC = new TextDecoder();

function entry(over: Partial<FileMetadata>): FileMetadata {
  return {
    name: ENC.encode("f"),
    type: "reg",
    uncompressedOffset: 512,
    uncompressedSize: 0,
    linkname: new Uint8Array(0),
    mode: 0o644,
    uid: 0,
    gid: 0,
    uname: new Uint8Array(0),
    gname: new Uint8Array(0),
    modTime: "2023-11-14T22:13:20Z",
    devmajor: 0,
    devminor: 0,
    xattrs: [],
    ...over,
  };
}

async function buildFrom(layer: Uint8Array, spanSize: number): Promise<Ztoc> {
  return buildZtoc(await scanLayer([layer], { compression: "detect", spanSize }));
}

// ---------------------------------------------------------------------------
// Defect 1: work bounded by the input's claims

/** The 456-byte kind of zTOC: uncompressed layer, span size 1, 2^40 bytes claimed. */
function claimingZtoc(): Uint8Array {
  const T = 2 ** 40;
  return encodeZtoc({
    version: "0.9",
    buildToolIdentifier: "AWS SOCI CLI v0.2",
    compressedArchiveSize: T,
    uncompressedArchiveSize: T,
    toc: [entry({ name: ENC.encode("big"), uncompressedSize: T - 2048 })],
    compressionAlgorithm: "uncompressed",
    maxSpanId: 0,
    spanDigests: ["sha256:" + "0".repeat(64)],
    checkpoints: encodeTarZinfo(1, T),
  });
}

Deno.test("defect 1: a zTOC claiming 2^40 bytes in 1-byte spans: info answers, get-file refuses", async () => {
  const bytes = claimingZtoc();
  assert.ok(bytes.length < 500, `${bytes.length} bytes`);
  // In process: the span statistics come without visiting 2^40 spans.
  const info = ztocInfo(decodeZtoc(bytes), bytes.length);
  assert.equal(info.span_size, 1);
  assert.deepEqual(
    [info.min_span_size, info.max_span_size, info.files[0].end_span],
    [1, 1, 2 ** 40 - 1536],
  );
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/claim.ztoc`, bytes);
    await Deno.writeFile(`${dir}/layer.tar`, goTar([{ name: "big", data: textBytes(3000, 1) }]));
    const shown = await measureDeno(["cli.ts", "ztoc", "info", "--table", `${dir}/claim.ztoc`], {
      timeoutMs: 60_000,
    });
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(DEC.decode(shown.stdout), /^Span size: +1$/m);
    assert.ok(shown.peakMiB < 250, `ztoc info peak ${shown.peakMiB} MiB`);
    const got = await measureDeno([
      "cli.ts",
      "ztoc",
      "get-file",
      "--layer",
      `${dir}/layer.tar`,
      `${dir}/claim.ztoc`,
      "big",
    ], { timeoutMs: 60_000 });
    assert.equal(got.code, 1);
    assert.match(
      got.stderr,
      /invalid ztoc: the zinfo has 1099511627776 spans, but max_span_id is 0/,
    );
    assert.equal(got.stdout.length, 0);
    assert.ok(got.peakMiB < 250, `get-file peak ${got.peakMiB} MiB`);
  });
});

Deno.test("defect 1: a file claiming more than the stream, or spans without digests, is refused before reading", async () => {
  const tar = goTar([{ name: "a", data: textBytes(20_000, 2) }, {
    name: "b",
    data: ENC.encode("x"),
  }]);
  const z = await buildFrom(tar, 4096);
  let reads = 0;
  const read = async function* (s: number, e: number) {
    reads++;
    yield tar.subarray(s, e);
  };
  const a = findFile(z.toc, "a");
  const huge = { ...a, uncompressedSize: 2 ** 40 };
  await assert.rejects(collect(extractFile(z, huge, read)), /outside the \d+-byte tar stream/);
  const noDigest = { ...z, spanDigests: z.spanDigests.map((d, i) => (i === 2 ? "" : d)) };
  await assert.rejects(collect(extractFile(noDigest, a, read)), /span 2 has no valid digest/);
  const short = { ...z, spanDigests: z.spanDigests.slice(1) };
  await assert.rejects(collect(extractFile(short, a, read)), /span digests/);
  assert.equal(reads, 1, "only the span-2 case started reading (and stopped before span 2)");
  assert.ok(sameBytes(await collect(extractFile(z, a, read)), tar.subarray(512, 20_512)));
});

// ---------------------------------------------------------------------------
// Defect 2: amplification

Deno.test("defect 2: 300 entries with a 1 MB PAX record each are refused with the limit, in bounded memory", async () => {
  await withTempDir(async (dir) => {
    const size = await writeLayer(`${dir}/pax.tar.gz`, paxBomb(300, 1_000_000 - 64));
    assert.ok(size < 8 << 20, `${size} bytes of layer`);
    const r = await measureDeno([
      "cli.ts",
      "ztoc",
      "build",
      "-o",
      `${dir}/out`,
      `${dir}/pax.tar.gz`,
    ], {
      timeoutMs: 180_000,
    });
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`more than the limit of ${MAX_PAX_BYTES_PER_LAYER} \\(MAX_PAX_BYTES_PER_LAYER\\)`),
    );
    // The PAX bytes up to the limit (256 MiB) are held once.
    assert.ok(r.peakMiB < 800, `peak ${r.peakMiB} MiB`);
    await assert.rejects(Deno.stat(`${dir}/out`), Deno.errors.NotFound, "no zTOC written");
  });
});

Deno.test("defect 2: a layer of MAX_ENTRIES_PER_LAYER + 1 empty files is refused, in bounded memory", async () => {
  await withTempDir(async (dir) => {
    await writeLayer(`${dir}/many.tar.gz`, emptyFiles(MAX_ENTRIES_PER_LAYER + 1));
    const r = await measureDeno([
      "cli.ts",
      "ztoc",
      "build",
      "-o",
      `${dir}/out`,
      `${dir}/many.tar.gz`,
    ], {
      timeoutMs: 300_000,
    });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /tar stream has too many entries at offset \d+: 1048577 entries/);
    assert.match(r.stderr, /\(MAX_ENTRIES_PER_LAYER\)/);
    assert.ok(r.peakMiB < 1000, `peak ${r.peakMiB} MiB`);
  });
});

Deno.test("defect 2: building and reading a 300 000-entry zTOC takes memory proportional to its size", async () => {
  await withTempDir(async (dir) => {
    await writeLayer(`${dir}/l.tar.gz`, emptyFiles(300_000));
    const built = await measureDeno([
      "cli.ts",
      "ztoc",
      "build",
      "-o",
      `${dir}/l.ztoc`,
      `${dir}/l.tar.gz`,
    ], {
      timeoutMs: 300_000,
    });
    assert.equal(built.code, 0, built.stderr);
    const ztocMiB = (await Deno.stat(`${dir}/l.ztoc`)).size / (1 << 20);
    assert.ok(ztocMiB > 35 && ztocMiB < 50, `${ztocMiB} MiB of zTOC`);
    // Before the fix: 1 173 MiB (old code, same machine); now about 450.
    assert.ok(built.peakMiB < 100 + 12 * ztocMiB, `build peak ${built.peakMiB} MiB`);
    const info = await measureDeno(["tests/helpers/ztoc_info_stream.ts", `${dir}/l.ztoc`], {
      timeoutMs: 300_000,
      stdout: "null",
    });
    assert.equal(info.code, 0, info.stderr);
    // Before the fix (`ztoc info`, whole table in memory): 834 MiB; now about 290.
    assert.ok(info.peakMiB < 100 + 8 * ztocMiB, `info peak ${info.peakMiB} MiB`);
  });
});

Deno.test("defect 2: the tar reader's limits on names and PAX records, and the zTOC size limit", () => {
  const read = (tar: Uint8Array, limits: ConstructorParameters<typeof TarReader>[1]) => {
    const entries: TarEntry[] = [];
    const r = new TarReader((e) => entries.push(e), limits);
    r.push(tar);
    r.end();
    return entries;
  };
  const files: GoTarEntry[] = [
    { name: "a".repeat(300), pax: [["k1", "v"], ["k2", "v"]] },
    { name: "b", linkname: "c".repeat(50), typeflag: "2" },
  ];
  const tar = goTar(files);
  assert.equal(read(tar, {}).length, 2);
  assert.throws(
    () => read(tar, { maxNameBytes: 340 }),
    /too many name bytes.*351 bytes.*limit of 340/,
  );
  // The first entry's records: path (long name), k1, k2.
  assert.throws(() => read(tar, { maxPaxRecords: 2 }), /too many PAX records.*3 records/);
  assert.throws(() => read(tar, { maxPaxBytes: 300 }), BadInputError);
  assert.throws(() => read(tar, { maxEntries: 1 }), /2 entries, more than the limit of 1/);

  // 1 300 entries sharing one 1 MiB PAX value: refused once measured, before anything is built.
  const value = new Uint8Array(1 << 20);
  const toc = Array.from(
    { length: 1300 },
    (_, i) => entry({ uncompressedOffset: 512 * (2 * i + 1), xattrs: [[ENC.encode("k"), value]] }),
  );
  const z: Ztoc = {
    version: "0.9",
    buildToolIdentifier: "t",
    compressedArchiveSize: 0,
    uncompressedArchiveSize: 0,
    toc,
    compressionAlgorithm: "gzip",
    maxSpanId: 0,
    spanDigests: [],
    checkpoints: new Uint8Array(12),
  };
  assert.throws(() => encodeZtoc(z), /is 1363\d{6} bytes, more than the limit of 1073741824/);
  assert.throws(() => decodeZtoc(new Uint8Array(MAX_ZTOC_BYTES + 1)), /\(MAX_ZTOC_BYTES\)/);
});

// ---------------------------------------------------------------------------
// Defect 3: sparse files

Deno.test("defect 3: sparse files of every GNU format are refused clearly by ztoc build", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/t`);
    const f = await Deno.open(`${dir}/t/sparse.bin`, { create: true, write: true });
    await f.truncate(1 << 20);
    await f.seek(300_000, Deno.SeekMode.Start);
    await f.write(ENC.encode("hello"));
    f.close();
    await Deno.writeFile(`${dir}/t/plain.txt`, ENC.encode("plain\n"));
    const formats: Array<[string, string[], RegExp]> = [
      ["gnu", ["--format=gnu", "--sparse"], /unsupported input tar entry 'S'/],
      ["0.0", ["--format=posix", "--sparse", "--sparse-version=0.0"], /format 0\.x\)/],
      ["0.1", ["--format=posix", "--sparse", "--sparse-version=0.1"], /format 0\.x\)/],
      ["1.0", ["--format=posix", "--sparse", "--sparse-version=1.0"], /format 1\.0\)/],
    ];
    for (const [label, flags, message] of formats) {
      const r = await exec("tar", [...flags, "-cf", `${dir}/${label}.tar`, "-C", `${dir}/t`, "."]);
      assert.equal(r.code, 0, r.stderr);
      const layer = gzipSync(await Deno.readFile(`${dir}/${label}.tar`));
      await assert.rejects(buildFrom(layer, 1 << 22), UnsupportedError);
      await assert.rejects(buildFrom(layer, 1 << 22), message, label);
      if (label !== "gnu") {
        await assert.rejects(buildFrom(layer, 1 << 22), /"\.\/sparse\.bin" is a sparse file/);
      }
    }
    // The same tree without --sparse indexes, and the file reads back whole.
    const r = await exec("tar", [
      "--format=posix",
      "-cf",
      `${dir}/plain.tar`,
      "-C",
      `${dir}/t`,
      ".",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const tar = await Deno.readFile(`${dir}/plain.tar`);
    const z = await buildFrom(tar, 1 << 16);
    const read = async function* (s: number, e: number) {
      yield tar.subarray(s, e);
    };
    const got = await collect(extractFile(z, findFile(z.toc, "sparse.bin"), read));
    assert.ok(sameBytes(got, await Deno.readFile(`${dir}/t/sparse.bin`)));
    // And the CLI says it in one line.
    await Deno.writeFile(`${dir}/1.0.tar.gz`, gzipSync(await Deno.readFile(`${dir}/1.0.tar`)));
    const cli = await measureDeno([
      "cli.ts",
      "ztoc",
      "build",
      "-o",
      `${dir}/o`,
      `${dir}/1.0.tar.gz`,
    ]);
    assert.equal(cli.code, 1);
    assert.match(
      cli.stderr,
      /^soci: unsupported input tar entry: ".\/sparse.bin" is a sparse file/m,
    );
  });
});

// ---------------------------------------------------------------------------
// Defect 6: names shown escaped

Deno.test("defect 6: ztoc info shows names with newlines and terminal escapes escaped", async () => {
  const names = [
    "evil\nname",
    "\u001b[2J\u001b[31mred",
    "tab\there",
    "bidi\u202etxt.exe",
    "ok/café",
  ];
  const tar = goTar(names.map((n) => ({ name: n, data: ENC.encode("x") })));
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/l.tar`, tar);
    const built = await measureDeno([
      "cli.ts",
      "ztoc",
      "build",
      "-o",
      `${dir}/l.ztoc`,
      `${dir}/l.tar`,
    ]);
    assert.equal(built.code, 0, built.stderr);
    const r = await measureDeno(["cli.ts", "ztoc", "info", "--table", `${dir}/l.ztoc`]);
    assert.equal(r.code, 0, r.stderr);
    const out = DEC.decode(r.stdout);
    assert.ok(!out.includes("\u001b") && !out.includes("\u202e") && !out.includes("\t"));
    const table = out.slice(out.indexOf("FILENAME"));
    const lines = table.trimEnd().split("\n");
    assert.equal(lines.length, 1 + names.length, table);
    for (
      const want of [
        '"evil\\nname"',
        '"\\x1b[2J\\x1b[31mred"',
        '"tab\\there"',
        '"bidi\\u202etxt.exe"',
      ]
    ) {
      assert.ok(lines.some((l) => l.startsWith(want + " ")), `${want} in\n${table}`);
    }
    assert.ok(lines.some((l) => l.startsWith("ok/café ")));
  });
  // Invalid UTF-8 is shown byte by byte, not as U+FFFD.
  const z = decodeZtoc(encodeZtoc({
    version: "0.9",
    buildToolIdentifier: "t",
    compressedArchiveSize: 2048,
    uncompressedArchiveSize: 2048,
    toc: [entry({ name: new Uint8Array([0x61, 0xff, 0x0a]) })],
    compressionAlgorithm: "uncompressed",
    maxSpanId: 0,
    spanDigests: [""],
    checkpoints: encodeTarZinfo(4096, 2048),
  }));
  const text = [...ztocInfoTableChunks(ztocInfo(z, 0))].join("");
  assert.match(text, /^"a\\xff\\n" +512 /m);
});

// ---------------------------------------------------------------------------
// Defect 7: damaged checkpoint windows

/** Reads `name` through `z`, recording the ranges read: bytes, or the error. */
async function readThrough(
  z: Ztoc,
  layer: Uint8Array,
  name: string,
): Promise<{ bytes?: Uint8Array; error?: Error; calls: Array<[number, number]> }> {
  const calls: Array<[number, number]> = [];
  const read = async function* (s: number, e: number) {
    calls.push([s, e]);
    for (let at = s; at < e; at += 65536) yield layer.slice(at, Math.min(e, at + 65536));
  };
  try {
    return { bytes: await collect(extractFile(z, findFile(z.toc, name), read)), calls };
  } catch (e) {
    return { error: e as Error, calls };
  }
}

Deno.test("defect 7: read from the file's own checkpoint only when neither its window nor its offsets can make wrong bytes", async () => {
  // Random data: deflate finds (almost) no matches, so the output soon stops
  // depending on the window a span starts with. Files of 200 KB, 64 KiB spans.
  const files = Array.from(
    { length: 10 },
    (_, i) => ({ name: `r${i}`, data: randomBytes(200_000, 70 + i) }),
  );
  const tar = goTar(files);
  const layer = new Uint8Array(gzipSync(tar, { level: 6 }));
  const z = await buildFrom(layer, 65536);
  const { spanSize, checkpoints } = decodeGzipZinfo(z.checkpoints);
  const zi = zinfoOf(z);
  // A file whose data starts well inside its span.
  const target = z.toc.find((m) => {
    const k = zi.spanOf(m.uncompressedOffset);
    return k >= 2 && m.uncompressedOffset - checkpoints[k].out > 40_000;
  })!;
  assert.ok(target, "a file far from its checkpoint");
  const name = DEC.decode(target.name);
  const k = zi.spanOf(target.uncompressedOffset);
  const want = tar.subarray(
    target.uncompressedOffset,
    target.uncompressedOffset + target.uncompressedSize,
  );
  const ownStart = checkpoints[k].bits !== 0 ? checkpoints[k].in - 1 : checkpoints[k].in;
  const withCheckpoint = (i: number, change: (c: typeof checkpoints[0]) => void) => {
    const cps = checkpoints.map((c) => ({ ...c }));
    change(cps[i]);
    return decodeZtoc(encodeZtoc({ ...z, checkpoints: encodeGzipZinfo(spanSize, cps) }));
  };

  // Undamaged: one read, from the file's own span on.
  const good = await readThrough(z, layer, name);
  assert.ok(good.bytes && sameBytes(good.bytes, want), String(good.error));
  assert.equal(good.calls.length, 1);
  assert.equal(good.calls[0][0], ownStart, "read from the file's own checkpoint");

  // Its window altered: the bytes read do not depend on it, so they are right.
  const window = await readThrough(
    withCheckpoint(k, (c) => c.window = c.window.map((b) => b ^ 0x55)),
    layer,
    name,
  );
  assert.ok(window.bytes && sameBytes(window.bytes, want), String(window.error));
  assert.equal(window.calls[0][0], ownStart);

  // Its offsets altered: the tar header is not where the TOC says, so the
  // span before is read and the window check refuses the checkpoint.
  for (const delta of [512, -512, 1, 4096]) {
    const r = await readThrough(withCheckpoint(k, (c) => c.out += delta), layer, name);
    assert.ok(r.error, `out ${delta > 0 ? "+" : ""}${delta}: no error`);
    assert.match(r.error.message, /damaged|checkpoint/, `out ${delta}`);
    assert.ok(r.calls.length === 2, `out ${delta}: the span before was read`);
  }
  // Its start altered: the right bytes or an error, never other bytes.
  for (
    const change of [
      (c: typeof checkpoints[0]) => c.in += 1,
      (c: typeof checkpoints[0]) => c.in -= 7,
      (c: typeof checkpoints[0]) => c.bits = (c.bits + 3) % 8,
    ]
  ) {
    const r = await readThrough(withCheckpoint(k, change), layer, name);
    if (r.bytes) assert.ok(sameBytes(r.bytes, want), "right bytes");
  }

  // Data that keeps referring back across the checkpoint (a 30,000-byte
  // block over and over) depends on the window: the span before is read and
  // a damaged window is refused, as on the checked path.
  const block = randomBytes(30_000, 5);
  const rep = new Uint8Array(600_000);
  for (let at = 0; at < rep.length; at += block.length) {
    rep.set(block.subarray(0, rep.length - at), at);
  }
  const tar2 = goTar([{ name: "rep", data: rep }, {
    name: "tail",
    data: rep.subarray(0, 300_000),
  }]);
  const layer2 = new Uint8Array(gzipSync(tar2, { level: 6 }));
  const z2 = await buildFrom(layer2, 65536);
  const zi2 = zinfoOf(z2);
  const tail = z2.toc.find((m) => DEC.decode(m.name) === "tail")!;
  const k2 = zi2.spanOf(tail.uncompressedOffset);
  const cps2 = decodeGzipZinfo(z2.checkpoints).checkpoints;
  assert.ok(
    k2 >= 1 && tail.uncompressedOffset - cps2[k2].out > 40_000,
    "tail far from its checkpoint",
  );
  const want2 = tar2.subarray(
    tail.uncompressedOffset,
    tail.uncompressedOffset + tail.uncompressedSize,
  );
  const dep = await readThrough(z2, layer2, "tail");
  assert.ok(dep.bytes && sameBytes(dep.bytes, want2), String(dep.error));
  assert.equal(dep.calls.length, 2, "the own checkpoint was tried, then the span before read");
  const damaged2 = cps2.map((c, i) =>
    i === k2 ? { ...c, window: c.window.map((b) => b ^ 0x55) } : c
  );
  const bad2 = decodeZtoc(encodeZtoc({ ...z2, checkpoints: encodeGzipZinfo(65536, damaged2) }));
  const refused = await readThrough(bad2, layer2, "tail");
  assert.ok(refused.error, "a damaged window the bytes depend on is refused");
  assert.match(refused.error.message, new RegExp(`the window of checkpoint ${k2} differs`));
});

Deno.test("defect 7: a damaged checkpoint window makes get-file fail, never print wrong bytes", async () => {
  // Text files compress with back-references that cross span boundaries.
  const files = Array.from(
    { length: 8 },
    (_, i) => ({ name: `f${i}`, data: textBytes(90_000, 40 + i) }),
  );
  const tar = goTar(files);
  const layer = new Uint8Array(gzipSync(tar, { level: 6 }));
  const z = await buildFrom(layer, 65536);
  const { spanSize, checkpoints } = decodeGzipZinfo(z.checkpoints);
  assert.ok(checkpoints.length >= 6, `${checkpoints.length} spans`);
  const zi = zinfoOf(z);
  // A file whose data starts in span k ≥ 3, and one that lies in spans before k − 1.
  const target = z.toc.find((m) => zi.spanOf(m.uncompressedOffset) >= 3)!;
  const k = zi.spanOf(target.uncompressedOffset);
  const early = z.toc.find((m) => zi.spanOf(m.uncompressedOffset + m.uncompressedSize) < k - 1)!;
  assert.ok(target && early);
  const damaged = checkpoints.map((cp, i) =>
    i === k ? { ...cp, window: cp.window.map((b) => b ^ 0x55) } : cp
  );
  // The damage matters: inflating from that checkpoint gives other bytes.
  const cp = damaged[k];
  const from = cp.bits !== 0 ? cp.in - 1 : cp.in;
  const want = tar.subarray(
    target.uncompressedOffset,
    target.uncompressedOffset + target.uncompressedSize,
  );
  const wrong = await collect(
    inflateFromCheckpoint(
      cp,
      [layer.subarray(from)],
      target.uncompressedOffset - cp.out,
      want.length,
    ),
  );
  assert.ok(!sameBytes(wrong, want), "the altered window changes the output");

  const bad = encodeZtoc({ ...z, checkpoints: encodeGzipZinfo(spanSize, damaged) });
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/l.tar.gz`, layer);
    await Deno.writeFile(`${dir}/bad.ztoc`, bad);
    const name = DEC.decode(target.name);
    const r = await measureDeno([
      "cli.ts",
      "ztoc",
      "get-file",
      "--layer",
      `${dir}/l.tar.gz`,
      `${dir}/bad.ztoc`,
      name,
    ]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(`the window of checkpoint ${k} differs from the output of span ${k - 1}`),
    );
    assert.equal(r.stdout.length, 0, "not one byte of the file");
    // A file before the damaged checkpoint still reads, exactly.
    const ok = await measureDeno([
      "cli.ts",
      "ztoc",
      "get-file",
      "--layer",
      `${dir}/l.tar.gz`,
      `${dir}/bad.ztoc`,
      DEC.decode(early.name),
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    const e = early.uncompressedOffset;
    assert.ok(sameBytes(ok.stdout, tar.subarray(e, e + early.uncompressedSize)));
  });
  // Damage to the window before it (the one inflating starts from) is caught too.
  const before = checkpoints.map((c, i) =>
    i === k - 1 ? { ...c, window: c.window.map((b) => b ^ 0x55) } : c
  );
  const z2 = decodeZtoc(encodeZtoc({ ...z, checkpoints: encodeGzipZinfo(spanSize, before) }));
  const read = async function* (s: number, e: number) {
    yield layer.subarray(s, e);
  };
  await assert.rejects(
    collect(extractFile(z2, findFile(z2.toc, DEC.decode(target.name)), read)),
    /damaged/,
  );
  // Undamaged: the same file comes back whole.
  const good = decodeZtoc(encodeZtoc(z));
  const got = await collect(extractFile(good, findFile(good.toc, DEC.decode(target.name)), read));
  assert.ok(sameBytes(got, want));
});
