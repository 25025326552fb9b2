/**
 * End-to-end tests of reading files through a zTOC (`extractFile`, F§5.5):
 * every regular file of multi-span layers (gzip, concatenated members, plain
 * tar, unusual gzip headers, pigz) comes back byte for byte, reading exactly
 * the compressed ranges of F§5.3/F§5.6 computed independently (for gzip:
 * the file's own spans, the span before them too, or first the first and
 * then the second), with links followed.
 */
import assert from "node:assert/strict";
import { buildZtoc } from "../lib/ztoc/builder.ts";
import { decodeZtoc, encodeZtoc } from "../lib/ztoc/codec.ts";
import { extractFile, findFile, type RangeReader } from "../lib/ztoc/extract.ts";
import type { Ztoc } from "../lib/ztoc/model.ts";
import { scanLayer } from "../lib/ztoc/scan.ts";
import { goTar, type GoTarEntry } from "./helpers/tar_go_writer.ts";
import { pyGzip } from "./helpers/ztoc_e2e_oracle.ts";
import {
  collect,
  parseZinfoBlob,
  prng,
  randInt,
  randomBytes,
  sameBytes,
  sh,
  soci,
  textBytes,
  withTempDir,
} from "./helpers/ztoc_e2e_tools.ts";

const DEC = new TextDecoder();

/** Builds the zTOC in-process and round-trips it through its bytes, as a reader would. */
async function build(layer: Uint8Array, spanSize: number): Promise<Ztoc> {
  const scan = await scanLayer([layer], { compression: "detect", spanSize });
  return decodeZtoc(encodeZtoc(buildZtoc(scan)));
}

/** Builds the zTOC with the CLI and decodes the file it wrote. */
async function cliBuild(dir: string, layer: string, spanSize: number): Promise<Ztoc> {
  const out = `${layer}.${spanSize}.ztoc`;
  const r = await soci(
    ["ztoc", "build", "--span-size", String(spanSize), "-o", out, layer],
    `${dir}/root`,
  );
  assert.equal(r.code, 0, r.stderr);
  const z = decodeZtoc(await Deno.readFile(out));
  await Deno.remove(out);
  return z;
}

/**
 * The compressed range F§5.5 says a reader fetches for `[off, off + size)`:
 * from the start of span(off) to the end of span(off + size), computed from
 * the zinfo bytes with this file's own parser. For gzip with `before`, one
 * span more at the start: the span before span(off) is inflated too, to
 * check the window of checkpoint span(off) (hardening issue, defect 7).
 */
function expectedRange(z: Ztoc, off: number, size: number, before = true): [number, number] {
  const total = z.compressedArchiveSize;
  if (z.compressionAlgorithm === "gzip") {
    const { cps } = parseZinfoBlob(z.checkpoints);
    const spanOf = (o: number) => {
      let i = 0;
      while (i + 1 < cps.length && cps[i + 1].out <= o) i++;
      return i;
    };
    const s = Math.max(0, spanOf(off) - (before ? 1 : 0));
    const e = spanOf(off + size);
    const start = cps[s].bits !== 0 ? cps[s].in - 1 : cps[s].in;
    return [start, e + 1 < cps.length ? cps[e + 1].in : total];
  }
  // TarZinfo: span_size is the int64 at table + 12 (F§5.6 layout of a 48-byte blob).
  const dv = new DataView(z.checkpoints.buffer, z.checkpoints.byteOffset, z.checkpoints.length);
  assert.equal(z.checkpoints.length, 48);
  const span = Number(dv.getBigInt64(32, true));
  const n = Math.ceil(total / span);
  const s = Math.floor(off / span);
  const e = Math.min(Math.floor((off + size) / span), n - 1);
  return [s * span, Math.min(total, (e + 1) * span)];
}

/** The compressed range of the span before span(off) alone, gzip (F§5.3). */
function spanBeforeRange(z: Ztoc, off: number): [number, number] {
  const { cps } = parseZinfoBlob(z.checkpoints);
  let s = 0;
  while (s + 1 < cps.length && cps[s + 1].out <= off) s++;
  assert.ok(s >= 1, "there is a span before");
  const p = cps[s - 1];
  return [p.bits !== 0 ? p.in - 1 : p.in, cps[s].in];
}

