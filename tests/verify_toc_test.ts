// `verify` compares the TOC with the tar entries as the tar is read, on the
// verify worker (`ztoc/toc_check.ts`), from the zTOC's bytes (copied, or
// handed over). The problems must be the ones, in the same words, order
// and cap, that comparing the decoded TOC with all the entries afterwards
// gives (the reference below: verify's former code). Checked on a real
// GNU tar in PAX format (records, sub-second times) against TOCs damaged
// one way each, here and on the worker; with the pass's other checks: a
// damaged window is reported at its exact offset wherever the chunks cut
// the output, and a resume probe gives the same bytes however it is fed.
import assert from "node:assert/strict";
import { join } from "node:path";
import type { TarEntry } from "../lib/tar/entry.ts";
import { buildZtoc, fileMetadata } from "../lib/ztoc/builder.ts";
import { decodeZtoc, encodeZtoc } from "../lib/ztoc/codec.ts";
import type { FileMetadata, Ztoc } from "../lib/ztoc/model.ts";
import { ResumeProbe } from "../lib/ztoc/resume_probe.ts";
import { scanLayer } from "../lib/ztoc/scan.ts";
import { zinfoOf } from "../lib/ztoc/spans.ts";
import { TocCheck, tocEntries } from "../lib/ztoc/toc_check.ts";
import { LayerVerifier } from "../lib/ztoc/verify_layer.ts";
import { VerifyPool } from "../lib/ztoc/verify_pool.ts";
import { ZtocView } from "../lib/ztoc/ztoc_view.ts";
import { decodeGzipZinfo, encodeGzipZinfo } from "../lib/gzip/zinfo.ts";
import { createIndexes } from "../lib/use_cases/create.ts";
import { verifyImage } from "../lib/use_cases/verify.ts";
import { openImage } from "../lib/image/open.ts";
import { LocalStore } from "../lib/store/local_store.ts";
import { decodeManifest } from "../lib/oci/json_decode.ts";
import { encodeManifest } from "../lib/oci/json_encode.ts";
import { randomBytes, sha256 } from "./helpers/bytes.ts";
import { type BuiltLayer, gzipBytes, OCI_GZIP, text, writeLayout } from "./helpers/read_images.ts";

const SPAN = 64 * 1024;
const utf8 = new TextDecoder();

// ---------------------------------------------------------------------------
// The reference: verify's TOC comparison before it was streamed.

function instant(s: string): string {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/
    .exec(s);
  if (!m) return `text:${s}`;
  let secs = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) / 1000;
  if (m[8] !== "Z") {
    const sign = m[8][0] === "-" ? -1 : 1;
    secs -= sign * (Number(m[8].slice(1, 3)) * 3600 + Number(m[8].slice(4, 6)) * 60);
  }
  return `${secs}.${(m[7] ?? "").padEnd(9, "0")}`;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function referenceDifference(z: FileMetadata, real: FileMetadata): string | undefined {
  const q = (b: Uint8Array) => JSON.stringify(utf8.decode(b));
  if (!same(z.name, real.name)) return `name is ${q(z.name)}, the layer has ${q(real.name)}`;
  if (z.type !== real.type) return `type is ${z.type}, the layer has ${real.type}`;
  const numbers: Array<[string, number, number]> = [
    ["uncompressed_offset", z.uncompressedOffset, real.uncompressedOffset],
    ["uncompressed_size", z.uncompressedSize, real.uncompressedSize],
    ["mode", z.mode, real.mode],
    ["uid", z.uid, real.uid],
    ["gid", z.gid, real.gid],
    ["devmajor", z.devmajor, real.devmajor],
    ["devminor", z.devminor, real.devminor],
  ];
  for (const [name, a, b] of numbers) if (a !== b) return `${name} is ${a}, the layer has ${b}`;
  if (!same(z.linkname, real.linkname)) {
    return `linkname is ${q(z.linkname)}, the layer has ${q(real.linkname)}`;
  }
  if (!same(z.uname, real.uname)) return `uname is ${q(z.uname)}, the layer has ${q(real.uname)}`;
  if (!same(z.gname, real.gname)) return `gname is ${q(z.gname)}, the layer has ${q(real.gname)}`;
  if (z.modTime !== real.modTime && instant(z.modTime) !== instant(real.modTime)) {
    return `mod_time is ${z.modTime}, the layer has ${real.modTime}`;
  }
  const recs = (m: FileMetadata) =>
    m.xattrs.map(([k, v]) => `${utf8.decode(k)}=${utf8.decode(v)}`).sort().join("\n");
  if (recs(z) !== recs(real)) return "its PAX records differ from the layer's";
  return undefined;
}

