/**
 * The inflater bounds its checkpoints (each holds a 32 KiB window): a gzip
 * stream of many tiny deflate blocks cannot make it hold gigabytes of
 * windows (hardening issue, `MAX_SPANS`, which the scan passes as
 * `maxCheckpoints`).
 */
import assert from "node:assert/strict";
import { BadInputError } from "../lib/errors.ts";
import { CheckpointInflater } from "../lib/gzip/inflater.ts";
import { textBytes } from "./helpers/bytes.ts";

const SINK = { data: () => {} };

/** A gzip stream of many deflate blocks: text through the real `gzip -1`. */
async function manyBlocks(): Promise<Uint8Array> {
  const file = await Deno.makeTempFile();
  try {
    await Deno.writeFile(file, textBytes(2 << 20, 3));
    const out = await new Deno.Command("gzip", { args: ["-1", "-n", "-c", file], stdout: "piped" })
      .output();
    return out.stdout;
  } finally {
    await Deno.remove(file);
  }
}

Deno.test("the inflater refuses its (maxCheckpoints + 1)th checkpoint with a clear error", async () => {
  const gz = await manyBlocks();
  // How many checkpoints span size 0 gives (every non-final block boundary).
  const all = new CheckpointInflater(0, SINK);
  all.push(gz);
  const n = all.end().checkpoints.length;
  assert.ok(n > 10, `only ${n} blocks`);
  const capped = new CheckpointInflater(0, SINK, { maxCheckpoints: n - 1 });
  assert.throws(() => {
    capped.push(gz);
    capped.end();
  }, (e: Error) => {
    assert.ok(e instanceof BadInputError);
    assert.match(e.message, new RegExp(`more than ${n - 1} checkpoints .*\\(MAX_SPANS\\)`));
    return true;
  });
  const exact = new CheckpointInflater(0, SINK, { maxCheckpoints: n });
  exact.push(gz);
  assert.equal(exact.end().checkpoints.length, n);
});
