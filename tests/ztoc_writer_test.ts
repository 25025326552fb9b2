/**
 * `encodeZtoc` and `encodeTarZinfo` (the library's FlatBuffers writer)
 * against the encoders they replaced, which drive the npm `flatbuffers`
 * `Builder` (`helpers/ztoc_builder_oracle.ts`): the same bytes for the
 * upstream vector, upstream's golden input, the zTOCs of real layers and
 * thousands of generated zTOCs and TarZinfos, and the same errors; the size
 * limit is checked on the exact size.
 */
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { FlatBufferWriter } from "../lib/go/flatbuffer_writer.ts";
import { encodeTarZinfo } from "../lib/gzip/tar_zinfo.ts";
import { buildZtoc } from "../lib/ztoc/builder.ts";
import { decodeZtoc, encodeZtoc } from "../lib/ztoc/codec.ts";
import { MAX_ZTOC_BYTES } from "../lib/ztoc/limits.ts";
import type { FileMetadata, Ztoc } from "../lib/ztoc/model.ts";
import { scanLayer } from "../lib/ztoc/scan.ts";
import { ztocSizeBound, ztocWriter } from "../lib/ztoc/ztoc_writer.ts";
import { prng, randInt, randomBytes } from "./helpers/bytes.ts";
import { goTar } from "./helpers/tar_go_writer.ts";
import { encodeTarZinfoWithBuilder, encodeZtocWithBuilder } from "./helpers/ztoc_builder_oracle.ts";
import { entry, u8, UPSTREAM_VECTOR, ztoc } from "./helpers/ztoc_samples.ts";

function firstDifference(a: Uint8Array, b: Uint8Array): string {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return `byte ${i}: ${a[i]} vs ${b[i]}`;
  return `lengths ${a.length} vs ${b.length}`;
}

function assertSame(got: Uint8Array, want: Uint8Array, what: string): void {
  if (got.length !== want.length || got.some((x, i) => x !== want[i])) {
    assert.fail(`${what}: ${firstDifference(got, want)}`);
  }
}

/** The result of `fn`: its bytes, or its error's class and message. */
function outcome(fn: () => Uint8Array): Uint8Array | string {
  try {
    return fn();
  } catch (e) {
    return `${(e as Error).name}: ${(e as Error).message}`;
  }
}

/** Both encoders give the same bytes (or fail alike); returns the bytes. */
function assertLikeOracle(z: Ztoc, what: string): Uint8Array | string {
  const got = outcome(() => encodeZtoc(z));
  const want = outcome(() => encodeZtocWithBuilder(z));
  if (typeof got === "string" || typeof want === "string") {
    assert.equal(got, want, what);
    return got;
  }
  assertSame(got, want, what);
  // Exactly sized: the buffer is the zTOC, not a view into a larger one.
  assert.equal(got.byteOffset, 0, what);
  assert.equal(got.buffer.byteLength, got.length, what);
  return got;
}

// ---------------------------------------------------------------------------
// Fixtures and real layers

Deno.test("zTOC writer: the upstream vector and golden input, as the Builder wrote them", async () => {
  // (The fixture has the shared original's bytes: ztoc_codec_test.ts checks it.)
  const file = UPSTREAM_VECTOR.pathname;
  const bytes = await Deno.readFile(file);
  const again = assertLikeOracle(decodeZtoc(bytes), file);
  assertSame(again as Uint8Array, bytes, `${file} re-encoded`);
  // F§3.6: upstream's TestWriteZtoc input (defaults everywhere, "" algorithm).
  const e = () => entry({ modTime: "0001-01-01T00:00:00Z" });
  const golden = assertLikeOracle(
    ztoc({
      buildToolIdentifier: "AWS SOCI CLI",
      checkpoints: new Uint8Array(65536),
      maxSpanId: 3,
      compressionAlgorithm: "",
      compressedArchiveSize: 2000000,
      uncompressedArchiveSize: 2500000,
      toc: [e(), e()],
    }),
    "golden input",
  );
  assert.equal((golden as Uint8Array).length, 65928);
});

