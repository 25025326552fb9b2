/**
 * End-to-end tests of `soci ztoc build`: the zTOC the CLI writes, decoded
 * with `decodeZtoc`, is checked field by field against independent oracles:
 * Python's `tarfile` for the TOC, the C zlib program `zinfo_oracle.c` for
 * the checkpoints, and span digests recomputed here from the oracle's
 * checkpoints (F§5.3, F§5.6).
 */
import assert from "node:assert/strict";
import { inflateFromCheckpoint } from "../lib/gzip/resume.ts";
import { decodeZtoc } from "../lib/ztoc/codec.ts";
import type { FileMetadata, Ztoc } from "../lib/ztoc/model.ts";
import { type PyDump, pyDump, pyGzip, pyMakeTar, pyTree } from "./helpers/ztoc_e2e_oracle.ts";
import {
  collect,
  compileZinfoOracle,
  concat,
  gzipSpanDigests,
  hex,
  mapLimit,
  type OracleCheckpoint,
  parseZinfoBlob,
  randomBytes,
  sameBytes,
  sh,
  soci,
  tarSpanDigests,
  textBytes,
  withTempDir,
  zinfoOracle,
} from "./helpers/ztoc_e2e_tools.ts";
import { goTar, type GoTarEntry } from "./helpers/tar_go_writer.ts";

const ENC = new TextEncoder();
const SPAN = 65536;

/** Builds `layer` with the CLI into `out` and returns the zTOC bytes. */
async function cliBuild(dir: string, layer: string, out: string, spanSize: number) {
  const r = await soci(
    ["ztoc", "build", "--span-size", String(spanSize), "-o", out, layer],
    `${dir}/root`,
  );
  assert.equal(r.code, 0, `ztoc build ${layer} (span ${spanSize}) failed: ${r.stderr}`);
  return await Deno.readFile(out);
}

const TYPES: Record<string, string> = {
  "0": "reg",
  "\u0000": "reg",
  "1": "hardlink",
  "2": "symlink",
  "3": "char",
  "4": "block",
  "5": "dir",
  "6": "fifo",
};

/**
 * The name Go reports: Python strips trailing slashes from directory names,
 * every directory in these archives is written with exactly one.
 */
function expectedName(nameHex: string, type: string): string {
  return type === "5" ? nameHex.replace(/(2f)+$/, "") + "2f" : nameHex;
}

/** Every TOC field of `toc` against the members Python's tarfile read. */
function assertTocMatches(toc: FileMetadata[], dump: PyDump, label: string): void {
  assert.equal(toc.length, dump.members.length, `${label}: number of entries`);
  dump.members.forEach((m, i) => {
    const e = toc[i];
    const at = `${label}: entry ${i} (${new TextDecoder().decode(e.name)})`;
    assert.equal(hex(e.name), expectedName(m.name, m.type), `${at}: name`);
    assert.equal(e.type, TYPES[m.type], `${at}: type`);
    assert.equal(e.uncompressedOffset, m.offset_data, `${at}: offset`);
    assert.equal(e.uncompressedSize, m.size, `${at}: size`);
    assert.equal(hex(e.linkname), m.linkname, `${at}: linkname`);
    assert.equal(e.mode, m.mode, `${at}: mode`);
    assert.equal(e.uid, m.uid % 2 ** 32, `${at}: uid`);
    assert.equal(e.gid, m.gid % 2 ** 32, `${at}: gid`);
    assert.equal(hex(e.uname), m.uname, `${at}: uname`);
    assert.equal(hex(e.gname), m.gname, `${at}: gname`);
    assert.equal(e.modTime, m.modtime, `${at}: mod_time`);
    assert.equal(e.devmajor, m.devmajor, `${at}: devmajor`);
    assert.equal(e.devminor, m.devminor, `${at}: devminor`);
    const want = m.pax.slice().sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    assert.deepEqual(e.xattrs.map(([k, v]) => [hex(k), hex(v)]), want, `${at}: xattrs`);
  });
}

/** The span holding uncompressed `offset` (F§5.4), from oracle checkpoints. */
function spanOf(cps: OracleCheckpoint[], offset: number): number {
  let i = 0;
  while (i + 1 < cps.length && cps[i + 1].out <= offset) i++;
  return i;
}

/** The end of a tar archive: just after the two zero blocks at `end` (checked). */
function tarEnd(tar: Uint8Array, end: number): number {
  assert.ok(tar.subarray(end, end + 1024).every((b) => b === 0), "end-of-archive marker");
  assert.equal(tar.subarray(end, end + 1024).length, 1024);
  return end + 1024;
}

