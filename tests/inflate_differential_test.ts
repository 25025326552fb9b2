/**
 * Differential test of the WASM inflater (with its inflate_fast patch)
 * against node:zlib's native deflate: many generated payloads, compressed
 * with every level, several strategies and window sizes, must inflate to
 * their exact bytes, also when resumed from every checkpoint. The gzip
 * CRC-32 and length checks done outside WASM (natively, on the inflate
 * thread or on another one) give zlib's own verdicts and messages.
 */
import assert from "node:assert/strict";
import { constants, gzipSync } from "node:zlib";
import { createHash } from "node:crypto";
import { CheckpointInflater } from "../lib/gzip/inflater.ts";
import { inflateFromCheckpoint } from "../lib/gzip/resume.ts";
import { GzipCheck, nativeCrc32 } from "../lib/gzip/crc_check.ts";
import { concat, xorshift32 } from "./helpers/bytes.ts";

/** Mixed data: runs, short-period patterns, copies from far back, text, noise. */
function payload(seed: number, size: number): Uint8Array {
  const next = xorshift32(seed);
  const out = new Uint8Array(size);
  let i = 0;
  while (i < size) {
    const kind = next() % 6;
    const n = Math.min(size - i, 1 + next() % 5000);
    if (kind === 0) out.fill(next() & 0xff, i, i + n); // run (distance 1)
    else if (kind === 1) { // period 2..12 (short distances, overlapping copies)
      const p = 2 + next() % 11;
      for (let k = 0; k < n; k++) out[i + k] = k < p ? next() & 0xff : out[i + k - p];
    } else if (kind === 2 && i > 0) { // copy from up to 40 KB back
      const from = Math.max(0, i - 1 - next() % 40000);
      for (let k = 0; k < n; k++) out[i + k] = out[from + k];
    } else if (kind === 3) { // text-like
      for (let k = 0; k < n; k++) out[i + k] = 0x61 + next() % 7 + (k % 9 === 0 ? -0x41 : 0);
    } else {
      for (let k = 0; k < n; k++) out[i + k] = next() & 0xff;
    }
    i += n;
  }
  return out;
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

Deno.test("WASM inflate equals the input for every level, strategy and window size", async () => {
  const cases: Array<{ level: number; strategy: number; windowBits: number; memLevel: number }> =
    [];
  for (let level = 0; level <= 9; level++) {
    cases.push({ level, strategy: constants.Z_DEFAULT_STRATEGY, windowBits: 15, memLevel: 8 });
  }
  for (
    const strategy of [
      constants.Z_FILTERED,
      constants.Z_HUFFMAN_ONLY,
      constants.Z_RLE,
      constants.Z_FIXED,
    ]
  ) {
    cases.push({ level: 6, strategy, windowBits: 15, memLevel: 8 });
  }
  for (const windowBits of [9, 10, 12]) {
    cases.push({ level: 9, strategy: constants.Z_DEFAULT_STRATEGY, windowBits, memLevel: 1 });
  }
  let seed = 1;
  let resumed = 0;
  for (const c of cases) {
    const data = payload(seed++, 300_000 + (seed * 7919) % 200_000);
    const gz = gzipSync(data, c);
    const hash = createHash("sha256");
    let n = 0;
    const inf = new CheckpointInflater(40_000, {
      data: (b) => {
        hash.update(b);
        n += b.length;
      },
    });
    // odd chunk sizes, so that input ends fall anywhere
    for (let off = 0; off < gz.length; off += 7_777) inf.push(gz.subarray(off, off + 7_777));
    const { checkpoints } = inf.end();
    const label = JSON.stringify(c);
    assert.equal(n, data.length, label);
    assert.equal(hash.digest("hex"), sha(data), label);
    resumed += checkpoints.length;
    for (const cp of checkpoints) {
      const len = Math.min(70_000, data.length - cp.out);
      if (len <= 0) continue;
      const parts: Uint8Array[] = [];
      const src = gz.subarray(cp.bits ? cp.in - 1 : cp.in);
      const chunks = [];
      for (let off = 0; off < src.length; off += 3_001) chunks.push(src.subarray(off, off + 3_001));
      for await (const p of inflateFromCheckpoint(cp, chunks, 0, len)) parts.push(p);
      const got = new Uint8Array(len);
      let o = 0;
      for (const p of parts) {
        got.set(p, o);
        o += p.length;
      }
      assert.equal(o, len, label);
      assert.equal(sha(got), sha(data.subarray(cp.out, cp.out + len)), `${label} @${cp.out}`);
    }
  }
  // The encoders' block sizes decide how many checkpoints there are; make
  // sure resuming was exercised well beyond one per stream.
  assert.ok(resumed > cases.length * 3, `only ${resumed} checkpoints`);
});

/** Inflates `gz` in `step`-byte pieces with the given CRC-32 check; returns the error message or "ok". */
function inflateWith(gz: Uint8Array, step: number, mode: "zlib" | "native" | "caller"): string {
  const check = new GzipCheck();
  const hash = createHash("sha256");
  const inf = new CheckpointInflater(1 << 16, {
    data: (b) => {
      hash.update(b);
      if (mode === "caller") check.data(b);
    },
    member: (m) => check.member(m),
  }, { check: mode === "native" ? nativeCrc32 : mode });
  try {
    for (let off = 0; off < gz.length; off += step) inf.push(gz.subarray(off, off + step));
    const s = inf.end();
    if (mode === "caller") check.end();
    return `ok ${s.members} ${hash.digest("hex")}`;
  } catch (e) {
    inf.free();
    return (e as Error).message;
  }
}

Deno.test("gzip CRC-32 and length checks: native and caller-side checks say what zlib says", () => {
  const parts = [payload(101, 7_000), payload(102, 1), payload(103, 25_000)];
  const members = parts.map((p) => new Uint8Array(gzipSync(p, { level: 6 })));
  const streams: Array<[string, Uint8Array]> = [["three members", concat(members)]];
  // A flipped bit in each trailer field of each member.
  let end = 0;
  for (let i = 0; i < members.length; i++) {
    end += members[i].length;
    for (
      const [field, at] of [["crc", end - 8], ["crc", end - 5], ["size", end - 4], [
        "size",
        end - 1,
      ]] as const
    ) {
      const bad = concat(members);
      bad[at] ^= 0x10;
      streams.push([`member ${i} ${field} byte ${at}`, bad]);
    }
  }
  let errors = 0;
  for (const [label, gz] of streams) {
    for (const step of [1, 5, 8, 9, 4096, gz.length]) {
      const want = inflateWith(gz, step, "zlib");
      if (!want.startsWith("ok")) errors++;
      assert.equal(inflateWith(gz, step, "native"), want, `${label}, pieces of ${step}`);
      assert.equal(inflateWith(gz, step, "caller"), want, `${label}, pieces of ${step}`);
    }
  }
  // zlib did find every corrupt trailer (so the comparison above compared errors).
  assert.equal(errors, (streams.length - 1) * 6);
});

Deno.test("ScanPool (CRC-32 checked on the main thread) and scanLayer agree on multi-member layers", async () => {
  const { ScanPool } = await import("../lib/ztoc/scan_pool.ts");
  const { scanLayer } = await import("../lib/ztoc/scan.ts");
  const { goTar } = await import("./helpers/tar_go_writer.ts");
  const tar = goTar(
    Array.from({ length: 40 }, (_, i) => ({ name: `f${i}`, data: payload(200 + i, 20_000) })),
  );
  // Members of uneven sizes, with empty members between, cut at arbitrary points.
  const cuts = [0, 1, 10_000, 10_000, 333_333, 400_000, tar.length, tar.length];
  const ms = cuts.slice(1).map((c, i) => new Uint8Array(gzipSync(tar.subarray(cuts[i], c))));
  const good = new Uint8Array(ms.reduce((n, m) => n + m.length, 0));
  let at = 0;
  const ends: number[] = [];
  for (const m of ms) {
    good.set(m, at);
    at += m.length;
    ends.push(at);
  }
  const badCrc = good.slice();
  badCrc[ends[3] - 7] ^= 1;
  const badSize = good.slice();
  badSize[ends[4] - 2] ^= 1;
  const pool = new ScanPool(1);
  try {
    for (
      const [label, gz] of [["good", good], ["bad crc", badCrc], ["bad size", badSize]] as const
    ) {
      const chunks = () =>
        Array.from(
          { length: Math.ceil(gz.length / 7_001) },
          (_, i) => gz.subarray(i * 7_001, (i + 1) * 7_001),
        );
      const opts = { compression: "gzip" as const, spanSize: 50_000 };
      const outcome = async (p: Promise<unknown>) => {
        try {
          const s = await p as {
            entries: unknown[];
            checkpoints: unknown[];
            spanDigests: string[];
          };
          return JSON.stringify([s.entries.length, s.checkpoints.length, s.spanDigests]);
        } catch (e) {
          return (e as Error).message;
        }
      };
      const one = await outcome(scanLayer(chunks(), opts));
      const two = await outcome(pool.scan(chunks(), opts));
      assert.equal(two, one, label);
      if (label === "good") assert.match(one, /^\[40,/);
      else {assert.match(
          one,
          /^gzip data is corrupt at byte \d+: incorrect (data|length) check$/,
          label,
        );}
    }
  } finally {
    pool.close();
  }
});
