import assert from "node:assert/strict";
import { Builder } from "npm:flatbuffers@25.9.23";
import { BadInputError } from "../lib/errors.ts";
import { sha256Digest } from "../lib/oci/digest.ts";
import { decodeGzipZinfo } from "../lib/gzip/zinfo.ts";
import {
  algorithmName,
  decodeZtoc,
  encodeZtoc,
  sortTocByOffset,
  tarHeaderOffsets,
} from "../lib/ztoc/codec.ts";
import { formatZtocInfoJson, ztocInfo } from "../lib/ztoc/info.ts";
import { quoteJsonString } from "../lib/go/json_quote.ts";
import { validateZtoc } from "../lib/ztoc/spans.ts";
import { encodeTarZinfo } from "../lib/gzip/tar_zinfo.ts";
import type { Ztoc } from "../lib/ztoc/model.ts";
import { flatcFromJson, flatcToJson, ZTOC_FBS } from "./helpers/ztoc_flatc.ts";
import {
  entry,
  HAVE_SHARED_UPSTREAM_VECTOR,
  prng,
  SHARED_UPSTREAM_VECTOR,
  u8,
  UPSTREAM_VECTOR,
  ztoc,
} from "./helpers/ztoc_samples.ts";

const dec = new TextDecoder();
const str = (b: Uint8Array) => dec.decode(b);
const D1 = "sha256:" + "0123456789abcdef".repeat(4);
const D2 = "sha256:" + "f".repeat(64);

/** F§3.6: upstream's TestWriteZtoc input. */
function goldenInput(): Ztoc {
  const e = () => entry({ modTime: "0001-01-01T00:00:00Z" });
  return ztoc({
    version: "0.9",
    buildToolIdentifier: "AWS SOCI CLI",
    checkpoints: new Uint8Array(65536),
    maxSpanId: 3,
    spanDigests: [],
    compressionAlgorithm: "",
    compressedArchiveSize: 2000000,
    uncompressedArchiveSize: 2500000,
    toc: [e(), e()],
  });
}

function assertBadInput(fn: () => unknown, message?: string | RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof BadInputError, `expected BadInputError, got ${e}`);
    if (typeof message === "string") assert.equal(e.message, message);
    else if (message) assert.match(e.message, message);
    return true;
  });
}

/** Calls decodeZtoc and fails the test on any error other than BadInputError. */
function decodeOrBadInput(bytes: Uint8Array): Ztoc | null {
  try {
    return decodeZtoc(bytes);
  } catch (e) {
    if (!(e instanceof BadInputError)) {
      throw new Error(`decodeZtoc leaked ${e} for ${bytes.length} bytes`);
    }
    assert.ok(
      e.message === "invalid toc entry" || e.message.startsWith("cannot unmarshal ztoc: "),
      e.message,
    );
    return null;
  }
}

Deno.test("golden vector F§3.6: 65928 bytes, upstream digest", () => {
  const bytes = encodeZtoc(goldenInput());
  assert.equal(bytes.length, 65928);
  assert.equal(
    sha256Digest(bytes),
    "sha256:eba28fdf50b1b57543f57dd051b2468c1d4f57b64d2006c75aa4de1d03e6c7ec",
  );
});

Deno.test("golden vector decodes back (absent algorithm reads as gzip)", () => {
  const z = decodeZtoc(encodeZtoc(goldenInput()));
  assert.equal(z.version, "0.9");
  assert.equal(z.buildToolIdentifier, "AWS SOCI CLI");
  assert.equal(z.compressedArchiveSize, 2000000);
  assert.equal(z.uncompressedArchiveSize, 2500000);
  assert.equal(z.compressionAlgorithm, "gzip");
  assert.equal(z.maxSpanId, 3);
  assert.deepEqual(z.spanDigests, []);
  assert.deepEqual(z.checkpoints, new Uint8Array(65536));
  assert.equal(z.toc.length, 2);
  for (const me of z.toc) {
    assert.deepEqual(me, entry({ modTime: "0001-01-01T00:00:00Z" }));
  }
});