/** A range reader over in-memory layer bytes, in 64 KiB copies, logging each call. */
function memoryReader(layer: Uint8Array, calls: Array<[number, number]>): RangeReader {
  return async function* (start: number, end: number) {
    calls.push([start, end]);
    for (let at = start; at < end; at += 65536) {
      yield layer.slice(at, Math.min(end, at + 65536));
    }
  };
}

/** Extracts `name` and checks its bytes and the range read. */
async function checkFile(
  z: Ztoc,
  layer: Uint8Array,
  name: string,
  want: Uint8Array,
  label: string,
): Promise<ReadPath> {
  const entry = findFile(z.toc, name);
  const calls: Array<[number, number]> = [];
  const got = await collect(extractFile(z, entry, memoryReader(layer, calls)));
  assert.equal(got.length, want.length, `${label}: ${name}: length`);
  assert.ok(sameBytes(got, want), `${label}: ${name}: bytes`);
  if (want.length === 0) {
    assert.equal(calls.length, 0, `${label}: ${name}: an empty file reads nothing`);
    return "none";
  }
  const off = entry.uncompressedOffset;
  const checked = expectedRange(z, off, entry.uncompressedSize);
  if (z.compressionAlgorithm !== "gzip") {
    assert.deepEqual(calls, [checked], `${label}: ${name}: range read`);
    return "checked";
  }
  // gzip: the file's own spans (read from its own checkpoint), then, if
  // that did not do, the span before them alone; or from the span before.
  const own = expectedRange(z, off, entry.uncompressedSize, false);
  if (calls.length === 1 && calls[0][0] === own[0] && own[0] !== checked[0]) {
    assert.deepEqual(calls, [own], `${label}: ${name}: range read`);
    return "own";
  }
  if (calls.length === 2) {
    const spanBefore = spanBeforeRange(z, off);
    assert.deepEqual(calls, [own, spanBefore], `${label}: ${name}: range read`);
    return "fallback";
  }
  assert.deepEqual(calls, [checked], `${label}: ${name}: range read`);
  return "checked";
}

/** How a file was read: its own checkpoint, a fallback to the span before, or that span first. */
type ReadPath = "none" | "own" | "fallback" | "checked";

// ---------------------------------------------------------------------------

Deno.test("extract: four random-size files, gzip and tar, span sizes of C§11.1 item 1", async (t) => {
  await withTempDir(async (dir) => {
    const rnd = prng(20240611);
    const sizes = [
      randInt(rnd, 1, 100),
      randInt(rnd, 10_000, 128_000),
      randInt(rnd, 350_000, 500_000),
      randInt(rnd, 1_500_000, 2_500_000),
    ];
    const files = sizes.map((n, i) => ({
      name: `file${i}`,
      data: i % 2 === 0 ? randomBytes(n, 100 + i) : textBytes(n, 100 + i),
    }));
    const tar = goTar(files.map((f) => ({ name: f.name, data: f.data })));
    await Deno.writeFile(`${dir}/l.tar`, tar);
    await sh("gzip -n -6 -c l.tar > l.tar.gz", dir);
    const gz = await Deno.readFile(`${dir}/l.tar.gz`);
    for (const spanSize of [10000, 65535, 128000, 256000, 512000, 1 << 20]) {
      await t.step(`span ${spanSize}`, async () => {
        for (const [kind, layer] of [["gzip", gz], ["tar", tar]] as const) {
          const z = await build(layer, spanSize);
          assert.equal(z.compressionAlgorithm, kind === "gzip" ? "gzip" : "uncompressed");
          if (spanSize <= 128000) assert.ok(z.maxSpanId > 4, `${kind}: ${z.maxSpanId} spans`);
          for (const f of files) await checkFile(z, layer, f.name, f.data, `${kind} ${spanSize}`);
        }
      });
    }
  });
});