Deno.test("zTOC writer: zTOCs of the sample image's layers and of Go-written tars", async () => {
  const layers: Uint8Array[] = [];
  const dir = new URL("../fixtures/sample-image/blobs/sha256/", import.meta.url).pathname;
  for await (const e of Deno.readDir(dir)) {
    const bytes = await Deno.readFile(dir + e.name);
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) layers.push(bytes);
  }
  assert.ok(layers.length >= 1);
  const tar = goTar([
    { name: "d/", typeflag: "5", mode: 0o755 },
    { name: "d/" + "long".repeat(40), data: u8("x".repeat(3000)) },
    { name: "d/ü.txt", data: u8("umlaut"), pax: [["SCHILY.xattr.user.a", "1"], ["a", ""]] },
    { name: "d/link", typeflag: "2", linkname: "ü.txt" },
    { name: "d/hard", typeflag: "1", linkname: "d/ü.txt" },
    { name: "d/null", typeflag: "3", devmajor: 1, devminor: 3 },
    { name: "d/.wh.gone", data: new Uint8Array(0) },
  ]);
  layers.push(new Uint8Array(gzipSync(tar)), tar);
  let entries = 0;
  for (const [i, layer] of layers.entries()) {
    for (const spanSize of [1024, 1 << 22]) {
      const z = buildZtoc(await scanLayer([layer], { compression: "detect", spanSize }));
      entries += z.toc.length;
      assertLikeOracle(z, `layer ${i}, span size ${spanSize}`);
    }
  }
  assert.ok(entries > 20, `${entries} entries`);
});

// ---------------------------------------------------------------------------
// Generated zTOCs

const INT64S = [
  1,
  -1,
  511,
  512,
  0o100644,
  2 ** 31,
  2 ** 32 - 1,
  2 ** 32,
  2 ** 32 + 1,
  2 ** 40 + 12345,
  -(2 ** 32) - 3,
  2 ** 53 - 1,
  -(2 ** 53 - 1),
];
const UIDS = [1, 1000, 65534, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, -1, -2];
// (texts that are not ASCII, lone surrogates included, go through TextEncoder)
const TYPES = ["reg", "dir", "symlink", "hardlink", "char", "block", "fifo", "", "ü", "\ud800"];
const TIMES = [
  "2023-11-14T22:13:20Z",
  "2023-11-14T22:13:20.5Z",
  "",
  "0001-01-01T00:00:00Z",
  "é",
  "2023-11-14T22:13:20\u007fZ",
  "😀 \udc00x",
];

function pick<T>(rnd: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rnd() * xs.length)];
}

/** Bytes of any length up to `max` (every length mod 8 comes up), raw, not UTF-8. */
function bytesOf(rnd: () => number, max: number): Uint8Array {
  return randomBytes(randInt(rnd, 0, max), randInt(rnd, 1, 1 << 30));
}

/**
 * A random zTOC of `seed`: any number of entries (up to 400), whose seven
 * scalars are each 0 (left out) with a chance chosen per zTOC, or follow
 * one of a few fixed patterns (many entries sharing vtables); PAX records
 * with few distinct keys (duplicates), empty values; any algorithm name.
 */