/** Everything the zTOC of a gzip layer must say, from the oracles. */
function assertGzipZtoc(
  z: Ztoc,
  o: { layer: Uint8Array; oracle: Uint8Array; spanSize: number; tarSize: number },
  label: string,
): OracleCheckpoint[] {
  const { spanSize, cps } = parseZinfoBlob(o.oracle);
  assert.equal(spanSize, o.spanSize);
  assert.equal(z.version, "0.9", label);
  assert.equal(z.buildToolIdentifier, "AWS SOCI CLI v0.2", label);
  assert.equal(z.compressionAlgorithm, "gzip", label);
  assert.equal(z.compressedArchiveSize, o.layer.length, `${label}: compressed_archive_size`);
  assert.equal(z.uncompressedArchiveSize, o.tarSize, `${label}: uncompressed_archive_size`);
  assert.equal(z.maxSpanId, cps.length - 1, `${label}: max_span_id`);
  assert.equal(z.checkpoints.length, o.oracle.length, `${label}: zinfo length`);
  assert.ok(sameBytes(z.checkpoints, o.oracle), `${label}: zinfo bytes`);
  assert.deepEqual(z.spanDigests, gzipSpanDigests(o.layer, cps), `${label}: span digests`);
  return cps;
}

// ---------------------------------------------------------------------------
// TOC fields against Python's tarfile

/** The Go-like archive: every kind of entry, written the way Go's tar Writer does. */
function goEntries(): GoTarEntry[] {
  const long = "p".repeat(80) + "/" + "q".repeat(60);
  const veryLong = Array(6).fill("v".repeat(50)).join("/") + "/file";
  return [
    { name: "d/", typeflag: "5", mode: 0o755, uid: 1000, gid: 1000, uname: "u", gname: "g" },
    { name: "d/empty", uname: "u", gname: "g" },
    { name: "d/small", data: textBytes(100, 1), mode: 0o600 },
    { name: "big/random.bin", data: randomBytes(300_000, 2), mode: 0o755 },
    { name: "big/text.txt", data: textBytes(400_000, 3) },
    { name: long, data: ENC.encode("ustar prefix split") },
    { name: veryLong, data: ENC.encode("PAX path") },
    { name: "s", typeflag: "2", linkname: "d/small", mode: 0o777 },
    { name: "s-long", typeflag: "2", linkname: "t".repeat(150), mode: 0o777 },
    { name: "h", typeflag: "1", linkname: "big/random.bin" },
    { name: "h-long", typeflag: "1", linkname: veryLong },
    { name: "chr", typeflag: "3", devmajor: 1, devminor: 3, mode: 0o666 },
    { name: "blk", typeflag: "4", devmajor: 8, devminor: 1, mode: 0o660 },
    { name: "fifo", typeflag: "6" },
    { name: new Uint8Array([0x63, 0x61, 0x66, 0xe9, 0x2d, 0xff]), data: ENC.encode("latin1") },
    {
      name: "xattrs",
      data: randomBytes(70_000, 4),
      pax: [
        ["SCHILY.xattr.user.comment", "hello"],
        ["SCHILY.xattr.security.capability", new Uint8Array([1, 0, 0, 2, 0xff])],
      ],
    },
    { name: "nanos", data: ENC.encode("n"), mtimeNanos: 123_456_789 },
    { name: "ids", data: ENC.encode("i"), uid: 3_000_000, gid: 7, uname: "x".repeat(40) },
    { name: "old", data: ENC.encode("o"), mtime: 0 },
    { name: "big/tail.txt", data: textBytes(150_000, 5) },
    { name: "last", data: ENC.encode("end") },
  ];
}

