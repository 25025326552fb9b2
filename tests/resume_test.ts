/**
 * Resuming at a checkpoint, through its three callers' doors: the pulled
 * `inflateFromCheckpoint` (reads of spans), the pushed `CheckpointResumer`
 * and the `ResumeProbe` of verify. Each gives the bytes a full decompression
 * gives, across gzip members, and says the same about data that ends early
 * or is corrupt.
 */
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import type { Checkpoint } from "../lib/gzip/checkpoint.ts";
import { CheckpointInflater } from "../lib/gzip/inflater.ts";
import { CheckpointResumer, inflateFromCheckpoint } from "../lib/gzip/resume.ts";
import { ResumeProbe } from "../lib/ztoc/resume_probe.ts";
import { concat, randomBytes, textBytes } from "./helpers/bytes.ts";

const SPAN = 64 * 1024;

/** Two gzip members (text, then random bytes), their plain bytes and checkpoints. */
function sample(): { gz: Uint8Array; plain: Uint8Array; cps: Checkpoint[] } {
  const a = textBytes(300_000, 7);
  const b = randomBytes(200_000, 8);
  const gz = concat([gzipSync(a, { level: 6 }), gzipSync(b, { level: 6 })]);
  const inf = new CheckpointInflater(SPAN, { data: () => {} });
  inf.push(gz);
  return { gz, plain: concat([a, b]), cps: inf.end().checkpoints };
}

/** The compressed bytes a resume at `cp` starts from. */
function from(gz: Uint8Array, cp: Checkpoint): Uint8Array {
  return gz.subarray(cp.bits !== 0 ? cp.in - 1 : cp.in);
}

async function pull(
  cp: Checkpoint,
  chunks: Uint8Array[],
  skip: number,
  length: number,
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of inflateFromCheckpoint(cp, chunks, skip, length)) parts.push(p);
  return concat(parts);
}

/** `bytes` in pieces of `n`. */
function pieces(bytes: Uint8Array, n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += n) out.push(bytes.subarray(i, i + n));
  return out;
}

Deno.test("resume: every checkpoint gives the full decompression's bytes, across members", async () => {
  const { gz, plain, cps } = sample();
  assert.ok(cps.length >= 6, `${cps.length} checkpoints`);
  for (const cp of cps) {
    const rest = plain.length - cp.out;
    const got = await pull(cp, pieces(from(gz, cp), 10_000), 100, rest - 100);
    assert.deepEqual(got, plain.subarray(cp.out + 100));
    const r = new CheckpointResumer(cp);
    for (const p of pieces(from(gz, cp), 7_000)) r.feed(p);
    const out: Uint8Array[] = [];
    assert.equal(r.run(rest, (v) => out.push(v.slice())), true);
    r.free();
    assert.deepEqual(concat(out), plain.subarray(cp.out));
    const probe = new ResumeProbe(cp, 40_000);
    for (const p of pieces(from(gz, cp), 5_000)) probe.push(p);
    const want = Math.min(40_000, rest);
    assert.equal(probe.produced, want);
    assert.deepEqual(probe.output.subarray(0, want), plain.subarray(cp.out, cp.out + want));
    assert.equal(probe.error, undefined);
  }
});

Deno.test("resume: data that ends early or is corrupt", async () => {
  const { gz, cps } = sample();
  const cp = cps[2];
  const head = from(gz, cp).subarray(0, 3_000);
  // Ends early: the message counts the wanted bytes still missing.
  const counter = new CheckpointResumer(cp);
  counter.feed(head);
  assert.equal(counter.run(1 << 20, () => {}), false);
  const produced = counter.produced;
  counter.free();
  assert.ok(produced > 0 && produced < 1 << 20);
  await assert.rejects(() => pull(cp, [head], 0, 1 << 20), {
    name: "BadInputError",
    message: `cannot decompress span: compressed data ended ${(1 << 20) - produced} bytes short`,
  });
  await assert.rejects(() => pull(cp, [head], 1 << 21, 10), {
    message: "cannot decompress span: compressed data ended 10 bytes short",
  });
  // A probe that runs out of input is not done and has no error.
  const short = new ResumeProbe(cp, 1 << 20);
  short.push(head);
  assert.equal(short.done, false);
  assert.equal(short.produced, produced);
  short.free();
  // Corrupt: a reserved block type (0b11) where the first block starts.
  const bad = from(gz, cps[0]).slice();
  bad[0] |= 0x06;
  await assert.rejects(() => pull(cps[0], [bad], 0, 100), {
    name: "BadInputError",
    message: /^cannot decompress span: gzip data is corrupt: invalid block type$/,
  });
  const probe = new ResumeProbe(cps[0], 100);
  probe.push(bad);
  assert.equal(probe.done, true);
  assert.equal(probe.error, "gzip data is corrupt: invalid block type");
});