Deno.test("golden vector read by flatc (independent reader)", async () => {
  const small = goldenInput();
  small.checkpoints = new Uint8Array([1, 2, 3]);
  const j = await flatcToJson(ZTOC_FBS, encodeZtoc(small), false);
  assert.deepEqual(j, {
    version: "0.9",
    build_tool_identifier: "AWS SOCI CLI",
    compressed_archive_size: 2000000,
    uncompressed_archive_size: 2500000,
    toc: {
      metadata: [
        {
          name: "",
          type: "",
          linkname: "",
          uname: "",
          gname: "",
          mod_time: "0001-01-01T00:00:00Z",
          xattrs: [],
        },
        {
          name: "",
          type: "",
          linkname: "",
          uname: "",
          gname: "",
          mod_time: "0001-01-01T00:00:00Z",
          xattrs: [],
        },
      ],
    },
    compression_info: { max_span_id: 3, span_digests: [], checkpoints: [1, 2, 3] },
  });
});

Deno.test("upstream vector: the fixture's digest is the shared original's", async () => {
  const fixture = await Deno.readFile(UPSTREAM_VECTOR);
  assert.equal(
    sha256Digest(fixture),
    "sha256:6f589868d24e61586646f2aecd04ac9b797b3befff3294693192b4b4077bc6dd",
  );
});

Deno.test({
  name: "upstream vector: fixture has the same bytes as the shared original",
  ignore: !HAVE_SHARED_UPSTREAM_VECTOR,
  fn: async () => {
    const fixture = await Deno.readFile(UPSTREAM_VECTOR);
    assert.deepEqual(fixture, await Deno.readFile(SHARED_UPSTREAM_VECTOR));
  },
});

Deno.test("upstream vector decodes as its README says", async () => {
  const bytes = await Deno.readFile(UPSTREAM_VECTOR);
  const z = decodeZtoc(bytes);
  assert.equal(z.version, "0.9");
  assert.equal(z.buildToolIdentifier, "AWS SOCI CLI v0.1");
  assert.equal(z.compressedArchiveSize, 28567944);
  assert.equal(z.uncompressedArchiveSize, 75156480);
  assert.equal(z.toc.length, 3265);
  const first = z.toc[0];
  assert.equal(str(first.name), "bin");
  assert.equal(first.type, "symlink");
  assert.equal(str(first.linkname), "usr/bin");
  assert.equal(first.uncompressedOffset, 512);
  const last = z.toc[z.toc.length - 1];
  assert.equal(str(last.name), "var/tmp/");
  assert.equal(last.type, "dir");
  assert.equal(z.compressionAlgorithm, "gzip");
  assert.equal(z.maxSpanId, 17);
  assert.equal(z.spanDigests.length, 18);
  for (const d of z.spanDigests) assert.match(d, /^sha256:[0-9a-f]{64}$/);
  assert.equal(z.checkpoints.length, 590142);
  assert.equal(z.checkpoints.length, 12 + 18 * 32785);
  // -05:00 local zone, as the README says.
  assert.match(first.modTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-05:00$/);

  const zi = decodeGzipZinfo(z.checkpoints);
  assert.equal(zi.version, 2); // length 12 + 32785·n with n = 18
  assert.equal(zi.checkpoints.length, 18);
  assert.equal(zi.spanSize, 4194304);
  assert.equal(zi.checkpoints[0].out, 0);
  validateZtoc(z);
});

Deno.test("upstream vector re-encodes to the same bytes and values", async () => {
  const bytes = await Deno.readFile(UPSTREAM_VECTOR);
  const z = decodeZtoc(bytes);
  // The layer's tar order is offset order, so the decoded TOC is in tar order.
  for (let i = 1; i < z.toc.length; i++) {
    assert.ok(z.toc[i - 1].uncompressedOffset < z.toc[i].uncompressedOffset);
  }
  const again = encodeZtoc(z);
  assert.deepEqual(decodeZtoc(again), z);
  // Upstream's Go builder wrote these bytes; the same call order reproduces them.
  assert.equal(sha256Digest(again), sha256Digest(bytes));
});

