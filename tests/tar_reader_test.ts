/**
 * Tests of the streaming tar TOC reader (lib/tar/reader.ts) and of
 * formatModTime (lib/tar/mod_time.ts).
 *
 * Archives are made at test time by GNU tar, by Python's tarfile and by a
 * Go-`archive/tar`-like writer; Python's tarfile is the independent oracle
 * for every member field and offset. Every archive is also fed in odd chunk
 * sizes and must give identical results.
 */

import assert from "node:assert/strict";
import { BadInputError } from "../lib/errors.ts";
import { TarReader } from "../lib/tar/reader.ts";
import type { TarEntry } from "../lib/tar/entry.ts";
import { formatModTime } from "../lib/tar/mod_time.ts";
import { goTar } from "./helpers/tar_go_writer.ts";
import {
  type Chunking,
  CHUNKINGS,
  expectedFrom,
  gnuTar,
  hex,
  makeTree,
  nameOf,
  ORACLE,
  oracleDump,
  plain,
  pyMake,
  type ReadResult,
  readTar,
  run,
} from "./helpers/tar_fixtures.ts";

const ENC = new TextEncoder();
const enc = (s: string) => ENC.encode(s);
const txt = (b: Uint8Array) => new TextDecoder().decode(b);

async function withTmp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tar_reader_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Same entries, end and done for every chunking as for the whole stream. */
function checkChunkings(data: Uint8Array, whole: ReadResult, label: string): void {
  const want = whole.entries.map(plain);
  for (const c of CHUNKINGS) {
    if (c === "whole") continue;
    const r = readTar(data, c);
    assert.deepEqual(r.entries.map(plain), want, `${label}: entries with chunking ${c}`);
    assert.equal(r.end, whole.end, `${label}: end with chunking ${c}`);
    assert.equal(r.done, whole.done, `${label}: done with chunking ${c}`);
  }
}

/**
 * Reads `path` whole and compares every member with Python's tarfile, then
 * checks the end position: right after the two zero blocks that follow the
 * last member (where Python stopped).
 */
async function checkAgainstOracle(path: string): Promise<{ data: Uint8Array; r: ReadResult }> {
  const data = await Deno.readFile(path);
  const oracle = await oracleDump(path);
  const r = readTar(data);
  assert.equal(r.entries.length, oracle.members.length, `${path}: entry count`);
  r.entries.forEach((e, i) => {
    assert.deepEqual(
      plain(e),
      expectedFrom(oracle.members[i], e),
      `${path}: entry ${i} ${nameOf(e)}`,
    );
  });
  const marker = data.subarray(oracle.next_header, oracle.next_header + 1024);
  assert.equal(marker.length, 1024);
  assert.ok(marker.every((c) => c === 0), `${path}: end-of-archive marker`);
  assert.equal(r.end, oracle.next_header + 1024, `${path}: end position`);
  assert.ok(r.done, `${path}: done`);
  checkChunkings(data, r, path);
  return { data, r };
}

function find(r: ReadResult, pred: (name: string, e: TarEntry) => boolean): TarEntry {
  const e = r.entries.find((e) => pred(nameOf(e), e));
  assert.ok(e, "expected entry not found");
  return e;
}

/** The header block of a non-sparse entry is the 512 bytes before its data. */
function headerOf(data: Uint8Array, e: TarEntry): Uint8Array {
  return data.subarray(e.offset - 512, e.offset);
}