function reference(z: Ztoc, entries: TarEntry[], uncompressedSize: number): string[] {
  const problems: string[] = [];
  let real: FileMetadata[];
  try {
    real = entries.map((e) => fileMetadata(e));
  } catch (e) {
    return [`the layer's tar has an entry a zTOC cannot hold: ${(e as Error).message}`];
  }
  if (z.toc.length !== real.length) {
    problems.push(`the TOC lists ${z.toc.length} entries, the layer's tar has ${real.length}`);
  }
  for (let i = 0; i < Math.min(z.toc.length, real.length); i++) {
    const d = referenceDifference(z.toc[i], real[i]);
    if (d !== undefined) {
      problems.push(`TOC entry ${i} ${JSON.stringify(utf8.decode(z.toc[i].name))}: ${d}`);
    }
  }
  if (uncompressedSize !== z.uncompressedArchiveSize) {
    problems.push(
      `uncompressed_archive_size is ${z.uncompressedArchiveSize}, the layer's tar ends at ` +
        `${uncompressedSize}`,
    );
  }
  if (problems.length <= 5) return problems;
  return [...problems.slice(0, 5), `… and ${problems.length - 5} more TOC problems`];
}

// ---------------------------------------------------------------------------

interface Layer {
  gz: Uint8Array;
  tar: Uint8Array;
  z: Ztoc;
  entries: TarEntry[];
}

/**
 * A GNU tar of a few dozen files, gzipped: in PAX format (atime and ctime
 * records on every entry, sub-second times), or GNU's own (no records).
 */
async function paxLayer(format: "posix" | "gnu" = "posix", random = 300_000): Promise<Layer> {
  const src = await Deno.makeTempDir({ prefix: "soci-verify-toc-" });
  try {
    for (let i = 0; i < 40; i++) {
      const dir = join(src, `d${i % 4}`);
      await Deno.mkdir(dir, { recursive: true });
      await Deno.writeFile(join(dir, `f${i}.txt`), text(2000 + i * 997, i));
    }
    await Deno.writeFile(join(src, "big.bin"), randomBytes(random, 7));
    await Deno.symlink("d0/f0.txt", join(src, "link"));
    const out = await new Deno.Command("tar", {
      args: [`--format=${format}`, "--sort=name", "-C", src, "-cf", "-", "."],
      stdout: "piped",
    }).output();
    assert.ok(out.success);
    const gz = await gzipBytes(out.stdout);
    const scan = await scanLayer([gz], { compression: "gzip", spanSize: SPAN });
    return { gz, tar: out.stdout, z: buildZtoc(scan), entries: scan.entries };
  } finally {
    await Deno.remove(src, { recursive: true });
  }
}

/** The same instant, written in another zone (+01:00). */
function otherZone(t: string): string {
  const m = /^(.*?)(\.\d+)?Z$/.exec(t)!;
  const shifted = new Date(Date.parse(m[1] + "Z") + 3600_000).toISOString().slice(0, 19);
  return `${shifted}${m[2] ?? ""}+01:00`;
}