Deno.test("ztoc build: every TOC field matches Python tarfile (GNU tar, tarfile, Go-like)", async (t) => {
  await withTempDir(async (dir) => {
    const oracle = await compileZinfoOracle(dir);
    await pyTree(`${dir}/tree`);
    const makers: Array<[string, (tar: string) => Promise<void>]> = [
      ["gnutar-gnu", (tar) => sh(`tar --format=gnu -cf ${tar} -C ${dir}/tree .`).then(() => {})],
      [
        "gnutar-posix",
        (tar) => sh(`tar --format=posix --xattrs -cf ${tar} -C ${dir}/tree .`).then(() => {}),
      ],
      ["tarfile-gnu", (tar) => pyMakeTar("gnu", tar)],
      ["tarfile-pax", (tar) => pyMakeTar("pax", tar)],
      ["go-like", (tar) => Deno.writeFile(tar, goTar(goEntries()))],
    ];
    for (const [label, make] of makers) {
      await t.step(label, async () => {
        const tar = `${dir}/${label}.tar`;
        await make(tar);
        await sh(`gzip -n -6 -c ${tar} > ${tar}.gz`);
        const z = decodeZtoc(await cliBuild(dir, `${tar}.gz`, `${dir}/${label}.ztoc`, SPAN));
        const dump = await pyDump(tar);
        const tarBytes = await Deno.readFile(tar);
        assertTocMatches(z.toc, dump, label);
        const cps = assertGzipZtoc(z, {
          layer: await Deno.readFile(`${tar}.gz`),
          oracle: await zinfoOracle(oracle, SPAN, `${tar}.gz`),
          spanSize: SPAN,
          tarSize: tarEnd(tarBytes, dump.end),
        }, label);
        // The fixture is what it claims: several spans, files crossing their boundaries.
        const crossing = z.toc.filter((e) =>
          e.uncompressedSize > 0 &&
          spanOf(cps, e.uncompressedOffset) !==
            spanOf(cps, e.uncompressedOffset + e.uncompressedSize - 1)
        );
        assert.ok(cps.length >= 5 && crossing.length >= 2, `${label}: ${cps.length} spans`);
        const kinds = new Set(z.toc.map((e) => e.type));
        for (const k of ["reg", "dir", "symlink", "hardlink", "fifo"]) assert.ok(kinds.has(k), k);
        if (label !== "gnutar-gnu" && label !== "gnutar-posix" || Deno.uid() === 0) {
          assert.ok(kinds.has("char") && kinds.has("block"), `${label}: devices`);
        }
        if (label === "gnutar-posix" || label === "tarfile-pax" || label === "go-like") {
          const keys = z.toc.flatMap((e) => e.xattrs.map(([k]) => new TextDecoder().decode(k)));
          assert.ok(keys.some((k) => k.startsWith("SCHILY.xattr.user.")), `${label}: xattrs`);
        }
        assert.ok(z.toc.some((e) => e.name.length > 255), `${label}: long name`);
        assert.ok(z.toc.some((e) => e.linkname.length > 100), `${label}: long link name`);
        assert.ok(
          z.toc.some((e) => e.name.includes(0xff)),
          `${label}: non-UTF-8 name`,
        );
      });
    }
  });
});

// ---------------------------------------------------------------------------
// Checkpoints against upstream's zlib pass

/** A ~4 MB Go-like tar: text (Huffman blocks), random (stored blocks) and small files. */
function baseTar(): Uint8Array {
  const entries: GoTarEntry[] = [{ name: "a/", typeflag: "5", mode: 0o755 }];
  for (let i = 0; i < 20; i++) entries.push({ name: `a/f${i}`, data: textBytes(i * 997, 10 + i) });
  entries.push({ name: "a/text", data: textBytes(2_400_000, 50) });
  entries.push({ name: "a/random", data: randomBytes(1_200_000, 51) });
  entries.push({ name: "a/zeros", data: new Uint8Array(300_000) });
  entries.push({ name: "a/tail", data: textBytes(200_000, 52) });
  return goTar(entries);
}

