/**
 * The native inflater (Deno's zlib driven block by block, bits found by
 * WASM probes) against the WASM one, which is byte-identical to upstream:
 * same bytes, same checkpoints (offsets, bits, windows), same members and
 * errors, for every encoder setting, chunking and span size, and on the
 * streams that make its bit offsets ambiguous (stored blocks right after
 * blocks of huge output, empty flush blocks, odd gzip headers). Also the
 * `settled` contract the span hashing relies on.
 */
import assert from "node:assert/strict";
import { constants, crc32, createGzip, deflateRawSync, gzipSync } from "node:zlib";
import { createHash } from "node:crypto";
import { CheckpointInflater } from "../lib/gzip/inflater.ts";
import {
  checkpointInflater,
  NativeCheckpointInflater,
  nativeInflateAvailable,
} from "../lib/gzip/native_inflater.ts";
import { LayerHasher } from "../lib/ztoc/scan.ts";
import { concat, xorshift32 } from "./helpers/bytes.ts";

/** Text-like runs, noise, and long zero runs (blocks of huge output next to stored ones). */
function payload(seed: number, size: number): Uint8Array {
  const next = xorshift32(seed);
  const out = new Uint8Array(size);
  let i = 0;
  while (i < size) {
    const kind = next() % 5;
    const n = Math.min(size - i, kind === 0 ? 200_000 + next() % 2_000_000 : 1 + next() % 60_000);
    if (kind === 1 || kind === 2) {
      for (let k = 0; k < n; k++) out[i + k] = next() & 0xff; // stored blocks
    } else if (kind === 3) {
      for (let k = 0; k < n; k++) out[i + k] = 0x61 + next() % 7 + (k % 9 === 0 ? -0x41 : 0);
    } // else zeros
    i += n;
  }
  return out;
}

interface Outcome {
  result: string;
  checkpoints: string[];
  replays: number;
}

/**
 * Inflates `gz` in `step`-byte pieces. `native-views`: the native inflater
 * keeps views of the pieces, each scribbled over as soon as `needFrom` is
 * past it (as the scan worker reuses them).
 */
function run(
  engine: "native" | "native-views" | "wasm",
  gz: Uint8Array,
  step: number,
  span: number,
): Outcome {
  const hash = createHash("sha256");
  const sink = { data: (b: Uint8Array) => void hash.update(b) };
  const inf = engine === "wasm"
    ? new CheckpointInflater(span, sink)
    : new NativeCheckpointInflater(span, sink, { keepsInput: engine === "native-views" });
  const held: Array<{ at: number; bytes: Uint8Array }> = [];
  try {
    for (let off = 0; off < gz.length; off += step) {
      const piece = new Uint8Array(gz.subarray(off, off + step)); // a copy (Buffer#slice is a view)
      inf.push(piece);
      held.push({ at: off, bytes: piece });
      while (
        inf instanceof NativeCheckpointInflater && held.length > 0 &&
        held[0].at + held[0].bytes.length <= inf.needFrom
      ) held.shift()!.bytes.fill(0x5a);
    }
    const s = inf.end();
    return {
      result: `ok ${s.totalIn} ${s.totalOut} ${s.members} ${hash.digest("hex")}`,
      checkpoints: s.checkpoints.map((c) =>
        `${c.in}/${c.out}/${c.bits}/${createHash("sha256").update(c.window).digest("hex")}`
      ),
      replays: inf instanceof NativeCheckpointInflater ? inf.replays : 0,
    };
  } catch (e) {
    inf.free();
    return { result: (e as Error).message, checkpoints: [], replays: 0 };
  }
}

/** A gzip member with every optional header field. */
function fancyMember(data: Uint8Array): Uint8Array {
  const extra = new TextEncoder().encode("AB\x04\x00soci");
  const name = new TextEncoder().encode("layer.tar\0");
  const comment = new TextEncoder().encode("a comment\0");
  const head = concat([
    Uint8Array.of(0x1f, 0x8b, 8, 2 | 4 | 8 | 16, 1, 2, 3, 4, 0, 3),
    Uint8Array.of(extra.length, 0),
    extra,
    name,
    comment,
  ]);
  const hcrc = crc32(head) & 0xffff;
  const trailer = new Uint8Array(8);
  const dv = new DataView(trailer.buffer);
  dv.setUint32(0, crc32(data), true);
  dv.setUint32(4, data.length, true);
  return concat([head, Uint8Array.of(hcrc & 0xff, hcrc >> 8), deflateRawSync(data), trailer]);
}