function randomZtoc(seed: number): Ztoc {
  const rnd = prng(seed);
  const zeroes = pick(rnd, [0, 0.3, 0.5, 0.9, 1]);
  const int64 = () => rnd() < zeroes ? 0 : pick(rnd, INT64S);
  const patterns = Array.from({ length: randInt(rnd, 1, 4) }, () => rnd() * 128 | 0);
  const fixedShapes = rnd() < 0.3;
  const n = pick(rnd, [0, 1, 2, 3, randInt(rnd, 4, 40), randInt(rnd, 100, 400)]);
  const toc: FileMetadata[] = [];
  const sharedName = bytesOf(rnd, 30);
  for (let i = 0; i < n; i++) {
    const pattern = fixedShapes ? pick(rnd, patterns) : -1;
    const scalar = (bit: number) =>
      pattern < 0 ? int64() : (pattern & bit) === 0 ? 0 : pick(rnd, INT64S);
    const uid = (bit: number) =>
      pattern < 0
        ? (rnd() < zeroes ? 0 : pick(rnd, UIDS))
        : (pattern & bit) === 0
        ? 0
        : pick(rnd, UIDS);
    const xattrs: Array<[Uint8Array, Uint8Array]> = [];
    const records = pick(rnd, [0, 0, 0, 1, 2, randInt(rnd, 3, 9)]);
    for (let k = 0; k < records; k++) {
      // Few distinct keys, so that duplicates come up; values may be empty.
      const key = rnd() < 0.5
        ? u8(pick(rnd, ["a", "b", "SCHILY.xattr.user.x", "ab", ""]))
        : bytesOf(rnd, 12);
      xattrs.push([key, rnd() < 0.2 ? new Uint8Array(0) : bytesOf(rnd, 20)]);
    }
    toc.push({
      name: rnd() < 0.1 ? sharedName : bytesOf(rnd, 40),
      type: pick(rnd, TYPES),
      uncompressedOffset: scalar(1),
      uncompressedSize: scalar(2),
      linkname: rnd() < 0.7 ? new Uint8Array(0) : bytesOf(rnd, 17),
      mode: scalar(4),
      uid: uid(8),
      gid: uid(16),
      uname: rnd() < 0.5 ? u8("root") : bytesOf(rnd, 9),
      gname: rnd() < 0.5 ? u8("") : bytesOf(rnd, 9),
      modTime: pick(rnd, TIMES),
      devmajor: scalar(32),
      devminor: scalar(64),
      xattrs,
    });
  }
  const spans = pick(rnd, [0, 1, 2, randInt(rnd, 3, 12)]);
  const hex = () => Array.from({ length: 64 }, () => "0123456789abcdef"[rnd() * 16 | 0]).join("");
  return {
    version: pick(rnd, ["0.9", "", "v0.10-é", "1", "\udbff\udfff"]),
    buildToolIdentifier: pick(rnd, ["AWS SOCI CLI v0.2", "", "x", "soci-deno 0.1.0 ✓"]),
    compressedArchiveSize: int64(),
    uncompressedArchiveSize: int64(),
    toc,
    compressionAlgorithm: pick(rnd, ["gzip", "uncompressed", ""]),
    maxSpanId: rnd() < 0.4 ? 0 : pick(rnd, [spans - 1, 77, -1, 2 ** 31 - 1]),
    spanDigests: Array.from(
      { length: spans },
      () => rnd() < 0.9 ? "sha256:" + hex() : pick(rnd, ["", "md5:1", "sha256:"]),
    ),
    checkpoints: rnd() < 0.2 ? new Uint8Array(0) : bytesOf(rnd, 200),
  };
}

Deno.test("zTOC writer: 2000 generated zTOCs equal the Builder's bytes", () => {
  let entries = 0, pax = 0, bytes = 0;
  for (let seed = 1; seed <= 2000; seed++) {
    const z = randomZtoc(seed);
    const out = assertLikeOracle(z, `seed ${seed}`);
    assert.ok(typeof out !== "string", `seed ${seed}: ${out}`);
    entries += z.toc.length;
    pax += z.toc.reduce((n, e) => n + e.xattrs.length, 0);
    bytes += out.length;
  }
  // Enough of everything came up to mean something.
  assert.ok(entries > 50000 && pax > 30000 && bytes > 5e6, `${entries} ${pax} ${bytes}`);
});

/** `encodeZtoc` in one run, into a buffer of `ztocSizeBound` (or of `bound` when given). */
function encodeBounded(z: Ztoc, bound?: number): { bytes: Uint8Array; bound: number } {
  let text = 0, records = 0;
  for (const e of z.toc) {
    text += e.name.length + e.linkname.length + e.uname.length + e.gname.length;
    for (const [k, v] of e.xattrs) text += k.length + v.length;
    records += e.xattrs.length;
  }
  bound ??= ztocSizeBound(z, z.toc.length, text, records, z.checkpoints.length);
  const toc = z.toc;
  const bytes = encodeZtoc(z, { length: toc.length, at: (i) => toc[i], sizeBound: bound });
  return { bytes, bound };
}