Deno.test("GNU tar gnu/posix/ustar/v7 archives match Python's tarfile", async () => {
  await withTmp(async (dir) => {
    await makeTree(`${dir}/full`, "full");
    await makeTree(`${dir}/ustar`, "ustar");
    await makeTree(`${dir}/basic`, "basic");
    await Deno.remove(`${dir}/basic/fifo`); // V7 cannot store fifos
    const cases: Array<[string, string, string[]]> = [
      ["gnu", "full", ["--sparse", "--owner=big:3000000", "--group=grp:4000000"]],
      ["posix", "full", ["--sparse"]],
      ["ustar", "ustar", []],
      ["v7", "basic", []],
    ];
    const results: Record<string, { data: Uint8Array; r: ReadResult }> = {};
    for (const [format, tree, extra] of cases) {
      const out = `${dir}/${format}.tar`;
      await gnuTar(format, `${dir}/${tree}`, out, extra);
      const res = await checkAgainstOracle(out);
      results[format] = res;
      // GNU tar pads to 10240-byte records: the end is not the file size.
      assert.equal(res.data.length % 10240, 0);
      assert.ok(res.r.end <= res.data.length);
      // GNU tar stores directory names with a trailing slash; Go keeps it.
      for (const e of res.r.entries.filter((e) => e.typeflag === "5")) {
        assert.ok(nameOf(e).endsWith("/"), `${format}: ${nameOf(e)}`);
      }
    }
    assert.ok(results.ustar.r.end < results.ustar.data.length);

    const gnu = results.gnu;
    // Names over 255 bytes (GNU 'L' long name) and long link targets ('K').
    const over255 = find(gnu.r, (n) => n.length > 255 && n.endsWith("/file"));
    assert.ok(over255.offset - over255.headerOffset >= 1536);
    assert.equal(nameOf(find(gnu.r, (n) => n === "./longsym")).length, 9);
    assert.equal(find(gnu.r, (n) => n === "./longsym").linkname.length, 200);
    // The hard link pair (order depends on the directory listing).
    find(gnu.r, (_, e) => e.typeflag === "1" && (e.linkname.length > 255 || e.name.length > 255));
    // uid 3000000 does not fit 7 octal digits: GNU tar wrote base-256.
    const size1 = find(gnu.r, (n) => n === "./dir/size1");
    assert.equal(size1.uid, 3000000);
    assert.equal(size1.gid, 4000000);
    assert.ok((headerOf(gnu.data, size1)[108] & 0x80) !== 0);
    // Old GNU sparse 'S' entry with extension headers: the data offset is
    // after the extension blocks, size is the logical size.
    const sparse = find(gnu.r, (n) => n === "./sparse");
    assert.equal(sparse.typeflag, "S");
    assert.equal(sparse.size, 60 * 65536 + 4096);
    assert.ok(sparse.offset - sparse.headerOffset > 512);
    // Character and block devices (only created when running as root).
    if (Deno.uid() === 0) {
      const c = find(gnu.r, (n) => n === "./chardev");
      assert.deepEqual([c.typeflag, c.devmajor, c.devminor], ["3", 4, 5]);
      const b = find(gnu.r, (n) => n === "./blockdev");
      assert.deepEqual([b.typeflag, b.devmajor, b.devminor], ["4", 7, 9]);
    }
    // Non-UTF-8 name bytes are kept raw.
    find(gnu.r, (_, e) => hex(e.name) === hex(enc("./caf")) + "e92dff2e62696e");

    const posix = results.posix;
    const nano = find(posix.r, (n) => n === "./nanotime");
    assert.deepEqual([nano.mtimeSeconds, nano.mtimeNanos], [1700000000, 123456789]);
    assert.ok(find(posix.r, (n) => n.length > 255).pax.length > 0);

    // V7: regular files carry the legacy '\0' typeflag, reported as '0';
    // no user/group names.
    const v7 = results.v7;
    const v7file = find(v7.r, (n) => n === "./dir/size513");
    assert.equal(headerOf(v7.data, v7file)[156], 0);
    assert.equal(v7file.typeflag, "0");
    assert.equal(v7file.uname.length, 0);

    // USTAR: a 150-byte path is split into prefix + name.
    const split = find(results.ustar.r, (n) => n.length > 100 && !n.endsWith("/"));
    assert.notEqual(headerOf(results.ustar.data, split)[345], 0);
  });
});

Deno.test("GNU tar PAX sparse 0.0, 0.1 and 1.0 archives match Python's tarfile", async () => {
  await withTmp(async (dir) => {
    await makeTree(`${dir}/full`, "full");
    for (const version of ["0.0", "0.1", "1.0"]) {
      const out = `${dir}/sparse-${version}.tar`;
      await run("tar", [
        "--format=posix",
        "--sparse",
        `--sparse-version=${version}`,
        "-cf",
        out,
        "-C",
        `${dir}/full`,
        "sparse",
        "nanotime",
      ]);
      const { r } = await checkAgainstOracle(out);
      const sparse = find(r, (n) => n === "sparse");
      assert.equal(sparse.size, 60 * 65536 + 4096);
      assert.equal(sparse.typeflag, "0");
      if (version === "1.0") {
        // x header + records + header + a map of 60 fragments (two blocks).
        assert.ok(sparse.offset - sparse.headerOffset >= 2560);
      }
    }
  });
});