/** TOCs damaged one way each (or changed in ways that are not damage), with a name. */
function damaged(z: Ztoc): Array<[string, Ztoc]> {
  const toc = z.toc;
  const reg = toc.map((m, i) => [m, i] as const).filter(([m]) => m.type === "reg").map(([, i]) =>
    i
  );
  const link = toc.findIndex((m) => m.type === "symlink");
  const withPax = toc.findIndex((m) => m.xattrs.length >= 2);
  const edit = (at: number[], f: (m: FileMetadata) => FileMetadata): Ztoc => ({
    ...z,
    toc: toc.map((m, i) => at.includes(i) ? f(m) : m),
  });
  const modes = edit(reg.slice(0, 6), (m) => ({ ...m, mode: 0o600 }));
  const pax: Array<[string, Ztoc]> = withPax < 0 ? [] : [
    [
      "PAX records in another order",
      edit([withPax], (m) => ({ ...m, xattrs: [...m.xattrs].reverse() })),
    ],
    [
      "a PAX value",
      edit([withPax], (m) => ({
        ...m,
        xattrs: m.xattrs.map(([k, v], i) => [k, i === 0 ? new TextEncoder().encode("1") : v]),
      })),
    ],
  ];
  return [
    ...pax,
    ["untouched", z],
    [
      "an offset",
      edit([reg[3]], (m) => ({ ...m, uncompressedOffset: m.uncompressedOffset + 512 })),
    ],
    ["a name", edit([reg[1]], (m) => ({ ...m, name: new TextEncoder().encode("./nope") }))],
    ["a type", edit([reg[2]], (m) => ({ ...m, type: "fifo" }))],
    ["a gid", edit([reg[5]], (m) => ({ ...m, gid: 7 }))],
    ["a size", edit([reg[6]], (m) => ({ ...m, uncompressedSize: m.uncompressedSize - 1 }))],
    ["a devmajor", edit([reg[7]], (m) => ({ ...m, devmajor: 8 }))],
    ["a devminor", edit([reg[7]], (m) => ({ ...m, devminor: 9 }))],
    ["a link target", edit([link], (m) => ({ ...m, linkname: new TextEncoder().encode("x") }))],
    ["a uname", edit([reg[8]], (m) => ({ ...m, uname: new TextEncoder().encode("someone-else") }))],
    ["a gname", edit([reg[2]], (m) => ({ ...m, gname: new TextEncoder().encode("wheel") }))],
    ["mod times in another zone", edit(reg, (m) => ({ ...m, modTime: otherZone(m.modTime) }))],
    ["a later mod time", edit([reg[4]], (m) => ({ ...m, modTime: "2001-01-01T00:00:00Z" }))],
    ["the last entry missing", { ...z, toc: toc.slice(0, -1) }],
    ["an entry too many", {
      ...z,
      toc: [...toc, { ...toc.at(-1)!, uncompressedOffset: z.uncompressedArchiveSize }],
    }],
    ["seven uids", edit(reg.slice(0, 7), (m) => ({ ...m, uid: 4242 }))],
    ["the archive size", { ...z, uncompressedArchiveSize: z.uncompressedArchiveSize + 512 }],
    ["all at once (capped)", {
      ...modes,
      toc: modes.toc.slice(0, -1),
      uncompressedArchiveSize: z.uncompressedArchiveSize + 1024,
    }],
  ];
}

Deno.test("verify TOC check: the problems of comparing afterwards, in the same words", async (t) => {
  for (const format of ["posix", "gnu"] as const) {
    await t.step(`tar --format=${format}`, () => sameWords(format));
  }
});

async function sameWords(format: "posix" | "gnu"): Promise<void> {
  const layer = await paxLayer(format);
  const records = layer.entries.filter((e) => e.pax.length > 0).length;
  if (format === "posix") {
    assert.ok(layer.entries.some((e) => e.mtimeNanos !== 0), "sub-second times");
    assert.equal(records, layer.entries.length, "PAX records on every entry");
  } else assert.equal(records, 0, "no PAX records: the quick test decides");
  const cases = damaged(layer.z);
  let listed = 0;
  for (const [name, z] of cases) {
    const bytes = encodeZtoc(z);
    const want = reference(decodeZtoc(bytes), layer.entries, layer.z.uncompressedArchiveSize);
    listed += want.length;
    for (const toc of [ZtocView.decode(bytes), tocEntries(decodeZtoc(bytes).toc)]) {
      const check = new TocCheck(toc, z.uncompressedArchiveSize);
      for (const e of layer.entries) check.push(e);
      const got = check.end(layer.z.uncompressedArchiveSize);
      assert.deepEqual(got.problems, want, name);
      assert.equal(got.entries, layer.entries.length);
    }
    if (name === "untouched" || name.includes("another")) assert.deepEqual(want, [], name);
    else assert.notDeepEqual(want, [], name);
    if (name.includes("capped") || name === "seven uids") assert.match(want[5], /^… and \d+ more/);
  }
  assert.ok(listed > cases.length);

  // A tar entry no zTOC can hold (a contiguous file): that alone is said.
  const odd = layer.entries.map((e, i) => i === 5 ? { ...e, typeflag: "7" } : e);
  const check = new TocCheck(ZtocView.decode(encodeZtoc(cases[1][1])), 0);
  for (const e of odd) check.push(e);
  const want = reference(layer.z, odd, 0);
  assert.equal(want.length, 1);
  assert.deepEqual(check.end(0).problems, want);
  assert.match(want[0], /a zTOC cannot hold: unsupported input tar entry '7'/);
}