Deno.test("zTOC writer: written once into its size bound, a zTOC has the same bytes", () => {
  let slack = 0, size = 0;
  for (let seed = 1; seed <= 2000; seed++) {
    const z = randomZtoc(seed);
    let want: Uint8Array;
    try {
      want = encodeZtoc(z);
    } catch (e) {
      // The same error either way.
      assert.throws(() => encodeBounded(z), { message: (e as Error).message }, `seed ${seed}`);
      continue;
    }
    const { bytes, bound } = encodeBounded(z);
    assert.ok(want.length <= bound, `seed ${seed}: ${want.length} > bound ${bound}`);
    assert.deepEqual(bytes, want, `seed ${seed}`);
    // The last bytes of a buffer of the bound (rounded up to 8), not a copy.
    assert.equal(bytes.byteOffset + bytes.length, bytes.buffer.byteLength, `seed ${seed}`);
    assert.ok(bytes.buffer.byteLength - bound < 8, `seed ${seed}`);
    slack += bound - want.length;
    size += want.length;
    // A bound too small (wrongly given) ends in the two runs: the same bytes, in a buffer of their own.
    if (want.length > 64) {
      const small = encodeBounded(z, want.length - 8).bytes;
      assert.deepEqual(small, want, `seed ${seed} (bound too small)`);
      assert.equal(small.byteLength, small.buffer.byteLength);
    }
  }
  // The bound is not wildly off (untouched pages cost nothing, but address space does).
  assert.ok(slack < 2 * size, `slack ${slack} for ${size} bytes`);
});

Deno.test("zTOC writer: corner cases equal the Builder's bytes", () => {
  const cases: Array<[string, Ztoc]> = [
    ["empty TOC, no digests, no checkpoints", ztoc()],
    ["empty strings everywhere", ztoc({ version: "", buildToolIdentifier: "" })],
    ["one all-default entry", ztoc({ toc: [entry()] })],
    ["many all-default entries", ztoc({ toc: Array.from({ length: 300 }, () => entry()) })],
    [
      "all scalars at 2^53 - 1",
      ztoc({
        compressedArchiveSize: 2 ** 53 - 1,
        uncompressedArchiveSize: -(2 ** 53 - 1),
        toc: [entry({
          uncompressedOffset: 2 ** 53 - 1,
          uncompressedSize: 2 ** 53 - 1,
          mode: -(2 ** 53 - 1),
          uid: 2 ** 32 - 1,
          gid: -(2 ** 31),
          devmajor: 2 ** 32,
          devminor: -1,
        })],
      }),
    ],
    ["negative zero is zero", ztoc({ compressedArchiveSize: -0, toc: [entry({ mode: -0 })] })],
    [
      "duplicate PAX keys, last wins",
      ztoc({
        toc: [entry({
          xattrs: [[u8("b"), u8("1")], [u8("a"), u8("2")], [u8("b"), u8("3")], [u8("a"), u8("")]],
        })],
      }),
    ],
    ["empty PAX key and value", ztoc({ toc: [entry({ xattrs: [[u8(""), u8("")]] })] })],
    [
      "uncompressed",
      ztoc({ compressionAlgorithm: "uncompressed", checkpoints: encodeTarZinfo(1024, 99) }),
    ],
    ["no algorithm, big span id", ztoc({ compressionAlgorithm: "", maxSpanId: 2 ** 31 - 1 })],
  ];
  for (const [what, z] of cases) assertLikeOracle(z, what);
  // A long TOC of few shapes: most entries reuse a vtable written long before.
  const rnd = prng(99);
  const toc = Array.from({ length: 5000 }, (_, i) =>
    entry({
      name: randomBytes(i % 23, i + 1),
      type: i % 3 === 0 ? "dir" : "reg",
      uncompressedOffset: 512 * (i + 1),
      uncompressedSize: rnd() < 0.5 ? 0 : randInt(rnd, 1, 1 << 20),
      mode: 0o644,
      uid: i % 7 === 0 ? 1000 : 0,
      modTime: "2023-11-14T22:13:20Z",
    }));
  assertLikeOracle(ztoc({ toc, uncompressedArchiveSize: 512 * 5002 }), "5000 entries");
});