Deno.test("Python tarfile GNU and PAX archives match Python's tarfile", async () => {
  await withTmp(async (dir) => {
    for (const format of ["gnu", "pax"] as const) {
      const out = `${dir}/${format}.tar`;
      await pyMake(format, out);
      const { r } = await checkAgainstOracle(out);
      // A hard link with a size field of 700: no data follows its header.
      const sized = find(r, (n) => n === "hard-sized");
      assert.equal(sized.size, 700);
      const next = r.entries[r.entries.indexOf(sized) + 1];
      assert.equal(next.headerOffset, sized.offset);
      const old = find(r, (n) => n === "oldtime");
      assert.equal(old.mtimeSeconds, -1000);
      const big = find(r, (n) => n === "bigid");
      assert.deepEqual([big.uid, big.gid], [3000000, 2 ** 33 + 5]);
      const chr = find(r, (n) => n === "chardev");
      assert.deepEqual([chr.typeflag, chr.devmajor, chr.devminor], ["3", 1, 3]);
      const blk = find(r, (n) => n === "blockdev");
      assert.deepEqual([blk.typeflag, blk.devmajor, blk.devminor], ["4", 8, 1]);
      assert.equal(find(r, (n) => n === "fifo").typeflag, "6");
      assert.equal(find(r, (n) => n === "link-long").linkname.length, 150);
      find(r, (_, e) => hex(e.name) === hex(enc("caf")) + "e92dff2e747874");
      if (format === "gnu") {
        // base-256 fields (uid, negative mtime)
        assert.equal(r.entries.filter((e) => e.pax.length > 0).length, 0);
      } else {
        const frac = find(r, (n) => n === "frac");
        assert.deepEqual([frac.mtimeSeconds, frac.mtimeNanos], [1700000000, 250000000]);
        const x = find(r, (n) => n === "xattrs");
        const recs = new Map(x.pax.map(([k, v]) => [new TextDecoder().decode(k), hex(v)]));
        assert.equal(recs.get("SCHILY.xattr.user.comment"), hex(enc("hello")));
        assert.equal(recs.get("SCHILY.xattr.security.capability"), "01000002ff");
      }
    }
  });
});