Deno.test("ztoc build: checkpoints equal the zlib oracle's blob for every gzip kind", async (t) => {
  await withTempDir(async (dir) => {
    const oracle = await compileZinfoOracle(dir);
    const tar = baseTar();
    await Deno.writeFile(`${dir}/layer.tar`, tar);
    const rnd = goTar([{ name: "random", data: randomBytes(3_000_000, 60) }]);
    await Deno.writeFile(`${dir}/random.tar`, rnd);
    // Three pieces cut at odd offsets (not on tar blocks), gzipped separately.
    const cuts = [0, 1_234_567, 1_234_568 + 700_001, tar.length];
    for (let i = 0; i < 3; i++) {
      await Deno.writeFile(`${dir}/part${i}`, tar.subarray(cuts[i], cuts[i + 1]));
    }
    await Deno.writeFile(`${dir}/empty`, new Uint8Array(0));
    const hdr = await pyGzip(`${dir}/py.gz`, `${dir}/layer.tar`, [
      "extra",
      "name",
      "comment",
      "hcrc",
    ]);
    const variants: Array<{ name: string; script: string; tarBytes: Uint8Array; in0?: number }> = [
      { name: "gzip-1", script: "gzip -n -1 -c layer.tar > gzip-1", tarBytes: tar, in0: 10 },
      { name: "gzip-6", script: "gzip -n -6 -c layer.tar > gzip-6", tarBytes: tar, in0: 10 },
      { name: "gzip-9", script: "gzip -n -9 -c layer.tar > gzip-9", tarBytes: tar, in0: 10 },
      // FNAME: gzip stores "layer.tar\0" (10 bytes) after the 10-byte header.
      { name: "gzip-fname", script: "gzip -c layer.tar > gzip-fname", tarBytes: tar, in0: 20 },
      { name: "py-headers", script: "cp py.gz py-headers", tarBytes: tar, in0: hdr },
      { name: "pigz", script: "pigz -n -b 128 -c layer.tar > pigz", tarBytes: tar, in0: 10 },
      {
        name: "members",
        script: "for f in part0 empty part1 part2; do gzip -n -c $f > $f.gz; done; " +
          "cat part0.gz empty.gz part1.gz part2.gz > members",
        tarBytes: tar,
        in0: 10,
      },
      { name: "stored", script: "gzip -n -1 -c random.tar > stored", tarBytes: rnd, in0: 10 },
    ];
    for (const v of variants) await sh(v.script, dir);
    assert.equal(hdr, 10 + 2 + 100 + 10 + 12 + 2, "hand-written header length");
    // gzip -1 of random data is stored blocks: a few bytes per 64 KiB block more than the
    // random payload (Huffman-coded random data would be ~1% larger).
    const storedSize = (await Deno.stat(`${dir}/stored`)).size;
    assert.ok(storedSize > 3_000_000 && storedSize < 3_000_000 + 2000, `${storedSize}`);

    // Where the members' headers end in the concatenation.
    const memberHeaderEnds: number[] = [];
    let base = 0;
    for (const f of ["part0", "empty", "part1", "part2"]) {
      memberHeaderEnds.push(base + 10);
      base += (await Deno.stat(`${dir}/${f}.gz`)).size;
    }
    assert.equal(base, (await Deno.stat(`${dir}/members`)).size);

    const spanSizes = [0, 1000, 65536, 1 << 20, 4 << 20];
    const jobs = variants.flatMap((v) => spanSizes.map((s) => ({ v, s })));
    let nonZeroBits = 0;
    const memberCheckpoints = new Set<number>();
    await t.step(`${jobs.length} layer × span size builds`, async () => {
      await mapLimit(jobs, 3, async ({ v, s }) => {
        const layerPath = `${dir}/${v.name}`;
        const bytes = await cliBuild(dir, layerPath, `${layerPath}.${s}.ztoc`, s);
        await Deno.remove(`${layerPath}.${s}.ztoc`);
        const label = `${v.name} span ${s}`;
        const layer = await Deno.readFile(layerPath);
        const cps = assertGzipZtoc(decodeZtoc(bytes), {
          layer,
          oracle: await zinfoOracle(oracle, s, layerPath),
          spanSize: s,
          tarSize: v.tarBytes.length,
        }, label);
        assert.equal(cps[0].in, v.in0, `${label}: checkpoint 0 is the end of the gzip header`);
        assert.equal(cps[0].out, 0);
        if (s === 0 || s === 1000) assert.ok(cps.length > 20, `${label}: ${cps.length} spans`);
        nonZeroBits += cps.filter((c) => c.bits !== 0).length;
        if (v.name === "members") {
          for (const c of cps) {
            if (memberHeaderEnds.slice(1).includes(c.in)) memberCheckpoints.add(c.in);
          }
        }
      });
    });
    assert.ok(nonZeroBits > 0, "some checkpoints start inside a byte");
    // Checkpoints at the header ends of later members were compared too.
    assert.ok(memberCheckpoints.size > 0, "a later member's header end is a checkpoint");
  });
});

// ---------------------------------------------------------------------------
// Resuming at every checkpoint