/** A gzip stream with a full flush (an empty stored block) between pieces. */
async function flushed(pieces: Uint8Array[]): Promise<Uint8Array> {
  const z = createGzip({ level: 6 });
  const out: Uint8Array[] = [];
  z.on("data", (b: Uint8Array) => out.push(new Uint8Array(b)));
  const done = new Promise((resolve) => z.on("end", resolve));
  for (const p of pieces) {
    z.write(p);
    await new Promise((resolve) => z.flush(constants.Z_FULL_FLUSH, () => resolve(undefined)));
  }
  z.end();
  await done;
  return concat(out);
}

Deno.test("native zlib can be driven block by block here", () => {
  // The tests below would compare WASM with WASM otherwise.
  assert.equal(nativeInflateAvailable(), true);
});

Deno.test("native and WASM inflaters agree: bytes, checkpoints, bits, windows", async () => {
  const streams: Array<[string, Uint8Array]> = [];
  let seed = 1;
  for (const level of [0, 1, 6, 9]) {
    streams.push([`level ${level}`, gzipSync(payload(seed++, 3_000_000), { level })]);
  }
  for (const strategy of [constants.Z_HUFFMAN_ONLY, constants.Z_RLE, constants.Z_FIXED]) {
    streams.push([`strategy ${strategy}`, gzipSync(payload(seed++, 1_500_000), { strategy })]);
  }
  streams.push(["small window", gzipSync(payload(seed++, 1_000_000), { windowBits: 9 })]);
  streams.push([
    "fancy headers, 3 members",
    concat([
      fancyMember(payload(seed++, 400_000)),
      fancyMember(new Uint8Array(0)),
      gzipSync(payload(seed++, 700_000)),
    ]),
  ]);
  streams.push([
    "full flushes",
    await flushed([payload(seed++, 300_000), payload(seed++, 1), payload(seed++, 500_000)]),
  ]);
  // A block of huge output (zeros) across the point where the native
  // inflater starts stopping at every block: the block before a checkpoint
  // then starts where it did not stop, and a stored block follows.
  const noise = payload(seed++, 600_000).map((b, i) => (b * 7 + i * 13) & 0xff);
  streams.push([
    "zeros across the lead",
    gzipSync(concat([
      payload(seed++, 3_000_000),
      new Uint8Array(3_500_000),
      noise,
    ])),
  ]);
  let checkpoints = 0;
  let replays = 0;
  for (const [label, gz] of streams) {
    for (const span of [0, 30_000, 1 << 20, 4 << 20]) {
      for (const step of [gz.length, 65_536, 4_093]) {
        const want = run("wasm", gz, step, span);
        const got = run("native", gz, step, span);
        const what = `${label}, span ${span}, pieces of ${step}`;
        assert.ok(want.result.startsWith("ok"), what);
        assert.equal(got.result, want.result, what);
        assert.deepEqual(got.checkpoints, want.checkpoints, what);
        if (step !== gz.length) {
          const views = run("native-views", gz, step, span);
          assert.equal(views.result, want.result, `${what}, views`);
          assert.deepEqual(views.checkpoints, want.checkpoints, `${what}, views`);
        }
        checkpoints += want.checkpoints.length;
        replays += got.replays;
      }
    }
  }
  assert.ok(checkpoints > 1_000, `only ${checkpoints} checkpoints compared`);
  // Some stops could only be told by inflating from the last checkpoint.
  assert.ok(replays > 0, "the replay path was not exercised");
});

Deno.test("native inflater: stops that may be block ends, pushed byte by byte", () => {
  const gz = concat([gzipSync(payload(77, 120_000)), fancyMember(payload(78, 30_000))]);
  for (const span of [0, 5_000]) {
    for (const step of [1, 3, 8]) {
      const want = run("wasm", gz, step, span);
      const got = run("native", gz, step, span);
      assert.equal(got.result, want.result);
      assert.deepEqual(got.checkpoints, want.checkpoints, `span ${span}, pieces of ${step}`);
    }
  }
});