Deno.test("Go-like writer archive: exact offsets, PAX records and end = file size", async () => {
  const longName = "n".repeat(150); // no slash: cannot be split, needs PAX
  const tar = goTar([
    { name: "a.txt", data: enc("hello"), uid: 1000, gid: 1001, uname: "u", gname: "g" },
    { name: "dir/", typeflag: "5", mode: 0o755 },
    { name: "hl", typeflag: "1", linkname: "a.txt", size: 1000 },
    { name: longName, data: enc("abc") },
    { name: "frac", mtime: 1700000000, mtimeNanos: 500000000 },
    { name: "s511", data: new Uint8Array(511).fill(1) },
    { name: "s512", data: new Uint8Array(512).fill(2) },
    { name: "s513", data: new Uint8Array(513).fill(3) },
    { name: "sym", typeflag: "2", linkname: "l".repeat(120) },
    { name: "cdev", typeflag: "3", devmajor: 1, devminor: 5 },
    { name: "bdev", typeflag: "4", devmajor: 259, devminor: 0 },
    { name: "fifo", typeflag: "6" },
    { name: "xattr", pax: [["SCHILY.xattr.user.k", "v"]] },
    { name: new Uint8Array([0x66, 0xff, 0xfe]), data: enc("raw") },
  ]);
  // Layout computed by hand from the writer rules (512-byte blocks):
  //   a.txt hdr 0, data 512 (5 bytes) | dir/ hdr 1024 | hl hdr 1536 (no data)
  //   long: x 2048, records 2560, hdr 3072, data 3584 | frac: x 4096, rec 4608, hdr 5120
  //   s511 hdr 5632, data 6144 | s512 hdr 6656, data 7168 | s513 hdr 7680, data 8192..9216
  //   sym: x 9216, rec 9728, hdr 10240 | cdev 10752 | bdev 11264 | fifo 11776
  //   xattr: x 12288, rec 12800, hdr 13312 | raw name: x 13824, rec 14336, hdr 14848, data 15360
  //   end marker 15872..16896
  const want: Array<[string, string, number, number, number]> = [
    ["a.txt", "0", 0, 512, 5],
    ["dir/", "5", 1024, 1536, 0],
    ["hl", "1", 1536, 2048, 1000],
    [longName, "0", 2048, 3584, 3],
    ["frac", "0", 4096, 5632, 0],
    ["s511", "0", 5632, 6144, 511],
    ["s512", "0", 6656, 7168, 512],
    ["s513", "0", 7680, 8192, 513],
    ["sym", "2", 9216, 10752, 0],
    ["cdev", "3", 10752, 11264, 0],
    ["bdev", "4", 11264, 11776, 0],
    ["fifo", "6", 11776, 12288, 0],
    ["xattr", "0", 12288, 13824, 0],
    ["f\ufffd\ufffd", "0", 13824, 15360, 3],
  ];
  assert.equal(tar.length, 16896);
  const r = readTar(tar);
  assert.deepEqual(
    r.entries.map((e) => [nameOf(e), e.typeflag, e.headerOffset, e.offset, e.size]),
    want,
  );
  assert.equal(r.end, tar.length); // Go writer: two zero blocks, no record padding
  assert.ok(r.done);
  const [a, , hl, long, frac, , , , sym, cdev, bdev, , xattr, raw] = r.entries;
  assert.deepEqual(
    [a.uid, a.gid, txt(a.uname), txt(a.gname), a.mode],
    [1000, 1001, "u", "g", 0o644],
  );
  assert.equal(txt(hl.linkname), "a.txt");
  assert.deepEqual(long.pax.map(([k, v]) => [hex(k), hex(v)]), [[
    hex(enc("path")),
    hex(enc(longName)),
  ]]);
  assert.deepEqual([frac.mtimeSeconds, frac.mtimeNanos], [1700000000, 500000000]);
  assert.deepEqual(frac.pax.map(([k, v]) => [hex(k), hex(v)]), [[
    hex(enc("mtime")),
    hex(enc("1700000000.5")),
  ]]);
  assert.equal(sym.linkname.length, 120);
  assert.deepEqual([cdev.devmajor, cdev.devminor, bdev.devmajor, bdev.devminor], [1, 5, 259, 0]);
  assert.deepEqual(xattr.pax.map(([k, v]) => [hex(k), hex(v)]), [[
    hex(enc("SCHILY.xattr.user.k")),
    "76",
  ]]);
  assert.equal(hex(raw.name), "66fffe");
  checkChunkings(tar, r, "go writer");

  // And Python agrees on every field.
  await withTmp(async (dir) => {
    await Deno.writeFile(`${dir}/go.tar`, tar);
    await checkAgainstOracle(`${dir}/go.tar`);
  });
});

Deno.test("PAX global header is reported as a 'g' entry and not merged", () => {
  const tar = goTar([
    { name: "", typeflag: "g", pax: [["comment", "hi"], ["path", "gpath"]] },
    { name: "f", data: enc("x") },
  ]);
  // g header 0, records 512 ("14 comment=hi\n" + "14 path=gpath\n" = 28 bytes),
  // f header 1024, data 1536, end marker 2048..3072.
  const r = readTar(tar);
  assert.equal(r.entries.length, 2);
  const [g, f] = r.entries;
  assert.deepEqual(
    [nameOf(g), g.typeflag, g.headerOffset, g.offset, g.size],
    ["gpath", "g", 0, 512, 28],
  );
  assert.deepEqual(
    g.pax.map(([k, v]) => [txt(k), txt(v)]),
    [["comment", "hi"], ["path", "gpath"]],
  );
  assert.deepEqual([nameOf(f), f.headerOffset, f.offset, f.pax.length], ["f", 1024, 1536, 0]);
  assert.equal(r.end, 3072);
  checkChunkings(tar, r, "global header");
});

Deno.test("legacy '\\0' typeflag maps to '0', or '5' with a trailing slash", () => {
  const tar = goTar([
    { name: "old", rawTypeflag: 0, data: enc("12") },
    { name: "olddir/", rawTypeflag: 0, mode: 0o755 },
    { name: "after", data: enc("z") },
  ]);
  const r = readTar(tar);
  assert.deepEqual(
    r.entries.map((e) => [nameOf(e), e.typeflag, e.headerOffset, e.offset]),
    [["old", "0", 0, 512], ["olddir/", "5", 1024, 1536], ["after", "0", 1536, 2048]],
  );
});