Deno.test("round trip of every field, raw bytes and integer edge cases", async () => {
  const nonUtf8 = new Uint8Array([0x66, 0xff, 0xfe, 0x2f, 0xc3, 0x28]);
  const z = ztoc({
    version: "0.9",
    buildToolIdentifier: "soci-deno test",
    compressedArchiveSize: 6_000_000_000,
    uncompressedArchiveSize: 2 ** 52,
    compressionAlgorithm: "uncompressed",
    maxSpanId: 1,
    spanDigests: [D1, D2],
    checkpoints: new Uint8Array([9, 8, 7, 6, 5]),
    toc: [
      entry({
        name: nonUtf8,
        type: "reg",
        uncompressedOffset: 512,
        uncompressedSize: 5_000_000_001,
        linkname: u8("target"),
        mode: 0o100755,
        uid: -1,
        gid: 2 ** 32 + 5,
        uname: new Uint8Array([0x80, 0x81]),
        gname: u8("wheel"),
        modTime: "2023-11-14T22:13:20.5Z",
        devmajor: 2 ** 33 + 1,
        devminor: -2,
        xattrs: [
          [u8("b"), u8("2")],
          [new Uint8Array([0xff]), new Uint8Array([0x00, 0xff])],
          [u8("a"), u8("1")],
          [u8("SCHILY.xattr.security.capability"), new Uint8Array([1, 0, 0, 2, 0xfe])],
          [new Uint8Array([0x61, 0xff]), u8("3")],
        ],
      }),
      entry({
        name: u8("dev/null"),
        type: "char",
        uncompressedOffset: 5_000_001_536,
        mode: 0o666,
        devmajor: 1,
        devminor: 3,
        modTime: "2021-07-23T12:35:25-05:00",
        xattrs: [[u8("k"), u8("first")], [u8("k"), u8("second")]],
      }),
    ],
  });
  const bytes = encodeZtoc(z);
  const back = decodeZtoc(bytes);
  const expected = structuredClone(z);
  expected.toc[0].uid = 4294967295; // uint32(-1)
  expected.toc[0].gid = 5; // uint32(2^32 + 5)
  expected.toc[0].xattrs = [
    [u8("SCHILY.xattr.security.capability"), new Uint8Array([1, 0, 0, 2, 0xfe])],
    [u8("a"), u8("1")],
    [new Uint8Array([0x61, 0xff]), u8("3")],
    [u8("b"), u8("2")],
    [new Uint8Array([0xff]), new Uint8Array([0x00, 0xff])],
  ];
  expected.toc[1].xattrs = [[u8("k"), u8("second")]]; // a Go map keeps one value per key
  assert.deepEqual(back, expected);

  // Raw bytes are stored verbatim: uint32 length, the bytes, NUL.
  const needle = new Uint8Array([6, 0, 0, 0, ...nonUtf8, 0]);
  const at = bytes.findIndex((_, i) => needle.every((b, k) => bytes[i + k] === b));
  assert.ok(at >= 0 && at % 4 === 0, "name stored as a 4-aligned raw string");

  // flatc, an independent reader, sees the same values (ASCII-only copy).
  const ascii = structuredClone(z);
  ascii.toc[0].name = u8("f/a");
  ascii.toc[0].uname = u8("u");
  ascii.toc[0].xattrs = [[u8("b"), u8("2")], [u8("a"), u8("1")]];
  ascii.toc[1].xattrs = [];
  ascii.uncompressedArchiveSize = 75156480;
  const j = await flatcToJson(ZTOC_FBS, encodeZtoc(ascii));
  assert.deepEqual(j, {
    version: "0.9",
    build_tool_identifier: "soci-deno test",
    compressed_archive_size: 6000000000,
    uncompressed_archive_size: 75156480,
    toc: {
      metadata: [
        {
          name: "f/a",
          type: "reg",
          uncompressed_offset: 512,
          uncompressed_size: 5000000001,
          linkname: "target",
          mode: 33261,
          uid: 4294967295,
          gid: 5,
          uname: "u",
          gname: "wheel",
          mod_time: "2023-11-14T22:13:20.5Z",
          devmajor: 8589934593,
          devminor: -2,
          xattrs: [{ key: "a", value: "1" }, { key: "b", value: "2" }],
        },
        {
          name: "dev/null",
          type: "char",
          uncompressed_offset: 5000001536,
          uncompressed_size: 0,
          linkname: "",
          mode: 438,
          uid: 0,
          gid: 0,
          uname: "",
          gname: "",
          mod_time: "2021-07-23T12:35:25-05:00",
          devmajor: 1,
          devminor: 3,
          xattrs: [],
        },
      ],
    },
    compression_info: {
      compression_algorithm: "Uncompressed",
      max_span_id: 1,
      span_digests: [D1, D2],
      checkpoints: [9, 8, 7, 6, 5],
    },
  });
});

