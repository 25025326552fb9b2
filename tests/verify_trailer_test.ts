/**
 * `verify`'s decoding half checks each gzip member's CRC-32 and length
 * (natively, not in WASM zlib): a layer whose trailer is wrong fails with
 * zlib's message, on the worker and in the calling thread alike, and a
 * sound layer passes.
 */
import assert from "node:assert/strict";
import { TAR_TRAILER, tarHeader } from "../lib/tar/writer.ts";
import { buildZtoc } from "../lib/ztoc/builder.ts";
import { scanLayer } from "../lib/ztoc/scan.ts";
import { zinfoOf } from "../lib/ztoc/spans.ts";
import { LayerVerifier } from "../lib/ztoc/verify_layer.ts";
import { VerifyPool } from "../lib/ztoc/verify_pool.ts";
import type { LayerCheck } from "../lib/ztoc/verify_layer.ts";
import type { Ztoc } from "../lib/ztoc/model.ts";
import { concat, randomBytes, textBytes } from "./helpers/bytes.ts";

const SPAN = 1 << 16;

/** A real gzip (system `gzip -n`) of a tar of a few files (text and random), 400 KiB in all. */
async function gzipLayer(): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < 4; i++) {
    const body = i % 2 ? randomBytes(100 * 1024 + i, i + 1) : textBytes(100 * 1024 + i, i + 1);
    parts.push(
      tarHeader({ name: `f${i}.txt`, mode: 0o644, size: body.length, type: "file" }),
      body,
    );
    parts.push(new Uint8Array((512 - body.length % 512) % 512));
  }
  parts.push(TAR_TRAILER);
  const child = new Deno.Command("gzip", { args: ["-n", "-6"], stdin: "piped", stdout: "piped" })
    .spawn();
  const writer = child.stdin.getWriter();
  await writer.write(concat(parts));
  await writer.close();
  const out = await child.output();
  assert.ok(out.success);
  return out.stdout;
}

async function both(z: Ztoc, bytes: Uint8Array): Promise<LayerCheck[]> {
  const zinfo = zinfoOf(z);
  const here = new LayerVerifier(z, zinfo);
  here.push(bytes);
  const pool = new VerifyPool();
  try {
    return [here.end(), await pool.check(z, zinfo, [bytes])];
  } finally {
    pool.close();
  }
}

Deno.test("verify: the gzip trailer (CRC-32, length) is checked, on the worker and here", async () => {
  const layer = await gzipLayer();
  const z = buildZtoc(await scanLayer([layer], { compression: "gzip", spanSize: SPAN }));
  assert.ok(z.maxSpanId >= 3, "several spans");
  for (const check of await both(z, layer)) {
    assert.equal(check.decodeError, undefined);
    assert.equal(check.entries.length, 4);
    assert.equal(check.uncompressedSize, z.uncompressedArchiveSize);
  }
  const cases: Array<[number, RegExp]> = [
    [layer.length - 8, /incorrect data check/], // CRC-32
    [layer.length - 4, /incorrect length check/], // ISIZE
  ];
  for (const [at, message] of cases) {
    const bad = layer.slice();
    bad[at] ^= 0x01;
    for (const check of await both(z, bad)) {
      assert.match(check.decodeError ?? "", message);
      assert.deepEqual(check.entries, []);
    }
  }
});
