import assert from "node:assert/strict";
import { BadInputError, UnsupportedError } from "../lib/errors.ts";
import { sha256Digest } from "../lib/oci/digest.ts";
import type { Checkpoint } from "../lib/gzip/checkpoint.ts";
import {
  decodeGzipZinfo,
  encodeGzipZinfo,
  PACKED_CHECKPOINT_SIZE,
  ZINFO_HEADER_SIZE,
} from "../lib/gzip/zinfo.ts";
import { decodeTarZinfo, encodeTarZinfo } from "../lib/gzip/tar_zinfo.ts";
import { gzipZinfo, tarMaxSpanId, tarZinfo, validateZtoc, zinfoOf } from "../lib/ztoc/spans.ts";
import { flatcFromJson, flatcToJson, TAR_ZINFO_FBS } from "./helpers/ztoc_flatc.ts";
import { entry, hex, prng, ztoc } from "./helpers/ztoc_samples.ts";

const W = 32768;
const D = "sha256:" + "ab".repeat(32);

function assertBadInput(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof BadInputError, `expected BadInputError, got ${e}`);
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

/** A header-only gzip zinfo blob: int32 count, int64 span size. */
function header(count: number, spanSize = 0, extra = 0): Uint8Array {
  const b = new Uint8Array(12 + extra);
  const dv = new DataView(b.buffer);
  dv.setInt32(0, count, true);
  dv.setBigInt64(4, BigInt(spanSize), true);
  return b;
}

function cp(inOff: number, out: number, bits = 0, fill = 0): Checkpoint {
  return { in: inOff, out, bits, window: new Uint8Array(W).fill(fill) };
}

// ---------------------------------------------------------------------------
// gzip zinfo blob (F§5.1), upstream test C§11.1 item 11

Deno.test("gzip zinfo: nil/empty/short/inconsistent blobs fail like upstream", () => {
  assertBadInput(() => decodeGzipZinfo(new Uint8Array(0)), "empty checkpoints");
  for (let n = 1; n < 12; n++) {
    assertBadInput(() => decodeGzipZinfo(new Uint8Array(n)), "cannot convert blob to gzip_zinfo");
  }
  assertBadInput(() => decodeGzipZinfo(header(255)), "cannot convert blob to gzip_zinfo");
  assertBadInput(() => decodeGzipZinfo(header(-1)), "cannot convert blob to gzip_zinfo");
  assertBadInput(() => decodeGzipZinfo(header(2, 0, 100)), "cannot convert blob to gzip_zinfo");
});

Deno.test("gzip zinfo: count 0 with 12 bytes loads (v2), count 1 with 12 bytes loads (v1)", () => {
  const zero = decodeGzipZinfo(header(0, 4194304));
  assert.deepEqual(zero, { spanSize: 4194304, checkpoints: [], version: 2 });
  const one = decodeGzipZinfo(header(1, 65536));
  assert.equal(one.version, 1);
  assert.equal(one.spanSize, 65536);
  assert.deepEqual(one.checkpoints, [{ in: 10, out: 0, bits: 0, window: new Uint8Array(W) }]);
});

Deno.test("gzip zinfo: v2 layout is header + packed little-endian records", () => {
  const cps = [cp(10, 0), cp(0x0102030405, 0x060708090a0b, 5, 0xaa)];
  cps[1].window[0] = 1;
  cps[1].window[W - 1] = 2;
  const blob = encodeGzipZinfo(4194304, cps);
  assert.equal(blob.length, 12 + 2 * 32785);
  // count 2, span size 0x400000.
  assert.equal(hex(blob.subarray(0, 12)), "02000000" + "0000400000000000");
  // record 0: in 10, out 0, bits 0, zero window.
  assert.equal(hex(blob.subarray(12, 29)), "0a00000000000000" + "0000000000000000" + "00");
  assert.ok(blob.subarray(29, 29 + W).every((b) => b === 0));
  // record 1 at 12 + 32785.
  const r = 12 + 32785;
  assert.equal(
    hex(blob.subarray(r, r + 17)),
    "0504030201000000" + "0b0a090807060000" + "05",
  );
  assert.equal(blob[r + 17], 1);
  assert.equal(blob[r + 17 + 1], 0xaa);
  assert.equal(blob[r + 17 + W - 1], 2);
  assert.equal(PACKED_CHECKPOINT_SIZE, 32785);
  assert.equal(ZINFO_HEADER_SIZE, 12);
});