Deno.test("gzip leaves compression_algorithm out, uncompressed writes 2", async () => {
  const gz = await flatcToJson(ZTOC_FBS, encodeZtoc(ztoc({ compressionAlgorithm: "gzip" })), false);
  assert.deepEqual(gz.compression_info, { span_digests: [], checkpoints: [] });
  const gzip = encodeZtoc(ztoc({ compressionAlgorithm: "gzip" }));
  const none = encodeZtoc(ztoc({ compressionAlgorithm: "" }));
  assert.deepEqual(gzip, none);
  const tar = encodeZtoc(ztoc({ compressionAlgorithm: "uncompressed" }));
  const j = await flatcToJson(ZTOC_FBS, tar, false);
  assert.deepEqual(j.compression_info, {
    compression_algorithm: "Uncompressed",
    span_digests: [],
    checkpoints: [],
  });
});

Deno.test("encoding an algorithm the schema lacks fails", () => {
  assertBadInput(
    () => encodeZtoc(ztoc({ compressionAlgorithm: "zstd" })),
    "compression algorithm not defined in flatbuf: zstd",
  );
});

Deno.test("decoding: unparsable span digests read as empty", () => {
  const z = decodeZtoc(encodeZtoc(ztoc({ spanDigests: [D1, "sha256:xyz", "md5:00", ""] })));
  assert.deepEqual(z.spanDigests, [D1, "", "", ""]);
});

Deno.test("decoding flatc's layout: absent fields default, entries sorted", async () => {
  const bytes = await flatcFromJson(ZTOC_FBS, {
    version: "0.9",
    toc: {
      metadata: [
        { name: "b", type: "reg", uncompressed_offset: 2048, uncompressed_size: 3 },
        { name: "a", uncompressed_offset: 512, uncompressed_size: 700, uid: 7 },
        { name: "c", uncompressed_offset: 3072, xattrs: [{ key: "k" }] },
      ],
    },
    compression_info: { compression_algorithm: 7, max_span_id: 2, span_digests: [D2] },
  });
  const z = decodeZtoc(bytes);
  assert.deepEqual(
    z,
    ztoc({
      buildToolIdentifier: "",
      compressionAlgorithm: "compressionalgorithm(7)",
      maxSpanId: 2,
      spanDigests: [D2],
      toc: [
        entry({ name: u8("a"), uncompressedOffset: 512, uncompressedSize: 700, uid: 7 }),
        entry({ name: u8("b"), type: "reg", uncompressedOffset: 2048, uncompressedSize: 3 }),
        entry({ name: u8("c"), uncompressedOffset: 3072, xattrs: [[u8("k"), u8("")]] }),
      ],
    }),
  );
});

