/**
 * Fuzz targets for the parsers that read what strangers made (see
 * `fuzz.ts`): the tar reader, the gzip engine (checkpointing inflate and
 * resume), the zinfo codecs and the zTOC decoder. Each case mutates a
 * valid input and accepts only a typed error of ours or a result it can
 * check:
 *
 * * tar: the same entries (or the same error) whatever the chunking, sane
 *   offsets, and a lossless trip through the zTOC codec;
 * * gzip: the output of `node:zlib` for the same bytes, and resuming at
 *   each checkpoint reproduces the output from there;
 * * zinfo: re-encoding gives the same blob, `spanOf` agrees with upstream's
 *   linear scan;
 * * zTOC: decode → encode → decode is stable, `ztoc info` works, and
 *   extracting a file through a mutated zTOC of a real layer gives exactly
 *   the layer's bytes at the offset the zTOC claims, or an error.
 *
 * @module
 */
import assert from "node:assert/strict";
import { gunzipSync, gzipSync } from "node:zlib";
import { SociError } from "../../lib/errors.ts";
import type { Checkpoint } from "../../lib/gzip/checkpoint.ts";
import { CheckpointInflater } from "../../lib/gzip/inflater.ts";
import { inflateFromCheckpoint } from "../../lib/gzip/resume.ts";
import { decodeTarZinfo, encodeTarZinfo } from "../../lib/gzip/tar_zinfo.ts";
import {
  decodeGzipZinfo,
  encodeGzipZinfo,
  PACKED_CHECKPOINT_SIZE,
  ZINFO_HEADER_SIZE,
} from "../../lib/gzip/zinfo.ts";
import type { TarEntry } from "../../lib/tar/entry.ts";
import { TarReader, type TarReaderLimits } from "../../lib/tar/reader.ts";
import { buildZtoc, fileMetadata } from "../../lib/ztoc/builder.ts";
import { decodeZtoc, encodeZtoc } from "../../lib/ztoc/codec.ts";
import { extractFile, type RangeReader } from "../../lib/ztoc/extract.ts";
import { ztocInfo, ztocInfoJsonChunks, ztocInfoTableChunks } from "../../lib/ztoc/info.ts";
import type { FileMetadata, Ztoc } from "../../lib/ztoc/model.ts";
import { scanLayer } from "../../lib/ztoc/scan.ts";
import { gzipZinfo, tarZinfo, validateZtoc, zinfoOf } from "../../lib/ztoc/spans.ts";
import { ZtocView } from "../../lib/ztoc/ztoc_view.ts";
import type { FuzzOutcome, FuzzTarget } from "./fuzz.ts";
import { below, cat, mutate, pick, randomChunks } from "./mutate.ts";
import { goTar, type GoTarEntry } from "./tar_go_writer.ts";
import { encodeZtocWithBuilder } from "./ztoc_builder_oracle.ts";
import { exec, randomBytes, textBytes } from "./ztoc_e2e_tools.ts";
import { ustarHeader } from "./hostile_layers.ts";

const ENC = new TextEncoder();

/** How many times each kind of check ran (reported by the runner). */
type Counters = Record<string, number>;

function count(c: Counters, key: string): void {
  c[key] = (c[key] ?? 0) + 1;
}

/** Runs `fn`; a SociError becomes `"error"`, anything else is rethrown. */
function typed<T>(fn: () => T): T | "error" {
  try {
    return fn();
  } catch (e) {
    if (e instanceof SociError) return "error";
    throw e;
  }
}

/** Async {@link typed}. */
async function typedAsync<T>(fn: () => Promise<T>): Promise<T | "error"> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof SociError) return "error";
    throw e;
  }
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function hex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += b[i].toString(16).padStart(2, "0");
  return s;
}

// ---------------------------------------------------------------------------
// tar

interface TarCtx {
  corpus: Uint8Array[];
  counters: Counters;
}