Deno.test("ztoc build: inflating from every checkpoint yields the tar's bytes", async (t) => {
  await withTempDir(async (dir) => {
    const tar = baseTar();
    await Deno.writeFile(`${dir}/layer.tar`, tar);
    const cuts = [0, 777_777, 2_500_001, tar.length];
    for (let i = 0; i < 3; i++) {
      await Deno.writeFile(`${dir}/part${i}`, tar.subarray(cuts[i], cuts[i + 1]));
    }
    await Deno.writeFile(`${dir}/empty`, new Uint8Array(0));
    await pyGzip(`${dir}/py-headers`, `${dir}/layer.tar`, ["extra", "comment", "hcrc"], 3000);
    const cases: Array<[string, string, number]> = [
      ["gzip-6", "gzip -n -6 -c layer.tar > gzip-6", 65536],
      ["pigz", "pigz -n -b 128 -c layer.tar > pigz", 0],
      ["members", "for f in part0 empty part1 part2; do gzip -n -c $f; done > members", 1000],
      ["py-headers", "true", 100_000],
      ["gzip-1", "gzip -n -1 -c layer.tar > gzip-1", 200_000],
    ];
    for (const [name, script, spanSize] of cases) {
      await t.step(`${name}, span ${spanSize}`, async () => {
        await sh(script, dir);
        const layer = await Deno.readFile(`${dir}/${name}`);
        const z = decodeZtoc(
          await cliBuild(dir, `${dir}/${name}`, `${dir}/${name}.ztoc`, spanSize),
        );
        const { cps } = parseZinfoBlob(z.checkpoints);
        assert.ok(cps.length > 10, `${cps.length} checkpoints`);
        let crossedMembers = 0;
        for (let i = 0; i < cps.length; i++) {
          const cp = cps[i];
          // The window is the 32 KiB before `out`, zero-padded in front.
          const before = tar.subarray(Math.max(0, cp.out - 32768), cp.out);
          const window = concat([new Uint8Array(32768 - before.length), before]);
          assert.ok(sameBytes(cp.window, window), `window ${i}`);
          // Read past the next checkpoint (into the next span, across members).
          const nextOut = i + 1 < cps.length ? cps[i + 1].out : tar.length;
          const len = Math.min(tar.length - cp.out, nextOut - cp.out + 70_000);
          const start = cp.bits !== 0 ? cp.in - 1 : cp.in;
          // Feed 4 KiB chunks for a few checkpoints, the whole rest for the others.
          const chunked = i % 7 === 0;
          const source = chunked
            ? (function* () {
              for (let at = start; at < layer.length; at += 4096) {
                yield layer.subarray(at, at + 4096);
              }
            })()
            : [layer.subarray(start)];
          const got = await collect(inflateFromCheckpoint(cp, source, 0, len));
          assert.equal(got.length, len, `checkpoint ${i}: length`);
          assert.ok(
            sameBytes(got, tar.subarray(cp.out, cp.out + len)),
            `checkpoint ${i} (in ${cp.in}, out ${cp.out}, bits ${cp.bits}): bytes`,
          );
          if (name === "members" && cps.some((c) => c.out > cp.out && c.out < cp.out + len)) {
            crossedMembers++;
          }
          // And with a skip: a few bytes from the middle of the span.
          const skip = Math.floor((nextOut - cp.out) / 2);
          if (skip > 0 && skip + 10 <= tar.length - cp.out) {
            const mid = await collect(inflateFromCheckpoint(cp, [layer.subarray(start)], skip, 10));
            assert.equal(hex(mid), hex(tar.subarray(cp.out + skip, cp.out + skip + 10)));
          }
        }
        if (name === "members") assert.ok(crossedMembers > 0);
      });
    }
  });
});

// ---------------------------------------------------------------------------
// Sizes, tar layers and determinism

/** The 48-byte TarZinfo of F§5.6 for non-zero span size and size. */
function tarZinfoBytes(spanSize: number, size: number): Uint8Array {
  const b = new Uint8Array(48);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, 20, true); // root table offset
  // vtable at 10: [vtable size 10, table size 28, version +24, span_size +12, size +4]
  [10, 28, 24, 12, 4].forEach((v, i) => dv.setUint16(10 + 2 * i, v, true));
  dv.setInt32(20, 10, true); // table → vtable (20 − 10)
  dv.setBigInt64(24, BigInt(size), true);
  dv.setBigInt64(32, BigInt(spanSize), true);
  dv.setInt32(44, 2, true);
  return b;
}