Deno.test("decoding: enum values are read as int8; explicit defaults are accepted", () => {
  // Build with forced defaults and an unusual field order.
  const build = (algorithm: number) => {
    const b = new Builder(0);
    b.forceDefaults(true);
    const vec = b.createByteVector(new Uint8Array([1]));
    b.startObject(4);
    b.addFieldInt8(0, algorithm, 1);
    b.addFieldOffset(3, vec, 0);
    b.addFieldInt32(1, 0, 0);
    const ci = b.endObject();
    b.startVector(4, 0, 4);
    const meta = b.endVector();
    b.startObject(1);
    b.addFieldOffset(0, meta, 0);
    const toc = b.endObject();
    b.startObject(6);
    b.addFieldOffset(5, ci, 0);
    b.addFieldInt64(3, BigInt(0), BigInt(0));
    b.addFieldOffset(4, toc, 0);
    b.finish(b.endObject());
    return b.asUint8Array();
  };
  assert.equal(decodeZtoc(build(1)).compressionAlgorithm, "gzip");
  assert.equal(decodeZtoc(build(2)).compressionAlgorithm, "uncompressed");
  assert.equal(decodeZtoc(build(-3)).compressionAlgorithm, "compressionalgorithm(-3)");
  assert.equal(decodeZtoc(build(0)).compressionAlgorithm, "compressionalgorithm(0)");
  assert.deepEqual(decodeZtoc(build(1)).checkpoints, new Uint8Array([1]));
  assert.equal(algorithmName(2), "uncompressed");
});

Deno.test("decoding: missing toc or compression_info cannot be loaded", () => {
  const b = new Builder(0);
  b.startObject(6);
  b.finish(b.endObject());
  assertBadInput(() => decodeZtoc(b.asUint8Array()), /^cannot unmarshal ztoc: .*toc/);

  const b2 = new Builder(0);
  b2.startVector(4, 0, 4);
  const meta = b2.endVector();
  b2.startObject(1);
  b2.addFieldOffset(0, meta, 0);
  const toc = b2.endObject();
  b2.startObject(6);
  b2.addFieldOffset(4, toc, 0);
  b2.finish(b2.endObject());
  assertBadInput(() => decodeZtoc(b2.asUint8Array()), /^cannot unmarshal ztoc: .*compression_info/);
});

Deno.test("decoding garbage never throws anything but BadInputError", () => {
  const rnd = prng(0x5eed);
  assertBadInput(() => decodeZtoc(new Uint8Array(0)), /^cannot unmarshal ztoc: /);
  assertBadInput(() => decodeZtoc(u8("not a flatbuffer")), /^cannot unmarshal ztoc: /);
  for (let k = 0; k < 3000; k++) {
    const n = Math.floor(rnd() * 400);
    const bytes = new Uint8Array(n);
    for (let i = 0; i < n; i++) bytes[i] = Math.floor(rnd() * 256);
    // Small root offsets make the buffer look more like a flatbuffer.
    if (n >= 4 && k % 2 === 0) bytes.set([Math.floor(rnd() * n) & ~3, 0, 0, 0]);
    decodeOrBadInput(bytes);
  }
});

Deno.test("decoding truncated and corrupted zTOCs never crashes", async () => {
  const sample = encodeZtoc(ztoc({
    compressedArchiveSize: 1000,
    uncompressedArchiveSize: 3072,
    spanDigests: [D1],
    checkpoints: new Uint8Array(40).fill(3),
    toc: [
      entry({ name: u8("a"), type: "reg", uncompressedOffset: 512, uncompressedSize: 10 }),
      entry({
        name: u8("b"),
        type: "reg",
        uncompressedOffset: 2048,
        xattrs: [[u8("path"), u8("b")]],
      }),
    ],
  }));
  let failures = 0;
  for (let n = 0; n < sample.length; n++) {
    if (decodeOrBadInput(sample.subarray(0, n)) === null) failures++;
  }
  assert.ok(failures > sample.length / 2, `${failures} of ${sample.length} truncations failed`);
  const rnd = prng(42);
  for (let k = 0; k < 3000; k++) {
    const copy = sample.slice();
    const flips = 1 + Math.floor(rnd() * 4);
    for (let f = 0; f < flips; f++) copy[Math.floor(rnd() * copy.length)] ^= 1 << (k % 8);
    decodeOrBadInput(copy);
  }
  const big = await Deno.readFile(UPSTREAM_VECTOR);
  for (const n of [0, 3, 4, 100, 4096, 500_000, 574_000, 1_000_000, big.length - 1]) {
    decodeOrBadInput(big.subarray(0, n));
  }
});