Deno.test("gzip zinfo: bytes equal Python struct packing of the same values", async () => {
  const rnd = prng(7);
  const cps: Checkpoint[] = [];
  for (let i = 0; i < 3; i++) {
    const w = new Uint8Array(W);
    for (let k = 0; k < W; k += 97) w[k] = Math.floor(rnd() * 256);
    cps.push({ in: 10 + i * 70000, out: i * 5_000_000_000, bits: i * 3, window: w });
  }
  const ours = encodeGzipZinfo(1 << 20, cps);
  const dir = await Deno.makeTempDir({ prefix: "zinfo_py_" });
  try {
    for (let i = 0; i < 3; i++) await Deno.writeFile(`${dir}/w${i}`, cps[i].window);
    const script = [
      "import struct, sys, hashlib",
      "d = sys.argv[1]",
      `cps = ${JSON.stringify(cps.map((c) => [c.in, c.out, c.bits]))}`,
      "b = struct.pack('<iq', len(cps), 1 << 20)",
      "for i, (a, o, bits) in enumerate(cps):",
      "    b += struct.pack('<qqB', a, o, bits) + open(f'{d}/w{i}', 'rb').read()",
      "print(hashlib.sha256(b).hexdigest(), len(b))",
    ].join("\n");
    const out = await new Deno.Command("python3", { args: ["-c", script, dir], stdout: "piped" })
      .output();
    assert.ok(out.success);
    const [digest, len] = new TextDecoder().decode(out.stdout).trim().split(" ");
    assert.equal(Number(len), ours.length);
    assert.equal("sha256:" + digest, sha256Digest(ours));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gzip zinfo: round trip keeps values; windows are views, not copies", () => {
  const cps = [cp(10, 0), cp(5000, 70000, 3, 7), cp(2 ** 40, 2 ** 45, 7, 9)];
  const blob = encodeGzipZinfo(65536, cps);
  const z = decodeGzipZinfo(blob);
  assert.equal(z.version, 2);
  assert.equal(z.spanSize, 65536);
  assert.deepEqual(z.checkpoints, cps);
  for (const [i, c] of z.checkpoints.entries()) {
    assert.equal(c.window.buffer, blob.buffer);
    assert.equal(c.window.byteOffset, blob.byteOffset + 12 + i * 32785 + 17);
    assert.equal(c.window.length, W);
  }
  // Also from a view with a non-zero byteOffset.
  const padded = new Uint8Array(blob.length + 3);
  padded.set(blob, 3);
  assert.deepEqual(decodeGzipZinfo(padded.subarray(3)).checkpoints, cps);
});

Deno.test("gzip zinfo: v1 blobs (first checkpoint omitted) synthesize checkpoint 0", () => {
  // count 3, records for checkpoints 1 and 2 only.
  const v2 = encodeGzipZinfo(1000, [cp(99, 99, 1, 1), cp(1234, 5000, 2, 3), cp(4321, 9000, 0, 4)]);
  const v1 = new Uint8Array(12 + 2 * 32785);
  v1.set(v2.subarray(0, 12));
  v1.set(v2.subarray(12 + 32785), 12);
  const z = decodeGzipZinfo(v1);
  assert.equal(z.version, 1);
  assert.equal(z.spanSize, 1000);
  assert.deepEqual(z.checkpoints, [cp(10, 0), cp(1234, 5000, 2, 3), cp(4321, 9000, 0, 4)]);
});

Deno.test("gzip zinfo: short windows are left-padded, long ones and bad bits rejected", () => {
  const blob = encodeGzipZinfo(1, [{ in: 10, out: 3, bits: 0, window: new Uint8Array([1, 2, 3]) }]);
  const z = decodeGzipZinfo(blob);
  const expected = new Uint8Array(W);
  expected.set([1, 2, 3], W - 3);
  assert.deepEqual(z.checkpoints[0].window, expected);
  assertBadInput(
    () => encodeGzipZinfo(1, [{ in: 10, out: 0, bits: 0, window: new Uint8Array(W + 1) }]),
    /window/,
  );
  assertBadInput(() => encodeGzipZinfo(1, [cp(10, 0, 8)]), /bits/);
});

// ---------------------------------------------------------------------------
// TarZinfo (F§5.6)

Deno.test("TarZinfo: the 48-byte example of F§5.6", () => {
  const blob = encodeTarZinfo(4194304, 20971520);
  assert.equal(
    hex(blob),
    [
      "14000000",
      "00000000",
      "00000a00",
      "1c001800",
      "0c000400",
      "0a000000",
      "00004001",
      "00000000",
      "00004000",
      "00000000",
      "00000000",
      "02000000",
    ].join(""),
  );
  assert.deepEqual(decodeTarZinfo(blob), { version: 2, spanSize: 4194304, size: 20971520 });
});

Deno.test("TarZinfo: flatc reads ours, we read flatc's", async () => {
  const j = await flatcToJson(TAR_ZINFO_FBS, encodeTarZinfo(65536, 2 ** 33 + 7));
  assert.deepEqual(j, { version: 2, span_size: 65536, size: 8589934599 });
  const theirs = await flatcFromJson(TAR_ZINFO_FBS, { span_size: 512, size: 1000 });
  assert.deepEqual(decodeTarZinfo(theirs), { version: 0, spanSize: 512, size: 1000 });
  const empty = await flatcFromJson(TAR_ZINFO_FBS, {});
  assert.deepEqual(decodeTarZinfo(empty), { version: 0, spanSize: 0, size: 0 });
});

Deno.test("TarZinfo: garbage gives BadInputError only", () => {
  assertBadInput(() => decodeTarZinfo(new Uint8Array(0)), /^cannot unmarshal tar zinfo: /);
  assertBadInput(() => decodeTarZinfo(new Uint8Array([200, 0, 0, 0])), /^cannot unmarshal tar/);
  const rnd = prng(99);
  const good = encodeTarZinfo(4194304, 20971520);
  for (let k = 0; k < 2000; k++) {
    const b = k % 2 ? good.slice(0, Math.floor(rnd() * 48)) : good.slice();
    if (k % 2 === 0) b[Math.floor(rnd() * b.length)] ^= 1 << (k % 8);
    try {
      decodeTarZinfo(b);
    } catch (e) {
      assert.ok(e instanceof BadInputError, String(e));
    }
  }
});

// ---------------------------------------------------------------------------
// Span math (F§5.3, §5.4, §5.6)

Deno.test("gzip spans: ranges with bits adjustment, last span ends at the sizes", () => {
  const z = gzipZinfo(65536, [
    cp(10, 0),
    cp(5000, 70000, 3),
    cp(9000, 140001),
    cp(9500, 210000, 7),
  ]);
  assert.equal(z.kind, "gzip");
  assert.equal(z.numSpans, 4);
  assert.equal(z.spanSize, 65536);
  assert.deepEqual(z.compressedRange(0, 12000), [10, 5000]);
  assert.deepEqual(z.compressedRange(1, 12000), [4999, 9000]); // bits 3 → starts one byte early
  assert.deepEqual(z.compressedRange(2, 12000), [9000, 9500]); // end not adjusted for bits
  assert.deepEqual(z.compressedRange(3, 12000), [9499, 12000]); // last: layer size
  assert.deepEqual(z.uncompressedRange(0, 300000), [0, 70000]);
  assert.deepEqual(z.uncompressedRange(2, 300000), [140001, 210000]);
  assert.deepEqual(z.uncompressedRange(3, 300000), [210000, 300000]);
  assertBadInput(() => z.compressedRange(4, 1), /span 4/);
  assertBadInput(() => z.uncompressedRange(-1, 1), /span -1/);
});

Deno.test("gzip spans: offset → span is the last checkpoint with out ≤ offset", () => {
  const z = gzipZinfo(65536, [cp(10, 0), cp(5000, 70000, 3), cp(9000, 140001)]);
  const cases: Array<[number, number]> = [
    [0, 0],
    [69999, 0],
    [70000, 1],
    [140000, 1],
    [140001, 2],
    [1e12, 2],
  ];
  for (const [off, span] of cases) assert.equal(z.spanOf(off), span, `offset ${off}`);
  // Degenerate duplicate out = 0 checkpoints (F§5.2): the scan moves past them.
  const dup = gzipZinfo(0, [cp(10, 0), cp(12, 0), cp(30, 100)]);
  assert.deepEqual([dup.spanOf(0), dup.spanOf(99), dup.spanOf(100)], [1, 1, 2]);
  // Decreasing out values: upstream's forward scan stops at the first larger out.
  const odd = gzipZinfo(0, [cp(10, 0), cp(20, 200), cp(30, 100)]);
  assert.deepEqual([odd.spanOf(150), odd.spanOf(250)], [0, 2]);
  assert.equal(gzipZinfo(0, []).spanOf(5), 0);
});

Deno.test("tar spans: max span id, ranges, offset → span", () => {
  assert.equal(tarMaxSpanId(20971520, 4194304), 4); // exact multiple: 5 spans
  assert.equal(tarMaxSpanId(20971521, 4194304), 5);
  assert.equal(tarMaxSpanId(1, 4194304), 0);
  assert.equal(tarMaxSpanId(0, 4194304), -1);
  assertBadInput(() => tarMaxSpanId(10, 0), /span size 0/);
  const z = tarZinfo(1000, 2500);
  assert.equal(z.kind, "tar");
  assert.equal(z.numSpans, 3);
  assert.deepEqual(z.checkpoints, []);
  assert.deepEqual(z.compressedRange(0, 2500), [0, 1000]);
  assert.deepEqual(z.compressedRange(2, 2500), [2000, 2500]);
  assert.deepEqual(z.uncompressedRange(2, 2048), [2000, 2048]); // tar end < file size
  assert.deepEqual([z.spanOf(0), z.spanOf(999), z.spanOf(1000), z.spanOf(2499)], [0, 0, 1, 2]);
  assertBadInput(() => z.compressedRange(3, 2500), /span 3/);
});

// ---------------------------------------------------------------------------
// zinfoOf and validation (F§3.5, §5.8)

Deno.test("zinfoOf picks the codec by compression algorithm", () => {
  const g = zinfoOf(ztoc({ checkpoints: encodeGzipZinfo(4096, [cp(10, 0), cp(99, 5000)]) }));
  assert.equal(g.kind, "gzip");
  assert.equal(g.spanSize, 4096);
  assert.equal(g.numSpans, 2);
  assert.equal(g.checkpoints[1].in, 99);
  const t = zinfoOf(ztoc({
    compressionAlgorithm: "uncompressed",
    checkpoints: encodeTarZinfo(4096, 10000),
  }));
  assert.equal(t.kind, "tar");
  assert.equal(t.numSpans, 3);
  assert.throws(
    () => zinfoOf(ztoc({ compressionAlgorithm: "zstd" })),
    (e: unknown) => e instanceof UnsupportedError && e.message === "not implemented: zstd",
  );
  assertBadInput(
    () => zinfoOf(ztoc({ compressionAlgorithm: "compressionalgorithm(7)" })),
    "unexpected compression algorithm: compressionalgorithm(7)",
  );
  assertBadInput(() => zinfoOf(ztoc({ checkpoints: new Uint8Array(0) })), "empty checkpoints");
  assertBadInput(
    () =>
      zinfoOf(ztoc({ compressionAlgorithm: "uncompressed", checkpoints: encodeTarZinfo(0, 9) })),
    /span size 0/,
  );
});

Deno.test("validateZtoc: accepts consistent zTOCs, names what is wrong otherwise", () => {
  const blob = encodeGzipZinfo(4096, [cp(10, 0), cp(99, 5000, 1), cp(300, 9000)]);
  const good = ztoc({
    checkpoints: blob,
    maxSpanId: 2,
    spanDigests: [D, D, D],
    compressedArchiveSize: 400,
    uncompressedArchiveSize: 10240,
    toc: [entry({ uncompressedOffset: 512, uncompressedSize: 9000 })],
  });
  validateZtoc(good);
  assertBadInput(() => validateZtoc({ ...good, maxSpanId: 1 }), /max_span_id is 1 .* 3 spans/);
  assertBadInput(() => validateZtoc({ ...good, spanDigests: [D] }), /1 span digests for 3 spans/);
  const dup = encodeGzipZinfo(4096, [cp(10, 0), cp(12, 0), cp(300, 9000)]);
  assertBadInput(() => validateZtoc({ ...good, checkpoints: dup }), /span 0 is empty/);
  const backwards = encodeGzipZinfo(4096, [cp(10, 0), cp(200, 5000), cp(150, 9000)]);
  assertBadInput(() => validateZtoc({ ...good, checkpoints: backwards }), /span 1/);
  // bits ≠ 0 make span 1 start one byte early: [99, 100) is non-empty; with bits 0 it is empty.
  validateZtoc({
    ...good,
    checkpoints: encodeGzipZinfo(1, [cp(10, 0), cp(100, 5, 1), cp(100, 9)]),
  });
  assertBadInput(
    () =>
      validateZtoc({
        ...good,
        checkpoints: encodeGzipZinfo(1, [cp(10, 0), cp(100, 5), cp(100, 9)]),
      }),
    /span 1 is empty or out of order \(compressed \[100, 100\)/,
  );
  const overlap = [
    entry({ uncompressedOffset: 512, uncompressedSize: 600 }),
    entry({ uncompressedOffset: 1024 }),
  ];
  assertBadInput(() => validateZtoc({ ...good, toc: overlap }), "invalid toc entry");
  const tar = ztoc({
    compressionAlgorithm: "uncompressed",
    checkpoints: encodeTarZinfo(1024, 4096),
    maxSpanId: 3,
    spanDigests: [D, D, D, D],
  });
  validateZtoc(tar);
  assertBadInput(() => validateZtoc({ ...tar, maxSpanId: 4 }), /max_span_id is 4/);
});