/** Recomputes the checksum of the header block at `at` after it was edited. */
function fixChecksum(tar: Uint8Array, at: number): void {
  tar.fill(0x20, at + 148, at + 156);
  let sum = 0;
  for (let i = at; i < at + 512; i++) sum += tar[i];
  tar.set(enc(sum.toString(8).padStart(6, "0") + "\0 "), at + 148);
}

Deno.test("V7 headers have no uname/gname/devices/prefix; STAR prefix; GNU prefix fallback", () => {
  const tar = goTar([
    { name: "v7file", v7: true, data: enc("v7"), uid: 5 },
    { name: "starfile", data: enc("s") },
    { name: "gnufile", data: enc("g") },
  ]);
  // V7: put text where USTAR keeps uname/gname/devmajor/prefix; V7 ignores it.
  tar.set(enc("someone"), 265);
  tar.set(enc("0000007"), 329);
  tar.set(enc("pfx"), 345);
  fixChecksum(tar, 0);
  // STAR: "tar\0" trailer, 131-byte prefix, atime/ctime fields after it.
  tar.set(enc("stardir"), 1024 + 345);
  tar.set(enc("00000000001\0"), 1024 + 476);
  tar.set(enc("tar\0"), 1024 + 508);
  fixChecksum(tar, 1024);
  // GNU magic whose atime/ctime fields hold non-octal text (pre-Go1.8
  // writers put a prefix there): Go uses it as the prefix.
  tar.set(enc("ustar  \0"), 2048 + 257);
  tar.set(enc("gnudir"), 2048 + 345);
  fixChecksum(tar, 2048);
  const r = readTar(tar);
  const [v7, star, gnu] = r.entries;
  assert.deepEqual(
    [nameOf(v7), v7.uname.length, v7.devmajor, v7.uid, v7.size],
    ["v7file", 0, 0, 5, 2],
  );
  assert.equal(nameOf(star), "stardir/starfile");
  assert.equal(nameOf(gnu), "gnudir/gnufile");
  checkChunkings(tar, r, "v7/star/gnu");
});

Deno.test("end of stream: missing marker, single zero block, padding, trailing bytes", () => {
  const body = goTar([{ name: "a", data: enc("hello") }, { name: "b", data: enc("x") }], {
    endMarker: false,
  });
  assert.equal(body.length, 2048);
  for (const c of CHUNKINGS) {
    // No end marker at all: the end is the real end of the stream.
    let r = readTar(body, c);
    assert.deepEqual([r.entries.length, r.end, r.done], [2, 2048, false]);
    // A single zero block then EOF: clean, end of stream.
    const one = new Uint8Array(2560);
    one.set(body);
    r = readTar(one, c);
    assert.deepEqual([r.entries.length, r.end, r.done], [2, 2560, false]);
    // EOF inside the padding after the last data is a clean end in Go.
    r = readTar(body.subarray(0, 1536 + 1 + 100), c);
    assert.deepEqual([r.entries.length, r.end], [2, 1637]);
    // EOF right after the data without padding, too.
    r = readTar(body.subarray(0, 1537), c);
    assert.deepEqual([r.entries.length, r.end], [2, 1537]);
  }
  // Bytes after the end marker are neither read nor counted.
  const full = goTar([{ name: "a", data: enc("hello") }]);
  const reader = new TarReader(() => {});
  const withJunk = new Uint8Array(full.length + 700).fill(0x41);
  withJunk.set(full);
  reader.push(withJunk.subarray(0, 600));
  reader.push(withJunk.subarray(600));
  assert.ok(reader.done);
  assert.equal(reader.position, full.length);
  reader.push(enc("more junk"));
  assert.equal(reader.end(), full.length);
});

/** Reads `data` with `chunking`, expecting a BadInputError; returns its message. */
function readError(data: Uint8Array, chunking: Chunking): string {
  try {
    readTar(data, chunking);
  } catch (e) {
    assert.ok(e instanceof BadInputError, `not a BadInputError: ${e}`);
    assert.ok(!e.message.includes("\n"), "message must be one line");
    return e.message;
  }
  assert.fail(`no error with chunking ${chunking}`);
}

function expectError(data: Uint8Array, pattern: RegExp): void {
  const first = readError(data, "whole");
  assert.match(first, pattern);
  for (const c of CHUNKINGS) assert.equal(readError(data, c), first, `chunking ${c}`);
}