Deno.test("TOC: entries sorted by offset, header offsets derived, overlap rejected", () => {
  const a = entry({ name: u8("a"), uncompressedOffset: 512, uncompressedSize: 1000 });
  const b = entry({ name: u8("b"), uncompressedOffset: 2048, uncompressedSize: 0 });
  const c = entry({ name: u8("c"), uncompressedOffset: 3072, uncompressedSize: 513 });
  const z = decodeZtoc(encodeZtoc(ztoc({ toc: [c, a, b] })));
  assert.deepEqual(z.toc.map((e) => str(e.name)), ["a", "b", "c"]);
  // 0; 512+1000=1512 → 1536; 2048+0 → 2048.
  assert.deepEqual(tarHeaderOffsets(z.toc), [0, 1536, 2048]);
  assert.equal(sortTocByOffset(z.toc), z.toc); // already sorted: same array

  // a's data ends at 1512 → next header at 1536, after b's data at 1024.
  const overlap = entry({ name: u8("b"), uncompressedOffset: 1024 });
  assertBadInput(() => decodeZtoc(encodeZtoc(ztoc({ toc: [a, overlap] }))), "invalid toc entry");
  // A header-only entry with a size field > 512 (F§3.5 consequence).
  const link = entry({
    name: u8("l"),
    type: "hardlink",
    uncompressedOffset: 512,
    uncompressedSize: 600,
  });
  const next = entry({ name: u8("n"), uncompressedOffset: 1024 });
  assertBadInput(() => decodeZtoc(encodeZtoc(ztoc({ toc: [link, next] }))), "invalid toc entry");
  // First header is at 0, so an entry whose data offset is 0 is fine.
  assert.deepEqual(tarHeaderOffsets([entry({ uncompressedOffset: 0 })]), [0]);
});

// ---------------------------------------------------------------------------
// ztoc info

Deno.test("ztoc info of the upstream vector", async () => {
  const bytes = await Deno.readFile(UPSTREAM_VECTOR);
  const info = ztocInfo(decodeZtoc(bytes), bytes.length);
  assert.equal(info.version, "0.9");
  assert.equal(info.build_tool, "AWS SOCI CLI v0.1");
  assert.equal(info.size, 1164704);
  assert.equal(info.span_size, 4194304);
  assert.equal(info.num_spans, 18);
  assert.equal(info.num_files, 3265);
  assert.equal(info.files.length, 3265);
  const first = info.files[0];
  assert.equal(first.filename, "bin");
  assert.equal(first.offset, 512);
  assert.equal(first.type, "symlink");
  // Offset 512 lies before checkpoint 1 (which is past the 4 MiB span size).
  assert.equal(first.start_span, 0);
  assert.equal(info.zinfo_bytes, 590142);
  assert.equal(info.toc_bytes, 1164704 - 590142);
  assert.equal(info.compression_algorithm, "gzip");
  // Spans are > span size (F§5.2) except the last one.
  assert.ok(info.max_span_size! > 4194304);
  assert.ok(info.min_span_size! <= info.max_span_size!);
  const text = formatZtocInfoJson(info, { extras: false });
  assert.ok(text.startsWith('{\n  "version": "0.9",\n  "build_tool": "AWS SOCI CLI v0.1",\n'));
  assert.ok(text.includes('\n  "span_size": 4194304,\n  "num_spans": 18,\n  "num_files": 3265,\n'));
  assert.ok(text.endsWith("\n    }\n  ]\n}\n"));
  assert.equal(JSON.parse(text).files.length, 3265);
});