/** A GNU-format header (magic `ustar  \0`) of typeflag `flag` and `size`. */
function gnuHeader(name: string, size: number, flag: string): Uint8Array {
  const b = ustarHeader(name.slice(0, 100), size, flag);
  b.set(ENC.encode("ustar  \0"), 257);
  b.fill(0, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : b[i];
  b.set(ENC.encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
  return b;
}

function padTo512(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(b.length / 512) * 512);
  out.set(b);
  return out;
}

async function gnuTarArchives(): Promise<Uint8Array[]> {
  const dir = await Deno.makeTempDir({ prefix: "fuzz_tar_" });
  try {
    await Deno.mkdir(`${dir}/t/sub`, { recursive: true });
    await Deno.writeFile(`${dir}/t/a.txt`, ENC.encode("hello tar\n"));
    await Deno.writeFile(`${dir}/t/sub/${"n".repeat(120)}`, textBytes(700, 3));
    await Deno.symlink("a.txt", `${dir}/t/link`);
    // A sparse file: two small data fragments in 40 KiB.
    const f = await Deno.open(`${dir}/t/sparse`, { create: true, write: true });
    await f.truncate(40960);
    await f.seek(8192, Deno.SeekMode.Start);
    await f.write(ENC.encode("data in the middle"));
    await f.seek(40000, Deno.SeekMode.Start);
    await f.write(ENC.encode("end"));
    f.close();
    const out: Uint8Array[] = [];
    const runs: string[][] = [
      ["--format=gnu", "--sparse"],
      ["--format=posix", "--sparse", "--sparse-version=0.0"],
      ["--format=posix", "--sparse", "--sparse-version=0.1"],
      ["--format=posix", "--sparse", "--sparse-version=1.0"],
      ["--format=posix"],
      ["--format=v7"],
    ];
    for (const [i, flags] of runs.entries()) {
      const path = `${dir}/x${i}.tar`;
      const r = await exec("tar", [...flags, "-b", "1", "-cf", path, "-C", `${dir}/t`, "."]);
      if (r.code !== 0 && !flags.includes("--format=v7")) {
        throw new Error(`tar ${flags.join(" ")}: ${r.stderr}`);
      }
      if (r.code === 0) out.push(await Deno.readFile(path));
    }
    return out;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function tarCorpus(): Promise<Uint8Array[]> {
  const files: GoTarEntry[] = [
    { name: "etc/", typeflag: "5" },
    { name: "etc/hosts", data: ENC.encode("127.0.0.1 localhost\n") },
    { name: "etc/link", typeflag: "2", linkname: "hosts" },
    { name: "etc/hard", typeflag: "1", linkname: "etc/hosts" },
    { name: "dev/null", typeflag: "3", devmajor: 1, devminor: 3 },
    { name: "fifo", typeflag: "6" },
    { name: "d".repeat(150) + "/long", data: textBytes(1500, 1) },
    {
      name: "x",
      data: randomBytes(600, 2),
      mtimeNanos: 5,
      uid: 3000000,
      pax: [["SCHILY.xattr.user.k", "v"], ["SCHILY.xattr.security.capability", "\u0001\u0002"]],
    },
    { name: "legacy", rawTypeflag: 0, data: ENC.encode("old") },
    { name: "v7", v7: true, data: ENC.encode("v7 data") },
  ];
  const longName = ENC.encode("L".repeat(300) + "\0");
  const gnuLong = cat(
    gnuHeader("././@LongLink", longName.length, "L"),
    padTo512(longName),
    gnuHeader("short", 5, "0"),
    padTo512(ENC.encode("12345")),
    gnuHeader("././@LongLink", 200, "K"),
    padTo512(ENC.encode("K".repeat(200))),
    gnuHeader("sym", 0, "2"),
    new Uint8Array(1024),
  );
  return [
    goTar(files),
    goTar([{ name: "g", typeflag: "g", pax: [["comment", "global"]] }, ...files.slice(0, 3)]),
    goTar(files.slice(0, 2), { endMarker: false }),
    gnuLong,
    ...await gnuTarArchives(),
  ];
}

interface TarRead {
  entries: TarEntry[];
  end: number;
}

function readTar(chunks: Uint8Array[], limits: TarReaderLimits): TarRead | SociError {
  const entries: TarEntry[] = [];
  const reader = new TarReader((e) => entries.push(e), limits);
  try {
    for (const c of chunks) {
      // A fresh copy, overwritten after the call: the reader must not keep it.
      const copy = c.slice();
      reader.push(copy);
      copy.fill(0xa5);
    }
    return { entries, end: reader.end() };
  } catch (e) {
    if (e instanceof SociError) return e;
    throw e;
  }
}

function plainEntry(e: TarEntry): unknown {
  return [
    hex(e.name),
    e.typeflag,
    e.headerOffset,
    e.offset,
    e.size,
    hex(e.linkname),
    e.mode,
    e.uid,
    e.gid,
    hex(e.uname),
    hex(e.gname),
    e.mtimeSeconds,
    e.mtimeNanos,
    e.devmajor,
    e.devminor,
    e.pax.map(([k, v]) => hex(k) + "=" + hex(v)),
  ];
}

function plainMeta(m: FileMetadata): unknown {
  const recs = new Map<string, string>();
  for (const [k, v] of m.xattrs) recs.set(hex(k), hex(v));
  return [
    hex(m.name),
    m.type,
    m.uncompressedOffset,
    m.uncompressedSize,
    hex(m.linkname),
    m.mode,
    m.uid,
    m.gid,
    hex(m.uname),
    hex(m.gname),
    m.modTime,
    m.devmajor,
    m.devminor,
    [...recs].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)),
  ];
}

const tar: FuzzTarget<TarCtx> = {
  async setup() {
    return { corpus: await tarCorpus(), counters: {} };
  },
  run(ctx, rnd): FuzzOutcome {
    const input = mutate(pick(rnd, ctx.corpus), rnd, pick(rnd, ctx.corpus));
    const limits: TarReaderLimits = rnd() < 0.2
      ? {
        maxEntries: 1 + below(rnd, 8),
        maxPaxBytes: below(rnd, 300),
        maxPaxRecords: below(rnd, 6),
        maxNameBytes: below(rnd, 400),
      }
      : {};
    const a = readTar(randomChunks(input, rnd), limits);
    const b = readTar([input], limits);
    if (a instanceof SociError || b instanceof SociError) {
      // Same outcome whatever the chunking.
      assert.ok(a instanceof SociError && b instanceof SociError, "error depends on chunking");
      assert.equal(a.message, b.message);
      return "error";
    }
    assert.deepEqual(a.entries.map(plainEntry), b.entries.map(plainEntry));
    assert.equal(a.end, b.end);
    let prevEnd = 0;
    for (const e of a.entries) {
      assert.ok(e.headerOffset % 512 === 0 && e.offset % 512 === 0, "block aligned");
      assert.ok(e.headerOffset >= prevEnd && e.offset >= e.headerOffset + 512, "in order");
      prevEnd = e.offset;
    }
    assert.ok(a.end >= prevEnd && a.end <= input.length, "end inside the stream");
    // The entries survive the zTOC codec unchanged.
    const toc: FileMetadata[] = [];
    for (const e of a.entries) {
      const m = typed(() => fileMetadata(e));
      if (m === "error") return "ok";
      toc.push(m);
    }
    const z: Ztoc = {
      version: "0.9",
      buildToolIdentifier: "fuzz",
      compressedArchiveSize: input.length,
      uncompressedArchiveSize: a.end,
      toc,
      compressionAlgorithm: "uncompressed",
      maxSpanId: 0,
      spanDigests: [],
      checkpoints: encodeTarZinfo(1 << 22, input.length),
    };
    const bytes = typed(() => encodeZtoc(z));
    if (bytes === "error") return "ok";
    assert.ok(same(bytes, encodeZtocWithBuilder(z)), "encodeZtoc equals the Builder oracle");
    count(ctx.counters, "encodings compared with the Builder");
    const back = typed(() => decodeZtoc(bytes));
    if (back === "error") return "ok"; // e.g. a link whose size field overlaps the next header
    assert.deepEqual(back.toc.map(plainMeta), toc.map(plainMeta));
    count(ctx.counters, "ztoc round trips");
    return "ok";
  },
};

// ---------------------------------------------------------------------------
// gzip engine

interface GzipCtx {
  corpus: Uint8Array[];
  counters: Counters;
}

/** A gzip member with FEXTRA, FNAME and FCOMMENT fields in its header. */
function gzipWithFields(data: Uint8Array): Uint8Array {
  const plain = gzipSync(data);
  const header = new Uint8Array([0x1f, 0x8b, 8, 0x04 | 0x08 | 0x10, 0, 0, 0, 0, 0, 3]);
  const extra = cat(new Uint8Array([6, 0]), ENC.encode("ab\u0002\u0000cd"));
  return cat(header, extra, ENC.encode("name\0"), ENC.encode("comment\0"), plain.subarray(10));
}

const MAX_OUTPUT = 32 << 20;

const gzip: FuzzTarget<GzipCtx> = {
  setup() {
    const text = textBytes(60_000, 11);
    const corpus = [
      gzipSync(text),
      gzipSync(randomBytes(9000, 12), { level: 1 }),
      gzipSync(new Uint8Array(200_000), { level: 9 }),
      gzipSync(new Uint8Array(0)),
      gzipSync(textBytes(20_000, 13), { level: 0 }),
      cat(gzipSync(text.subarray(0, 30_000)), gzipSync(new Uint8Array(0)), gzipSync(text)),
      gzipWithFields(textBytes(5000, 14)),
    ];
    // Plain copies: gzipSync gives Node Buffers, which may share one pool.
    return { corpus: corpus.map((b) => new Uint8Array(b)), counters: {} };
  },
  async run(ctx, rnd): Promise<FuzzOutcome> {
    // Any change to deflate data breaks the CRC: a third of the cases keep
    // the input whole (chunking, span size and resume points vary).
    const original = pick(rnd, ctx.corpus);
    const input = rnd() < 0.3 ? original : mutate(original, rnd, pick(rnd, ctx.corpus));
    const spanSize = pick(rnd, [0, 1, 100, 1000, 32768, 1 << 22]);
    const parts: Uint8Array[] = [];
    let total = 0;
    let tooBig = false;
    const inf = new CheckpointInflater(spanSize, {
      data(bytes) {
        if (tooBig) return;
        total += bytes.length;
        if (total > MAX_OUTPUT) tooBig = true;
        else parts.push(bytes.slice());
      },
    });
    let checkpoints: Checkpoint[];
    try {
      for (const c of randomChunks(input, rnd)) {
        inf.push(c);
        if (tooBig) break;
      }
      if (tooBig) {
        inf.free();
        return "skip";
      }
      checkpoints = inf.end().checkpoints;
    } catch (e) {
      inf.free();
      if (e instanceof SociError) {
        if (Deno.env.get("FUZZ_DEBUG")) console.error(e);
        return "error";
      }
      throw e;
    }
    const output = cat(...parts);
    // node:zlib (the system's zlib) must agree when it accepts the bytes too.
    let node: Uint8Array | undefined;
    try {
      node = gunzipSync(input);
    } catch { /* node refuses: nothing to compare */ }
    if (node !== undefined) {
      assert.ok(same(node, output), "output differs from node:zlib");
      count(ctx.counters, "same output as node:zlib");
    }
    assert.ok(checkpoints.length >= 1 && checkpoints[0].out === 0, "checkpoint 0 at out 0");
    for (let i = 1; i < checkpoints.length; i++) {
      assert.ok(checkpoints[i].out > checkpoints[i - 1].out || checkpoints[i].out === 0);
    }
    // Resuming at a checkpoint gives the same bytes as the whole pass.
    for (let k = 0; k < 2; k++) {
      const cp = pick(rnd, checkpoints);
      const from = cp.bits !== 0 ? cp.in - 1 : cp.in;
      const rest = output.length - cp.out;
      const skip = below(rnd, rest + 1);
      const length = below(rnd, rest - skip + 1);
      const got: Uint8Array[] = [];
      for await (
        const p of inflateFromCheckpoint(cp, randomChunks(input.subarray(from), rnd), skip, length)
      ) got.push(p);
      const want = output.subarray(cp.out + skip, cp.out + skip + length);
      assert.ok(same(cat(...got), want), `resume at checkpoint out=${cp.out}`);
      count(ctx.counters, "resumes checked");
    }
    // A damaged checkpoint: bytes or a typed error, never a crash or a hang.
    const cp = { ...pick(rnd, checkpoints) };
    switch (below(rnd, 4)) {
      case 0:
        cp.bits = below(rnd, 8);
        break;
      case 1:
        cp.in += below(rnd, 5) - 2;
        break;
      case 2:
        cp.window = cp.window.slice();
        cp.window[below(rnd, cp.window.length)] ^= 0xff;
        cp.out += 1;
        break;
      default:
        cp.in = below(rnd, input.length + 1);
    }
    const from = Math.max(0, cp.bits !== 0 ? cp.in - 1 : cp.in);
    await typedAsync(async () => {
      let n = 0;
      for await (const p of inflateFromCheckpoint(cp, [input.subarray(from)], 0, 1 << 16)) {
        n += p.length;
      }
      return n;
    });
    return "ok";
  },
};

// ---------------------------------------------------------------------------
// zinfo

interface ZinfoCtx {
  corpus: Uint8Array[];
  counters: Counters;
}

function window(seed: number): Uint8Array {
  const w = new Uint8Array(32768);
  w.set(textBytes(100, seed), 32768 - 100);
  return w;
}

/** Upstream's span scan (F§5.4), the reference for `spanOf`. */
function linearSpanOf(cps: Checkpoint[], offset: number): number {
  let i = 0;
  while (i < cps.length - 1 && cps[i + 1].out <= offset) i++;
  return i;
}

const zinfo: FuzzTarget<ZinfoCtx> = {
  async setup() {
    const cps = (n: number) =>
      Array.from({ length: n }, (_, i) => ({
        in: 10 + i * 5000,
        out: i * 70000,
        bits: i % 8,
        window: window(i),
      }));
    const v2 = encodeGzipZinfo(65536, cps(3));
    const v1 = cat(v2.subarray(0, ZINFO_HEADER_SIZE), v2.subarray(ZINFO_HEADER_SIZE + 32785));
    const layer = new Uint8Array(
      gzipSync(goTar([{ name: "t", data: textBytes(400_000, 21) }]), { level: 6 }),
    );
    const scan = await scanLayer([layer], { compression: "gzip", spanSize: 65536 });
    return {
      corpus: [
        encodeGzipZinfo(4 << 20, []),
        encodeGzipZinfo(1024, cps(1)),
        v2,
        v1,
        encodeGzipZinfo(65536, scan.checkpoints),
        encodeTarZinfo(4 << 20, 20 << 20),
        encodeTarZinfo(1, 2 ** 40),
        encodeTarZinfo(512, 0),
      ],
      counters: {},
    };
  },
  run(ctx, rnd): FuzzOutcome {
    const blob = mutate(pick(rnd, ctx.corpus), rnd, pick(rnd, ctx.corpus), 300_000);
    let outcome: FuzzOutcome = "error";
    const g = typed(() => decodeGzipZinfo(blob));
    if (g !== "error") {
      outcome = "ok";
      const n = g.checkpoints.length;
      const stored = g.version === 2 ? g.checkpoints : g.checkpoints.slice(1);
      assert.equal(blob.length, ZINFO_HEADER_SIZE + PACKED_CHECKPOINT_SIZE * stored.length);
      const again = typed(() => encodeGzipZinfo(g.spanSize, stored));
      if (again !== "error") {
        // Same records; the count field says n (v1 counts the missing checkpoint 0).
        const want = blob.slice();
        new DataView(want.buffer).setInt32(0, stored.length, true);
        assert.ok(same(again, want), "gzip zinfo re-encodes to the same bytes");
        count(ctx.counters, "gzip zinfo round trips");
        assert.equal(new DataView(blob.buffer, blob.byteOffset).getInt32(0, true), n);
      }
      const zi = gzipZinfo(g.spanSize, g.checkpoints);
      const probes = [0, -1, 2 ** 40, ...g.checkpoints.map((c) => c.out)];
      for (let k = 0; k < 4; k++) probes.push(below(rnd, 300_000));
      for (const o of probes) assert.equal(zi.spanOf(o), linearSpanOf(g.checkpoints, o));
      count(ctx.counters, "spanOf checked");
      for (let i = 0; i < n; i++) typed(() => zi.compressedRange(i, 1 << 20));
    }
    const t = typed(() => decodeTarZinfo(blob));
    if (t !== "error") {
      outcome = "ok";
      const again = typed(() => decodeTarZinfo(encodeTarZinfo(t.spanSize, t.size, t.version)));
      if (again !== "error") {
        assert.deepEqual(again, t);
        count(ctx.counters, "tar zinfo round trips");
      }
      const zi = typed(() => tarZinfo(t.spanSize, t.size));
      if (zi !== "error") {
        assert.equal(zi.spanOf(t.size), Math.trunc(t.size / t.spanSize));
        if (zi.numSpans > 0) typed(() => zi.compressedRange(zi.numSpans - 1, t.size));
      }
    }
    return outcome;
  },
};

// ---------------------------------------------------------------------------
// zTOC

interface RealLayer {
  layer: Uint8Array;
  /** The tar stream: the truth every extraction is checked against. */
  tar: Uint8Array;
  ztoc: Uint8Array;
}

interface ZtocCtx {
  corpus: Uint8Array[];
  real: RealLayer[];
  counters: Counters;
}

function memoryReader(layer: Uint8Array): RangeReader {
  return async function* (start: number, end: number) {
    for (let at = Math.max(0, start); at < Math.min(end, layer.length); at += 8192) {
      yield layer.subarray(at, Math.min(end, layer.length, at + 8192));
    }
  };
}

async function realLayers(): Promise<RealLayer[]> {
  const entries: GoTarEntry[] = [];
  for (let i = 0; i < 12; i++) {
    entries.push({
      name: `dir/file${i}`,
      data: i % 3 === 0 ? randomBytes(3000 + i * 4000, i) : textBytes(2000 + i * 9000, i),
      pax: i % 4 === 1 ? [["SCHILY.xattr.user.n", String(i)]] : undefined,
    });
  }
  entries.push({ name: "dir/link", typeflag: "2", linkname: "file3" });
  const tarBytes = goTar(entries);
  const out: RealLayer[] = [];
  const gz = new Uint8Array(gzipSync(tarBytes, { level: 6 }));
  // Larger files in larger spans: files far enough from their checkpoint
  // are read from it (the window-dependence probe and the header check).
  const far: GoTarEntry[] = [];
  for (let i = 0; i < 8; i++) {
    far.push({
      name: `far/file${i}`,
      data: i % 2 === 0 ? randomBytes(50_000 + i * 3000, 40 + i) : textBytes(60_000 + i * 5000, i),
    });
  }
  const farTar = goTar(far);
  const farGz = new Uint8Array(gzipSync(farTar, { level: 6 }));
  const scanFar = await scanLayer([farGz], { compression: "detect", spanSize: 40_000 });
  const layers: Array<[Uint8Array, number]> = [[gz, 16384], [tarBytes, 8192]];
  for (const [layer, spanSize] of layers) {
    const scan = await scanLayer([layer], { compression: "detect", spanSize });
    out.push({ layer: layer as Uint8Array, tar: tarBytes, ztoc: encodeZtoc(buildZtoc(scan)) });
  }
  out.push({ layer: farGz, tar: farTar, ztoc: encodeZtoc(buildZtoc(scanFar)) });
  return out;
}

function syntheticZtocs(): Uint8Array[] {
  const e = (over: Partial<FileMetadata>): FileMetadata => ({
    name: ENC.encode("a"),
    type: "reg",
    uncompressedOffset: 512,
    uncompressedSize: 10,
    linkname: new Uint8Array(0),
    mode: 0o644,
    uid: 0,
    gid: 0,
    uname: ENC.encode("root"),
    gname: ENC.encode("root"),
    modTime: "2023-11-14T22:13:20Z",
    devmajor: 0,
    devminor: 0,
    xattrs: [],
    ...over,
  });
  return [
    encodeZtoc({
      version: "0.9",
      buildToolIdentifier: "AWS SOCI CLI v0.2",
      compressedArchiveSize: 3000,
      uncompressedArchiveSize: 4096,
      toc: [
        e({}),
        e({ name: ENC.encode("b\n\u001b[31m"), uncompressedOffset: 1536, uncompressedSize: 0 }),
        e({
          name: ENC.encode("c"),
          type: "symlink",
          linkname: ENC.encode("a"),
          uncompressedOffset: 2560,
          uncompressedSize: 0,
          xattrs: [[ENC.encode("path"), ENC.encode("c")], [ENC.encode("k"), ENC.encode("v")]],
        }),
      ],
      compressionAlgorithm: "uncompressed",
      maxSpanId: 2,
      spanDigests: ["sha256:" + "a".repeat(64), "", "sha256:" + "b".repeat(64)],
      checkpoints: encodeTarZinfo(1024, 3000),
    }),
    encodeZtoc({
      version: "0.9",
      buildToolIdentifier: "t",
      compressedArchiveSize: 0,
      uncompressedArchiveSize: 0,
      toc: [],
      compressionAlgorithm: "gzip",
      maxSpanId: 0,
      spanDigests: [],
      checkpoints: encodeGzipZinfo(65536, [{ in: 10, out: 0, bits: 0, window: window(1) }]),
    }),
  ];
}

function plainZtoc(z: Ztoc): unknown {
  return { ...z, toc: z.toc.map(plainMeta), checkpoints: z.checkpoints.length };
}

const ztoc: FuzzTarget<ZtocCtx> = {
  async setup() {
    const real = await realLayers();
    return { corpus: [...syntheticZtocs(), ...real.map((r) => r.ztoc)], real, counters: {} };
  },
  async run(ctx, rnd, index): Promise<FuzzOutcome> {
    // Every other case mutates a zTOC of a real layer, to check extraction.
    const real = index % 2 === 0 ? pick(rnd, ctx.real) : undefined;
    const base = real ? real.ztoc : pick(rnd, ctx.corpus);
    const bytes = mutate(base, rnd, pick(rnd, ctx.corpus), 1 << 20);
    let failure = "";
    const z = typed(() => {
      try {
        return decodeZtoc(bytes);
      } catch (e) {
        failure = (e as Error).message;
        throw e;
      }
    });
    // The lazy view accepts exactly what the decoder accepts, and reads the same entries.
    let viewFailure = "";
    const view = typed(() => {
      try {
        return ZtocView.decode(bytes);
      } catch (e) {
        viewFailure = (e as Error).message;
        throw e;
      }
    });
    assert.equal(viewFailure, failure, "ZtocView.decode and decodeZtoc fail alike");
    if (z === "error") return "error";
    if (view !== "error") {
      assert.deepEqual(view.toc().map(plainMeta), z.toc.map(plainMeta));
      count(ctx.counters, "lazy views compared");
    }
    // decode → encode → decode is stable.
    const again = typed(() => encodeZtoc(z));
    if (again !== "error") {
      // The library's writer and the npm Builder give the same bytes.
      assert.ok(same(again, encodeZtocWithBuilder(z)), "encodeZtoc equals the Builder oracle");
      count(ctx.counters, "encodings compared with the Builder");
      const back = decodeZtoc(again);
      assert.deepEqual(plainZtoc(back), plainZtoc(z));
      assert.ok(same(back.checkpoints, z.checkpoints), "checkpoints survive re-encoding");
      count(ctx.counters, "ztoc round trips");
    }
    typed(() => validateZtoc(z));
    const info = typed(() => ztocInfo(z, bytes.length));
    if (info !== "error") {
      for (const _ of ztocInfoTableChunks(info)) { /* must not throw */ }
      for (const _ of ztocInfoJsonChunks(info)) { /* must not throw */ }
    }
    if (real) {
      const regs = z.toc.filter((m) => m.type === "reg" && m.uncompressedSize > 0);
      for (let k = 0; k < 2 && regs.length > 0; k++) {
        const m = pick(rnd, regs);
        const calls: number[] = [];
        const read = memoryReader(real.layer);
        const got = await typedAsync(async () => {
          const parts: Uint8Array[] = [];
          const reader: RangeReader = (s, e) => {
            calls.push(s);
            return read(s, e);
          };
          for await (const p of extractFile(z, m, reader)) parts.push(p);
          return cat(...parts);
        });
        const zi = typed(() => zinfoOf(z));
        if (got !== "error" && zi !== "error" && zi.kind === "gzip" && calls.length === 1) {
          const k = zi.spanOf(m.uncompressedOffset);
          const own = typed(() => zi.compressedRange(k, z.compressedArchiveSize)[0]);
          if (k > 0 && calls[0] === own) {
            count(ctx.counters, "extractions from their own checkpoint");
          }
        }
        if (got === "error") {
          count(ctx.counters, "extractions refused");
          continue;
        }
        // Never bytes that differ from the layer's at the claimed offset.
        const off = m.uncompressedOffset;
        assert.ok(off + m.uncompressedSize <= real.tar.length, "extracted beyond the stream");
        const want = real.tar.subarray(off, off + m.uncompressedSize);
        assert.ok(same(got, want), `wrong bytes for ${hex(m.name)} at ${off}`);
        count(ctx.counters, "extractions checked");
      }
    }
    return "ok";
  },
};

/** The targets of this module, by name. */
export const targets: Record<string, FuzzTarget> = {
  tar: tar as FuzzTarget,
  gzip: gzip as FuzzTarget,
  zinfo: zinfo as FuzzTarget,
  ztoc: ztoc as FuzzTarget,
};