Deno.test("errors: bad checksum, truncation, zero block then garbage, malformed PAX", () => {
  const two = goTar([{ name: "a", data: enc("hello") }, {
    name: "big",
    data: new Uint8Array(2000),
  }]);
  // a: hdr 0, data 512 | big: hdr 1024, data 1536..3536 (+ pad to 3584)

  const badSum = two.slice();
  badSum[1024] ^= 0x01; // flip a bit of big's name
  expectError(badSum, /^archive\/tar: invalid tar header at offset 1024: checksum mismatch/);

  expectError(
    two.subarray(0, 1024 + 100),
    /^unexpected EOF at offset 1124: stream ends inside a header block \(100 of 512 bytes\)$/,
  );
  expectError(
    two.subarray(0, 1536 + 1000),
    /^unexpected EOF at offset 2536: stream ends 1000 bytes before the end of the data of "big"$/,
  );

  const zeroThenHeader = new Uint8Array(512 + two.length);
  zeroThenHeader.set(two, 512);
  expectError(
    zeroThenHeader,
    /^archive\/tar: invalid tar header at offset 512: non-zero block after a zero block$/,
  );

  // PAX records: x header at 0, records at 512: "25 SCHILY.xattr.user.a=1\n".
  const pax = goTar([{ name: "p", pax: [["SCHILY.xattr.user.a", "1"]] }]);
  assert.equal(txt(pax.subarray(512, 512 + 25)), "25 SCHILY.xattr.user.a=1\n");
  const badLen = pax.slice();
  badLen[512] = "x".charCodeAt(0);
  expectError(
    badLen,
    /^archive\/tar: invalid tar header at offset 0: malformed PAX record at byte 0 .*: bad record length$/,
  );
  const noNewline = pax.slice();
  noNewline[512 + 24] = 0x20;
  expectError(
    noNewline,
    /^archive\/tar: invalid tar header at offset 0: .*does not end with a newline$/,
  );
  const noEquals = pax.slice();
  noEquals[512 + 22] = 0x2e; // '=' -> '.'
  expectError(noEquals, /^archive\/tar: invalid tar header at offset 0: .*no '=' in record$/);
  const nulInKey = pax.slice();
  nulInKey[512 + 4] = 0;
  expectError(nulInKey, /^archive\/tar: invalid tar header at offset 0: .*NUL byte in key$/);

  // Truncated inside the PAX records.
  expectError(pax.subarray(0, 512 + 10), /^unexpected EOF at offset 522: .*'x' meta header/);
});

