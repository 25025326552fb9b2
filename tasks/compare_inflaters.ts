/**
 * Compares the native inflater with the WASM one (byte-identical to
 * upstream's checkpoints) on gzip files, at several span sizes and chunk
 * sizes: every checkpoint's offsets, bits and window must be equal. Prints
 * one line per case and exits 1 on any difference.
 *
 * ```sh
 * deno run -A tasks/compare_inflaters.ts .bench/*.tar.gz
 * ```
 *
 * @module
 */
import { CheckpointInflater } from "../lib/gzip/inflater.ts";
import type { Checkpoint } from "../lib/gzip/checkpoint.ts";
import { NativeCheckpointInflater } from "../lib/gzip/native_inflater.ts";

function checkpoints(
  engine: "wasm" | "native",
  data: Uint8Array,
  chunk: number,
  span: number,
): { checkpoints: Checkpoint[]; replays: number } {
  const sink = { data: () => {} };
  const inf = engine === "wasm"
    ? new CheckpointInflater(span, sink)
    : new NativeCheckpointInflater(span, sink);
  for (let o = 0; o < data.length; o += chunk) inf.push(data.subarray(o, o + chunk));
  const s = inf.end();
  return {
    checkpoints: s.checkpoints,
    replays: inf instanceof NativeCheckpointInflater ? inf.replays : 0,
  };
}

function same(a: Checkpoint, b: Checkpoint | undefined): boolean {
  return b !== undefined && a.in === b.in && a.out === b.out && a.bits === b.bits &&
    a.window.length === b.window.length && a.window.every((v, i) => v === b.window[i]);
}

let bad = 0;
for (const file of Deno.args) {
  const data = Deno.readFileSync(file);
  const spans = data.length < 20e6 ? [0, 65536, 1 << 20, 4 << 20] : [1 << 20, 4 << 20];
  for (const span of spans) {
    for (const chunk of [1 << 20, 65536, 4093]) {
      const want = checkpoints("wasm", data, chunk, span).checkpoints;
      const got = checkpoints("native", data, chunk, span);
      const diff = want.filter((c, i) => !same(c, got.checkpoints[i])).length +
        Math.max(0, got.checkpoints.length - want.length);
      bad += diff;
      console.log(
        `${file} span ${span} chunk ${chunk}: ${want.length} checkpoints, ` +
          `${diff} different, ${got.replays} replays`,
      );
    }
  }
}
if (bad > 0) Deno.exit(1);