/** A gzip zTOC with three hand-placed checkpoints for the info tests. */
function infoSample(): Ztoc {
  const w = new Uint8Array(32768);
  const cps = new Uint8Array(12 + 3 * 32785);
  const dv = new DataView(cps.buffer);
  dv.setInt32(0, 3, true);
  dv.setInt32(4, 1000, true); // span size 1000
  const put = (i: number, cin: number, out: number, bits: number) => {
    const p = 12 + i * 32785;
    dv.setInt32(p, cin, true);
    dv.setInt32(p + 8, out, true);
    cps[p + 16] = bits;
    cps.set(w, p + 17);
  };
  put(0, 10, 0, 0);
  put(1, 400, 1536, 5); // span 0: compressed [10, 400), uncompressed [0, 1536)
  put(2, 700, 3072, 0); // span 1: compressed [399, 700), uncompressed [1536, 3072)
  // span 2: compressed [700, 900), uncompressed [3072, 4096)
  return ztoc({
    compressedArchiveSize: 900,
    uncompressedArchiveSize: 4096,
    maxSpanId: 2,
    spanDigests: [D1, D1, D1],
    checkpoints: cps,
    toc: [
      entry({ name: u8("dir/"), type: "dir", uncompressedOffset: 512 }),
      entry({ name: u8("a<b>&c"), type: "reg", uncompressedOffset: 1024, uncompressedSize: 512 }),
      entry({
        name: new Uint8Array([0x78, 0xff, 0xe2, 0x82, 0x0a, 0xe2, 0x80, 0xa8, 0xc3, 0xa9]),
        type: "reg",
        uncompressedOffset: 2048,
        uncompressedSize: 1500,
      }),
    ],
  });
}

Deno.test("ztoc info: spans, multi-span files and span size extremes", () => {
  const info = ztocInfo(infoSample(), 98765);
  assert.deepEqual(
    info.files.map((f) => [f.filename, f.start_span, f.end_span]),
    [
      ["dir/", 0, 0],
      ["a<b>&c", 0, 1], // ends exactly at 1536, the start of span 1 (F§5.4)
      ["x\ufffd\ufffd\ufffd\n\u2028é", 1, 2],
    ],
  );
  assert.equal(info.num_multi_span_files, 2);
  assert.equal(info.zinfo_bytes, 12 + 3 * 32785);
  assert.equal(info.toc_bytes, 98765 - (12 + 3 * 32785));
  assert.equal(info.min_span_size, 1024); // 4096 − 3072
  assert.equal(info.max_span_size, 1536);
  assert.equal(info.min_compressed_span_size, 200); // 900 − 700
  assert.equal(info.max_compressed_span_size, 390); // 400 − 10
});

Deno.test("ztoc info JSON: Go MarshalIndent text, escaping, extras after", () => {
  const text = formatZtocInfoJson(ztocInfo(infoSample(), 98765));
  const expected = `{
  "version": "0.9",
  "build_tool": "AWS SOCI CLI v0.2",
  "size": 98765,
  "span_size": 1000,
  "num_spans": 3,
  "num_files": 3,
  "num_multi_span_files": 2,
  "files": [
    {
      "filename": "dir/",
      "offset": 512,
      "size": 0,
      "type": "dir",
      "start_span": 0,
      "end_span": 0
    },
    {
      "filename": "a\\u003cb\\u003e\\u0026c",
      "offset": 1024,
      "size": 512,
      "type": "reg",
      "start_span": 0,
      "end_span": 1
    },
    {
      "filename": "x\\ufffd\\ufffd\\ufffd\\n\\u2028é",
      "offset": 2048,
      "size": 1500,
      "type": "reg",
      "start_span": 1,
      "end_span": 2
    }
  ],
  "compression_algorithm": "gzip",
  "compressed_archive_size": 900,
  "uncompressed_archive_size": 4096,
  "toc_bytes": 398,
  "zinfo_bytes": 98367,
  "min_span_size": 1024,
  "max_span_size": 1536,
  "min_compressed_span_size": 200,
  "max_compressed_span_size": 390
}
`;
  assert.equal(text, expected);
});