Deno.test("errors: malformed fields Go rejects", () => {
  const base = () => goTar([{ name: "f", data: enc("data") }]);
  // Non-octal size field.
  let t = base();
  t.set(enc("0000000000x\0"), 124);
  fixChecksum(t, 0);
  expectError(t, /^archive\/tar: invalid tar header at offset 0: malformed size field$/);
  // Negative base-256 size of a regular file.
  t = base();
  t.set(new Uint8Array(12).fill(0xff), 124);
  fixChecksum(t, 0);
  expectError(t, /^archive\/tar: invalid tar header at offset 0: negative size -1$/);
  // ...but a header-only type with a negative size is fine (its size is not used).
  t = goTar([{ name: "d/", typeflag: "5" }, { name: "f", data: enc("x") }]);
  t.set(new Uint8Array(12).fill(0xff), 124);
  fixChecksum(t, 0);
  const r = readTar(t);
  assert.deepEqual(r.entries.map((e) => [nameOf(e), e.size, e.offset]), [["d/", -1, 512], [
    "f",
    1,
    1024,
  ]]);
  // base-256 overflow (more than 63 bits).
  t = base();
  t.set([0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 136);
  fixChecksum(t, 0);
  expectError(t, /^archive\/tar: invalid tar header at offset 0: malformed mtime field$/);
  // A PAX uid that is not a number.
  t = goTar([{ name: "f", uid: 9999999 }]);
  const recs = new TextDecoder().decode(t.subarray(512, 1024));
  const i = recs.indexOf("uid=9");
  t[512 + i + 4] = 0x41;
  expectError(
    t,
    /^archive\/tar: invalid tar header at offset 0: PAX uid record is not a decimal integer$/,
  );
  // A meta header over 1 MiB.
  t = goTar([{ name: "f", pax: [["k", "v".repeat(1 << 20)]] }]);
  expectError(t, /^archive\/tar: header field too long at offset 0: 'x' meta header of \d+ bytes/);
});

Deno.test("checksums: the signed-byte sum is accepted too", () => {
  const t = goTar([{ name: "caf-x", data: enc("1") }]);
  t[3] = 0xe9; // name byte >= 0x80: signed and unsigned sums differ
  t.fill(0x20, 148, 156);
  let signed = 0;
  for (let i = 0; i < 512; i++) signed += (t[i] << 24) >> 24;
  t.set(enc(signed.toString(8).padStart(6, "0") + "\0 "), 148);
  const r = readTar(t);
  assert.equal(hex(r.entries[0].name), hex(enc("caf")) + "e9" + hex(enc("x")));
  t[149] ^= 1; // neither sum now
  expectError(t, /^archive\/tar: invalid tar header at offset 0: checksum mismatch/);
});

Deno.test("errors: a GNU sparse 1.0 map that runs past the entry data", () => {
  const t = goTar([{
    name: "sp",
    data: enc("3\n"),
    pax: [["GNU.sparse.major", "1"], ["GNU.sparse.minor", "0"], ["GNU.sparse.realsize", "9"]],
  }]);
  expectError(
    t,
    /^unexpected EOF at offset \d+: GNU sparse 1.0 map of "sp" runs past the entry data$/,
  );
  // The same map, complete within one block of data, is read.
  const block = new Uint8Array(512);
  block.set(enc("1\n0\n9\n"));
  const data = new Uint8Array(521);
  data.set(block);
  data.set(enc("123456789"), 512);
  const ok = goTar([{
    name: "sp",
    data,
    pax: [["GNU.sparse.major", "1"], ["GNU.sparse.minor", "0"], ["GNU.sparse.realsize", "9"]],
  }]);
  // x header 0, records 512, header 1024, map block 1536, fragment 2048..2057
  const r = readTar(ok);
  assert.deepEqual(r.entries.map((e) => [nameOf(e), e.headerOffset, e.offset, e.size]), [
    ["sp", 0, 2048, 9],
  ]);
  assert.equal(r.end, ok.length);
  checkChunkings(ok, r, "sparse 1.0");
});

Deno.test("errors are sticky and the callback's errors propagate", () => {
  const tar = goTar([{ name: "a", data: enc("x") }]);
  const bad = tar.slice();
  bad[0] ^= 1;
  const reader = new TarReader(() => {});
  assert.throws(() => reader.push(bad), BadInputError);
  assert.throws(() => reader.push(tar), /checksum mismatch/);
  assert.throws(() => reader.end(), /checksum mismatch/);

  const failing = new TarReader(() => {
    throw new RangeError("stop");
  });
  assert.throws(() => failing.push(tar), RangeError);
  assert.throws(() => failing.end(), RangeError);
});

Deno.test("formatModTime matches Python datetime and date -u", async () => {
  const cases: Array<[number, number]> = [
    [0, 0],
    [1700000000, 500000000],
    [1700000000, 123456789],
    [1700000000, 1],
    [1700000000, 100000000],
    [-1, 500000000],
    [-86401, 0],
    [951782400, 0], // 2000-02-29
    [4107542400, 0], // 2100-03-01
    [-2208988800, 0], // 1900-01-01
    [-62135596800, 0], // Go zero time
    [253402300799, 999999999], // last second of 9999
    [10000000000, 42],
    [-12219292800, 0], // 1582-10-15
  ];
  const args = cases.flatMap(([s, n]) => [String(s), String(n)]);
  const py = new TextDecoder().decode(await run("python3", [ORACLE, "modtime", ...args]))
    .trim().split("\n");
  cases.forEach(([s, n], i) => assert.equal(formatModTime(s, n), py[i], `${s} ${n}`));

  // Year 0 is outside Python's datetime range; GNU date renders it.
  for (const s of [-62167219200, -62135596801, -62000000000]) {
    const text = new TextDecoder().decode(
      await run("date", ["-u", "-d", `@${s}`, "+%04Y-%m-%dT%H:%M:%S"]),
    ).trim();
    assert.equal(formatModTime(s, 0), text + "Z");
  }
  assert.equal(formatModTime(-62167219201, 0), ""); // year -1
  assert.equal(formatModTime(253402300800, 0), ""); // year 10000
  assert.equal(formatModTime(1e300, 0), "");
  assert.equal(formatModTime(1700000000, 1500000000), "2023-11-14T22:13:21.5Z"); // normalised
});