Deno.test("zTOC writer: the same errors as the Builder's encoder", () => {
  const bad: Array<[Ztoc, RegExp]> = [
    [ztoc({ compressionAlgorithm: "zstd" }), /compression algorithm not defined in flatbuf: zstd/],
    [ztoc({ compressedArchiveSize: 1.5 }), /ztoc field value 1.5 is not an integer/],
    [ztoc({ uncompressedArchiveSize: Infinity }), /ztoc field value Infinity is not an integer/],
    [ztoc({ toc: [entry({ uncompressedSize: NaN })] }), /ztoc field value NaN is not an integer/],
    [ztoc({ toc: [entry(), entry({ devminor: 0.25 })] }), /value 0.25 is not an integer/],
  ];
  for (const [z, message] of bad) {
    const got = assertLikeOracle(z, String(message));
    assert.match(got as string, message);
    assert.match(got as string, /^BadInputError: /);
  }
});

// ---------------------------------------------------------------------------
// The size limit

/** The exact size `encodeZtoc` would give, measured without writing. */
function measured(z: Ztoc): number {
  const w = new FlatBufferWriter();
  return w.finish(ztocWriter(z)(w));
}

Deno.test("zTOC writer: a zTOC one alignment step over MAX_ZTOC_BYTES fails, at the limit it measures", () => {
  // Growing the checkpoints by 8 bytes grows the zTOC by 8 (the oracle says so on small ones).
  const base = ztoc({ compressedArchiveSize: 1, toc: [entry({ name: u8("a") })] });
  const at = (n: number) => ({ ...base, checkpoints: new Uint8Array(n) });
  const s0 = encodeZtocWithBuilder(at(16)).length;
  assert.equal(encodeZtocWithBuilder(at(24)).length, s0 + 8);
  assert.equal(measured(at(16)), s0);
  // (The big checkpoints are never touched: the zTOC is refused after measuring.)
  const exact = at(16 + MAX_ZTOC_BYTES - s0);
  assert.equal(measured(exact), MAX_ZTOC_BYTES);
  const over = at(16 + MAX_ZTOC_BYTES - s0 + 8);
  assert.equal(measured(over), MAX_ZTOC_BYTES + 8);
  assert.throws(
    () => encodeZtoc(over),
    (e: Error) => {
      assert.equal(e.name, "BadInputError");
      assert.equal(
        e.message,
        `the zTOC is ${MAX_ZTOC_BYTES + 8} bytes, more than the limit of 1073741824 ` +
          "(MAX_ZTOC_BYTES): the layer has too many entries or too much metadata",
      );
      return true;
    },
  );
});

// ---------------------------------------------------------------------------
// TarZinfo

Deno.test("TarZinfo writer: generated values equal the Builder's bytes, errors alike", () => {
  const values = [
    0,
    1,
    -1,
    512,
    4194304,
    2 ** 31,
    2 ** 32,
    2 ** 32 + 7,
    2 ** 53 - 1,
    -(2 ** 53 - 1),
  ];
  const versions = [2, 0, 1, -1, 2 ** 31, 2 ** 32 + 2, 2 ** 53 - 1];
  const rnd = prng(5);
  const cases: Array<[number, number, number]> = [];
  for (const s of values) for (const n of values) for (const v of versions) cases.push([s, n, v]);
  for (let i = 0; i < 1000; i++) {
    cases.push([randInt(rnd, 0, 2 ** 40), randInt(rnd, -(2 ** 20), 2 ** 50), randInt(rnd, -5, 5)]);
  }
  cases.push([1.5, 1, 2], [1, NaN, 2], [1, 2, 0.5], [2 ** 53, 1, 2]);
  for (const [spanSize, size, version] of cases) {
    const got = outcome(() => encodeTarZinfo(spanSize, size, version));
    const want = outcome(() => encodeTarZinfoWithBuilder(spanSize, size, version));
    if (typeof got === "string" || typeof want === "string") {
      assert.equal(got, want, `${spanSize} ${size} ${version}`);
      assert.match(got as string, /^BadInputError: tar zinfo value .* is not an integer$/);
    } else {
      assertSame(got, want, `${spanSize} ${size} ${version}`);
    }
  }
  assert.equal(encodeTarZinfo(4194304, 20971520).length, 48);
});