Deno.test("verify TOC check: on the worker (copied or handed over) as in the calling thread", async (t) => {
  for (const format of ["posix", "gnu"] as const) {
    await t.step(`tar --format=${format}`, () => onTheWorker(format));
  }
});

async function onTheWorker(format: "posix" | "gnu"): Promise<void> {
  const layer = await paxLayer(format);
  const pool = new VerifyPool().start();
  try {
    for (const [name, z] of damaged(layer.z)) {
      const bytes = encodeZtoc(z);
      const want = reference(decodeZtoc(bytes), layer.entries, layer.z.uncompressedArchiveSize);
      const here = new LayerVerifier(z, zinfoOf(z), { toc: ZtocView.decode(bytes) });
      // Pushed in pieces that are not chunk-sized.
      for (let at = 0; at < layer.gz.length; at += 100_003) {
        here.push(layer.gz.subarray(at, at + 100_003));
      }
      const copied = ZtocView.decode(bytes);
      const given = ZtocView.decode(bytes.slice());
      const results = [
        here.end(),
        await pool.check(copied.header, zinfoOf(copied.header), [layer.gz], { toc: copied }),
        await pool.check(given.header, zinfoOf(given.header), [layer.gz], {
          toc: given,
          transferToc: true,
        }),
      ];
      assert.equal(copied.bytes.byteLength, bytes.length, "copied: still here");
      assert.equal(given.bytes.byteLength, 0, "handed over: gone from this thread");
      for (const r of results) {
        assert.equal(r.decodeError, undefined, name);
        assert.deepEqual(r.toc, { entries: layer.entries.length, problems: want }, name);
        assert.deepEqual(r.entries, [], "compared, not kept");
        assert.deepEqual(r.spanDigests, layer.z.spanDigests);
        assert.equal(r.windows.length, 0);
        // (A claimed size past the tar's end makes the last span's probe want more.)
        if (z.uncompressedArchiveSize === layer.z.uncompressedArchiveSize) {
          assert.equal(r.resumes.length, 0, name);
        }
      }
    }
    // Without a TOC the entries come back, as before.
    const plain = await pool.check(layer.z, zinfoOf(layer.z), [layer.gz]);
    assert.equal(plain.toc, undefined);
    assert.equal(plain.entries.length, layer.entries.length);
  } finally {
    pool.close();
  }
}

Deno.test("verify: a damaged window is reported at its offset wherever the output is cut", async () => {
  const layer = await paxLayer();
  const zinfo = decodeGzipZinfo(layer.z.checkpoints);
  const k = zinfo.checkpoints.findIndex((c) => c.out >= 3 * 32768);
  assert.ok(k > 0);
  const out = zinfo.checkpoints[k].out;
  for (const at of [0, 1, 16_000, 32_767]) {
    const window = zinfo.checkpoints[k].window.slice();
    window[at] ^= 0x20;
    const cps = zinfo.checkpoints.map((c, i) => i === k ? { ...c, window } : c);
    const z = { ...layer.z, checkpoints: encodeGzipZinfo(zinfo.spanSize, cps) };
    for (const piece of [layer.gz.length, 65_536, 3_001]) {
      const v = new LayerVerifier(z, zinfoOf(z));
      for (let p = 0; p < layer.gz.length; p += piece) v.push(layer.gz.subarray(p, p + piece));
      const check = v.end();
      assert.deepEqual(check.windows, [{ checkpoint: k, out, at: out - 32768 + at }], `${piece}`);
    }
  }
});