Deno.test("ztoc info JSON: empty TOC prints files null", () => {
  const z = ztoc({
    compressionAlgorithm: "uncompressed",
    checkpoints: encodeTarZinfo(4194304, 10240),
    compressedArchiveSize: 10240,
    uncompressedArchiveSize: 10240,
  });
  const text = formatZtocInfoJson(ztocInfo(z, 300), { extras: false });
  assert.equal(
    text,
    `{
  "version": "0.9",
  "build_tool": "AWS SOCI CLI v0.2",
  "size": 300,
  "span_size": 4194304,
  "num_spans": 1,
  "num_files": 0,
  "num_multi_span_files": 0,
  "files": null
}
`,
  );
});

Deno.test("Go JSON string escaping of raw bytes", () => {
  // Expectations from Go's encoding/json rules (HTML-safe, \b \f since Go 1.22).
  assert.equal(quoteJsonString(u8('q"b\\s/')), '"q\\"b\\\\s/"');
  assert.equal(
    quoteJsonString(new Uint8Array([0x08, 0x0c, 0x0a, 0x0d, 0x09, 0x00, 0x01, 0x1f, 0x7f])),
    '"\\b\\f\\n\\r\\t\\u0000\\u0001\\u001f\x7f"',
  );
  assert.equal(quoteJsonString(u8("\u2028\u2029")), '"\\u2028\\u2029"');
  // A valid U+FFFD is written as is; invalid bytes become the \ufffd escape.
  assert.equal(quoteJsonString(u8("\ufffd")), '"\ufffd"');
  // Overlong (C0 80), surrogate (ED A0 80), > U+10FFFF (F4 90 80 80), lone continuation.
  assert.equal(
    quoteJsonString(new Uint8Array([0xc0, 0x80, 0xed, 0xa0, 0x80, 0xf4, 0x90, 0x80, 0x80, 0x80])),
    '"' + "\\ufffd".repeat(10) + '"',
  );
  // 4-byte sequence (U+1F600) and the last valid code point U+10FFFF.
  assert.equal(quoteJsonString(new Uint8Array([0xf0, 0x9f, 0x98, 0x80])), '"\u{1f600}"');
  assert.equal(quoteJsonString(new Uint8Array([0xf4, 0x8f, 0xbf, 0xbf])), '"\u{10ffff}"');
});

Deno.test("decoding: PAX vectors shared by many entries cannot blow up memory", () => {
  // 2000 entries all pointing at one 2000-record vector: 4M records from a ~48 KB buffer.
  const b = new Builder(0);
  const key = b.createString("k");
  b.startObject(2);
  b.addFieldOffset(0, key, 0);
  const rec = b.endObject();
  b.startVector(4, 2000, 4);
  for (let i = 0; i < 2000; i++) b.addOffset(rec);
  const shared = b.endVector();
  const entries: number[] = [];
  for (let i = 0; i < 2000; i++) {
    b.startObject(14);
    b.addFieldOffset(13, shared, 0);
    b.addFieldInt64(2, BigInt(512 * (i + 1)), BigInt(0));
    entries.push(b.endObject());
  }
  b.startVector(4, 2000, 4);
  for (let i = 1999; i >= 0; i--) b.addOffset(entries[i]);
  const meta = b.endVector();
  b.startObject(1);
  b.addFieldOffset(0, meta, 0);
  const toc = b.endObject();
  b.startObject(4);
  const ci = b.endObject();
  b.startObject(6);
  b.addFieldOffset(4, toc, 0);
  b.addFieldOffset(5, ci, 0);
  b.finish(b.endObject());
  assertBadInput(() => decodeZtoc(b.asUint8Array()), /^cannot unmarshal ztoc: more PAX records/);
});

Deno.test("encoding non-integer sizes is a BadInputError, not a RangeError", () => {
  assertBadInput(() => encodeZtoc(ztoc({ compressedArchiveSize: 1.5 })), /not an integer/);
  assertBadInput(
    () => encodeZtoc(ztoc({ toc: [entry({ uncompressedSize: NaN })] })),
    /not an integer/,
  );
});