Deno.test("native inflater: the same errors as WASM zlib", () => {
  const first = gzipSync(payload(5, 400_000));
  const good = concat([first, gzipSync(payload(6, 100_000))]);
  const cases: Array<[string, Uint8Array]> = [
    ["empty", new Uint8Array(0)],
    ["not gzip", new TextEncoder().encode("this is not gzip at all")],
    ["bad method", Uint8Array.of(0x1f, 0x8b, 7, 0, 0, 0, 0, 0, 0, 3)],
    ["reserved flags", Uint8Array.of(0x1f, 0x8b, 8, 0x20, 0, 0, 0, 0, 0, 3)],
    ["trailing garbage", concat([good, Uint8Array.of(1, 2, 3)])],
    ["trailing zeros", concat([good, new Uint8Array(10)])],
  ];
  const m = first.length;
  for (const cut of [5, 11, 1000, m >> 1, m - 3, m + 4, m + 20, good.length - 9, good.length - 1]) {
    cases.push([`truncated at ${cut}`, good.subarray(0, cut)]);
  }
  for (const at of [m - 6, m + 2, good.length - 6, good.length - 2]) {
    const bad = good.slice();
    bad[at] ^= 0x01;
    cases.push([`flipped byte ${at}`, bad]);
  }
  for (const [label, gz] of cases) {
    for (const step of [Math.max(1, gz.length), 4_093]) {
      const want = run("wasm", gz, step, 1 << 20).result;
      assert.ok(!want.startsWith("ok"), label);
      assert.equal(run("native", gz, step, 1 << 20).result, want, `${label}, pieces of ${step}`);
    }
  }
  // Corrupt deflate data: zlib's words; the byte offset may differ (zlib
  // reads ahead differently in each build), the kind of error may not.
  for (const at of [30, m >> 1, m + 40]) {
    const bad = good.slice();
    for (let k = 0; k < 64; k++) bad[at + k] ^= 0xa5;
    const want = run("wasm", bad, 65_536, 1 << 20).result;
    const got = run("native", bad, 65_536, 1 << 20).result;
    assert.match(want, /^gzip data is corrupt at byte \d+: /);
    assert.match(got, /^gzip data is corrupt at byte \d+: /);
  }
});

Deno.test("native inflater: span starts settle in order, so span digests come out right", () => {
  const gz = gzipSync(payload(9, 4_000_000), { level: 6 });
  const span = 200_000;
  const sha = (b: Uint8Array) => "sha256:" + createHash("sha256").update(b).digest("hex");
  for (const step of [gz.length, 100_000, 9_999]) {
    const hasher = new LayerHasher("gzip", span);
    let found: Array<{ in: number; bits: number }> = [];
    let settled = 0;
    const inf = checkpointInflater(span, { data: () => {}, checkpoint: (c) => found.push(c) });
    for (let off = 0; off < gz.length; off += step) {
      const chunk = gz.subarray(off, off + step);
      inf.push(chunk);
      for (const s of found) assert.ok(s.in > settled && s.in <= inf.settled);
      settled = inf.settled;
      hasher.push(chunk, found, settled);
      found = [];
    }
    const { checkpoints } = inf.end();
    const late = checkpoints.filter((c) => c.in > settled);
    const { spanDigests } = hasher.end(late);
    // What the span digests are, from the whole stream at once (F§5.3).
    const want = checkpoints.map((c, i) => {
      const from = c.bits !== 0 ? c.in - 1 : c.in;
      const to = i + 1 < checkpoints.length ? checkpoints[i + 1].in : gz.length;
      return sha(gz.subarray(from, to));
    });
    assert.deepEqual(spanDigests, want, `pieces of ${step}`);
  }
});

Deno.test("native inflater: spans too large to inflate again stop at every block end", () => {
  // Past 48 MiB a span's input is not all kept for a replay: every block
  // end is a stop instead (blocks of zeros here make 4 MiB of output,
  // more than the output buffer keeps: those still need a replay, from
  // the input that is kept). Mostly zeros, so that it stays quick.
  const parts: Uint8Array[] = [];
  for (let i = 0; i < 12; i++) {
    parts.push(new Uint8Array(9_000_000), payload(300 + i, 200_000));
  }
  const gz = gzipSync(concat(parts), { level: 6 });
  for (const span of [50 << 20, 60 << 20]) {
    const want = run("wasm", gz, 1 << 20, span);
    const got = run("native", gz, 1 << 20, span);
    assert.equal(got.result, want.result);
    assert.ok(want.checkpoints.length >= 2);
    assert.deepEqual(got.checkpoints, want.checkpoints, `span ${span}`);
  }
});