Deno.test("verify: a resume probe gives the layer's bytes however it is fed", async () => {
  const layer = await paxLayer();
  const tar = layer.tar;
  const cps = decodeGzipZinfo(layer.z.checkpoints).checkpoints;
  // The span with the most compressed bytes (random data): a probe of 200
  // KiB there reads far more than the 64 KiB given to the resumer at once.
  let widest = 0;
  for (let i = 1; i < cps.length - 1; i++) {
    if (cps[i + 1].in - cps[i].in > cps[widest + 1].in - cps[widest].in) widest = i;
  }
  assert.ok(cps[widest + 1].in - cps[widest].in > 60_000);
  for (const cp of [cps[1], cps[widest]]) {
    const from = cp.bits !== 0 ? cp.in - 1 : cp.in;
    for (const piece of [layer.gz.length, 1_000]) {
      const probe = new ResumeProbe(cp, 200_000);
      for (let p = from; p < layer.gz.length && !probe.done; p += piece) {
        probe.push(layer.gz.subarray(p, p + piece));
      }
      assert.ok(probe.done && probe.error === undefined);
      assert.equal(probe.produced, Math.min(200_000, tar.length - cp.out));
      assert.deepEqual(
        probe.output.subarray(0, probe.produced),
        tar.subarray(cp.out, cp.out + probe.produced),
      );
    }
  }
});

Deno.test("verify: a zTOC of more than 1 MiB (handed to the worker) is checked in full", async () => {
  const dir = await Deno.makeTempDir({ prefix: "soci-verify-big-" });
  const store = LocalStore.open(join(dir, "root"));
  try {
    const layer = await paxLayer("gnu", 3 << 20);
    const built: BuiltLayer = {
      mediaType: OCI_GZIP,
      digest: sha256(layer.gz),
      size: layer.gz.length,
      bytes: layer.gz,
      diffId: sha256(layer.tar),
      tarSize: layer.tar.length,
    };
    const layout = await writeLayout(join(dir, "layout"), "v1", [built]);
    const image = `oci:${layout.dir}:v1`;
    const made = await createIndexes(await openImage(image), store, {
      spanSize: SPAN,
      minLayerSize: 0,
    });
    const index = decodeManifest(await store.readBlob(made.indexes[0].index.descriptor.digest));
    const good = await store.readBlob(index.layers[0].digest);
    assert.ok(good.length > (1 << 20) + 1, `a zTOC of ${good.length} bytes`);
    assert.ok((await verifyImage(image, { store })).ok);

    // The same index with an entry's offset wrong (planted in the store).
    const z = decodeZtoc(good);
    const i = z.toc.findIndex((m) => m.type === "reg" && m.uncompressedSize > 1000);
    const bad = encodeZtoc({
      ...z,
      toc: z.toc.map((m, n) =>
        n === i ? { ...m, uncompressedOffset: m.uncompressedOffset + 512 } : m
      ),
    });
    const plant = async (bytes: Uint8Array) => {
      const digest = sha256(bytes);
      await Deno.writeFile(store.blobPath(digest), bytes);
      return { digest, size: bytes.length };
    };
    const ztoc = await plant(bad);
    const doc = { ...index, layers: [{ ...index.layers[0], ...ztoc }, ...index.layers.slice(1)] };
    const r = await verifyImage(image, {
      store,
      indexDigest: (await plant(encodeManifest(doc))).digest,
    });
    assert.equal(r.ok, false);
    assert.deepEqual(r.layers[0].problems, [
      `TOC entry ${i} ${JSON.stringify(utf8.decode(z.toc[i].name))}: uncompressed_offset is ${
        z.toc[i].uncompressedOffset + 512
      }, the layer has ${z.toc[i].uncompressedOffset}`,
    ]);
    assert.equal(r.layers[0].entries, layer.entries.length);
    assert.ok(r.layers[0].checkpoints > 32);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