Deno.test("ztoc build: sizes of Go-like, GNU-padded and marker-less tars; tar layers", async (t) => {
  await withTempDir(async (dir) => {
    const oracle = await compileZinfoOracle(dir);
    await pyTree(`${dir}/tree`);
    await sh(`tar --format=posix -cf ${dir}/gnu.tar -C ${dir}/tree .`);
    await Deno.writeFile(`${dir}/go.tar`, goTar(goEntries()));
    await Deno.writeFile(
      `${dir}/nomarker.tar`,
      goTar(goEntries().slice(0, 6), { endMarker: false }),
    );
    for (const name of ["go", "gnu", "nomarker"]) {
      await t.step(name, async () => {
        const tarPath = `${dir}/${name}.tar`;
        const tar = await Deno.readFile(tarPath);
        const dump = await pyDump(tarPath);
        let expectedEnd: number;
        if (name === "go") {
          expectedEnd = tar.length;
          assert.equal(tarEnd(tar, dump.end), tar.length);
        } else if (name === "gnu") {
          expectedEnd = tarEnd(tar, dump.end);
          assert.equal(tar.length % 10240, 0, "GNU tar pads to its record size");
          assert.ok(expectedEnd < tar.length, "the fixture has record padding");
        } else {
          expectedEnd = tar.length;
          assert.equal(dump.end, tar.length, "no end marker");
        }
        // gzip layer
        await sh(`gzip -n -c ${tarPath} > ${tarPath}.gz`);
        const z = decodeZtoc(await cliBuild(dir, `${tarPath}.gz`, `${tarPath}.gz.ztoc`, SPAN));
        assertGzipZtoc(z, {
          layer: await Deno.readFile(`${tarPath}.gz`),
          oracle: await zinfoOracle(oracle, SPAN, `${tarPath}.gz`),
          spanSize: SPAN,
          tarSize: expectedEnd,
        }, `${name}.tar.gz`);
        assertTocMatches(z.toc, dump, `${name}.tar.gz`);
        // plain tar layer, span size not a multiple of 512
        const span = 100_000;
        const zt = decodeZtoc(await cliBuild(dir, tarPath, `${tarPath}.ztoc`, span));
        assert.equal(zt.compressionAlgorithm, "uncompressed");
        assert.equal(zt.compressedArchiveSize, tar.length);
        assert.equal(zt.uncompressedArchiveSize, expectedEnd);
        assert.equal(zt.maxSpanId, Math.ceil(tar.length / span) - 1);
        assert.deepEqual(zt.spanDigests, tarSpanDigests(tar, span));
        assert.equal(hex(zt.checkpoints), hex(tarZinfoBytes(span, tar.length)));
        assertTocMatches(zt.toc, dump, `${name}.tar`);
      });
    }
    await t.step("a tar whose size is a multiple of the span size", async () => {
      const tar = await Deno.readFile(`${dir}/go.tar`);
      const span = tar.length / 512 % 2 === 0 ? tar.length / 2 : tar.length;
      const zt = decodeZtoc(await cliBuild(dir, `${dir}/go.tar`, `${dir}/m.ztoc`, span));
      assert.equal(zt.maxSpanId, tar.length / span - 1);
      assert.deepEqual(zt.spanDigests, tarSpanDigests(tar, span));
    });
  });
});

Deno.test("ztoc build: building twice gives identical bytes (C§11.1 item 4)", async () => {
  await withTempDir(async (dir) => {
    const small: GoTarEntry[] = [];
    for (let i = 0; i < 30; i++) {
      const data = i % 3 === 0 ? randomBytes(i * 50, i) : textBytes(i * 3000, i);
      small.push({ name: `f${i}`, data });
    }
    small.push({ name: "mixed", data: concat([textBytes(5000, 1), randomBytes(5000, 2)]) });
    await Deno.writeFile(`${dir}/l.tar`, goTar(small));
    await sh(`gzip -n -c l.tar > l.tar.gz`, dir);
    for (const [layer, span] of [["l.tar.gz", 64], ["l.tar", 64], ["l.tar.gz", 65536]] as const) {
      const a = await cliBuild(dir, `${dir}/${layer}`, `${dir}/a.ztoc`, span);
      const b = await cliBuild(dir, `${dir}/${layer}`, `${dir}/b.ztoc`, span);
      assert.ok(sameBytes(a, b), `${layer} span ${span}`);
      const z = decodeZtoc(a);
      assert.equal(z.toc.length, small.length);
      assert.deepEqual(
        z.toc.map((e) => new TextDecoder().decode(e.name)),
        small.map((e) => e.name),
      );
      assert.equal(z.uncompressedArchiveSize, (await Deno.stat(`${dir}/l.tar`)).size);
      if (span === 64 && layer === "l.tar.gz") assert.ok(z.maxSpanId >= 4, `${z.maxSpanId}`);
    }
  });
});