/** A tree of many files of assorted sizes (~10 MB), with links, written to `root`. */
async function writeTree(root: string): Promise<Map<string, Uint8Array>> {
  const rnd = prng(77);
  const files = new Map<string, Uint8Array>();
  for (let i = 0; i < 140; i++) {
    const dir = `d${i % 7}/s${i % 3}`;
    const kind = i % 4;
    const n = kind === 0
      ? randInt(rnd, 0, 600)
      : kind === 1
      ? randInt(rnd, 1000, 40_000)
      : randInt(rnd, 40_000, 120_000);
    const data = i % 3 === 0 ? randomBytes(n, i) : textBytes(n, i);
    files.set(`${dir}/f${i}`, data);
  }
  files.set("big/random", randomBytes(1_700_000, 5));
  files.set("big/text", textBytes(2_300_000, 6));
  files.set("big/zeros", new Uint8Array(600_000));
  files.set("empty", new Uint8Array(0));
  for (const [name, data] of files) {
    await Deno.mkdir(`${root}/${name.slice(0, name.lastIndexOf("/") + 1)}`, { recursive: true });
    await Deno.writeFile(`${root}/${name}`, data);
  }
  await Deno.mkdir(`${root}/links`);
  await Deno.symlink("../big/text", `${root}/links/sym`);
  await Deno.symlink("sym", `${root}/links/sym2`);
  await Deno.link(`${root}/d1/s1/f1`, `${root}/links/hard`);
  return files;
}

Deno.test("extract: every regular file of multi-span layers (gzip, members, tar)", async (t) => {
  await withTempDir(async (dir) => {
    const files = await writeTree(`${dir}/tree`);
    await sh(`tar --format=posix -cf ${dir}/l.tar -C ${dir}/tree .`);
    const tar = await Deno.readFile(`${dir}/l.tar`);
    // Concatenated members cut at odd offsets, levels differing, with an empty member.
    const cuts = [0, 1_000_003, 3_333_333, 3_333_334, 7_000_001, tar.length];
    for (let i = 0; i + 1 < cuts.length; i++) {
      await Deno.writeFile(`${dir}/p${i}`, tar.subarray(cuts[i], cuts[i + 1]));
    }
    await Deno.writeFile(`${dir}/none`, new Uint8Array(0));
    await sh(
      "gzip -n -6 -c l.tar > l.tar.gz; " +
        "(gzip -n -1 -c p0; gzip -n -9 -c p1; gzip -n -c none; gzip -n -c p2; gzip -n -c p3; " +
        "gzip -n -3 -c p4) > members.tar.gz",
      dir,
    );
    const variants: Array<[string, number]> = [
      ["l.tar.gz", 65536],
      ["members.tar.gz", 100_000],
      ["l.tar", 100_000],
    ];
    for (const [name, spanSize] of variants) {
      await t.step(`${name}, span ${spanSize}`, async () => {
        const layer = await Deno.readFile(`${dir}/${name}`);
        const z = await cliBuild(dir, `${dir}/${name}`, spanSize);
        assert.ok(z.maxSpanId > 50, `${z.maxSpanId + 1} spans`);
        const regs = z.toc.filter((e) => e.type === "reg").map((e) => DEC.decode(e.name));
        assert.deepEqual(regs.slice().sort(), [...files.keys()].map((n) => `./${n}`).sort());
        const paths: Record<ReadPath, number> = { none: 0, own: 0, fallback: 0, checked: 0 };
        for (const [path, data] of files) {
          paths[await checkFile(z, layer, `./${path}`, data, name)]++;
        }
        if (name.endsWith(".gz")) {
          // Both ways of reading gzip occur here (and both gave the right bytes).
          assert.ok(paths.own > 10 && paths.fallback > 10, `${name}: ${JSON.stringify(paths)}`);
        }
        // Links are followed: a symlink with "..", a symlink to a symlink, a hard link.
        const text = files.get("big/text")!;
        await checkFile(z, layer, "./links/sym", text, name);
        await checkFile(z, layer, "./links/sym2", text, name);
        await checkFile(z, layer, "./links/hard", files.get("d1/s1/f1")!, name);
        // Names are also found without the "./" GNU tar writes.
        await checkFile(z, layer, "big/zeros", files.get("big/zeros")!, name);
      });
    }
  });
});

Deno.test("extract: gzip headers with FEXTRA/FNAME/FCOMMENT/FHCRC, FEXTRA over the span size", async (t) => {
  await withTempDir(async (dir) => {
    const entries: GoTarEntry[] = [];
    for (let i = 0; i < 12; i++) {
      entries.push({
        name: `f${i}`,
        data: i % 2 ? textBytes(i * 9000, i) : randomBytes(i * 4000, i),
      });
    }
    const tar = goTar(entries);
    await Deno.writeFile(`${dir}/l.tar`, tar);
    const small = goTar(entries.slice(0, 8));
    await Deno.writeFile(`${dir}/small.tar`, small);
    const cases: Array<[string, string, Parameters<typeof pyGzip>[2], number, number]> = [
      ["comment", "l.tar", ["comment"], 0, 10000],
      ["name", "l.tar", ["name"], 0, 10000],
      ["extra100", "l.tar", ["extra"], 100, 10000],
      ["all", "l.tar", ["extra", "name", "comment"], 100, 10000],
      ["all+hcrc", "l.tar", ["extra", "name", "comment", "hcrc"], 100, 10000],
      // C§11.1 item 2: an FEXTRA field of 2 × 1024 bytes with span size 1024.
      ["extra2048", "small.tar", ["extra"], 2048, 1024],
    ];
    for (const [label, src, flags, extraLen, spanSize] of cases) {
      await t.step(label, async () => {
        const headerLen = await pyGzip(`${dir}/${label}.gz`, `${dir}/${src}`, flags, extraLen);
        const layer = await Deno.readFile(`${dir}/${label}.gz`);
        const z = await cliBuild(dir, `${dir}/${label}.gz`, spanSize);
        const { cps } = parseZinfoBlob(z.checkpoints);
        assert.equal(cps[0].in, headerLen, "checkpoint 0 is after the whole header");
        assert.ok(cps.length > 3, `${cps.length} spans`);
        const n = src === "l.tar" ? entries.length : 8;
        for (const e of entries.slice(0, n)) {
          await checkFile(z, layer, e.name as string, e.data!, label);
        }
      });
    }
  });
});

Deno.test("extract: pigz -b 128 layers give several spans and extract (C§11.1 item 3)", async () => {
  await withTempDir(async (dir) => {
    const files = [
      { name: "a", data: textBytes(900_000, 1) },
      { name: "b", data: randomBytes(700_000, 2) },
      { name: "c", data: textBytes(1_400_000, 3) },
      { name: "d", data: textBytes(77, 4) },
    ];
    await Deno.writeFile(`${dir}/l.tar`, goTar(files));
    await sh("pigz -n -b 128 -c l.tar > l.tar.gz", dir);
    const layer = await Deno.readFile(`${dir}/l.tar.gz`);
    for (const spanSize of [64 << 10, 256 << 10, 1 << 20]) {
      const z = await cliBuild(dir, `${dir}/l.tar.gz`, spanSize);
      assert.ok(z.maxSpanId >= 1, `span ${spanSize}: ${z.maxSpanId + 1} spans`);
      for (const f of files) await checkFile(z, layer, f.name, f.data, `pigz ${spanSize}`);
    }
  });
});

Deno.test("extract: a file ending exactly on a span boundary also reads the next span (F§5.4)", async () => {
  // Tar layer, span 4096: "a" has data [512, 12288), which ends where span 3 starts.
  const a = randomBytes(12288 - 512, 8);
  const b = textBytes(5000, 9);
  const tar = goTar([{ name: "a", data: a }, { name: "b", data: b }]);
  const z = await build(tar, 4096);
  assert.equal(z.toc[0].uncompressedOffset + z.toc[0].uncompressedSize, 3 * 4096);
  assert.deepEqual(expectedRange(z, 512, a.length), [0, 4 * 4096]);
  await checkFile(z, tar, "a", a, "boundary");
  await checkFile(z, tar, "b", b, "boundary");
});
