/**
 * zTOC encoding: `encodeZtoc` (the library's FlatBuffers writer) against
 * the npm `Builder` encoder it replaced (`tests/helpers/ztoc_builder_oracle.ts`),
 * on the zTOC of a real layer. The model is built once (the layer scanned
 * on a worker as `ztoc build` does, or a zTOC file decoded), then, in this
 * process: the time to load each encoder's modules, the first call of
 * each (cold: nothing compiled yet), and `--rounds` calls of each,
 * alternating (warm: min and median). With `--fresh N`, N more first calls
 * of each, each in a fresh process (alternating), give cold medians with
 * the order effects of one process removed. Both encoders' bytes are
 * checked to be equal.
 *
 * ```sh
 * deno run -A tasks/bench_encode.ts [--layer FILE | --ztoc FILE] [--rounds 30] [--fresh 0]
 *   [--oracle-first]
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";

const DEFAULT_LAYER =
  new URL("../.bench/real-r2-314572800-74612b6d1ba5-0of9.tar.gz", import.meta.url)
    .pathname;
const SELF = new URL(import.meta.url).pathname;

type Encode = (z: import("../lib/ztoc/model.ts").Ztoc) => Uint8Array;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    layer: { type: "string", default: DEFAULT_LAYER },
    ztoc: { type: "string" },
    rounds: { type: "string", default: "30" },
    fresh: { type: "string", default: "0" },
    "oracle-first": { type: "boolean", default: false },
    child: { type: "string" }, // internal: "writer" or "oracle", one cold call
  },
});

const ms = (t: number) => `${t.toFixed(2)} ms`;

/** Loads the two encoders (the writer first), timing each load. */
async function loadEncoders(oracleFirst: boolean) {
  const load = async <T>(f: () => Promise<T>): Promise<[T, number]> => {
    const t0 = performance.now();
    const m = await f();
    return [m, performance.now() - t0];
  };
  const writer = () => import("../lib/ztoc/codec.ts");
  const oracle = () => import("../tests/helpers/ztoc_builder_oracle.ts");
  if (oracleFirst) {
    const [o, to] = await load(oracle);
    const [w, tw] = await load(writer);
    return { writer: w.encodeZtoc as Encode, oracle: o.encodeZtocWithBuilder as Encode, tw, to };
  }
  const [w, tw] = await load(writer);
  const [o, to] = await load(oracle);
  return { writer: w.encodeZtoc as Encode, oracle: o.encodeZtocWithBuilder as Encode, tw, to };
}

/** The model: a decoded zTOC file, or the layer scanned on a worker as `ztoc build` does. */
async function model() {
  if (values.ztoc) {
    const { decodeZtoc } = await import("../lib/ztoc/codec.ts");
    return decodeZtoc(await Deno.readFile(values.ztoc));
  }
  const [{ ScanPool }, { readFileChunks }, { buildZtoc }, { DEFAULT_SPAN_SIZE }] = await Promise
    .all([
      import("../lib/ztoc/scan_pool.ts"),
      import("../lib/image/file_layer.ts"),
      import("../lib/ztoc/builder.ts"),
      import("../lib/oci/media_types.ts"),
    ]);
  try {
    await Deno.stat(values.layer);
  } catch {
    throw new Error(
      `${values.layer} is missing: make it with tasks/bench_data.ts (ensureRealLayer), or pass --ztoc`,
    );
  }
  const pool = new ScanPool(1);
  try {
    const scan = await pool.scan(readFileChunks(values.layer, 0, Infinity, { reuse: true }), {
      compression: "detect",
      spanSize: DEFAULT_SPAN_SIZE,
    });
    return buildZtoc(scan);
  } finally {
    pool.close();
  }
}

function time(encode: Encode, z: Parameters<Encode>[0]): [number, Uint8Array] {
  const t0 = performance.now();
  const out = encode(z);
  return [performance.now() - t0, out];
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** A fresh process: the model, then one call of one encoder; prints its time. */
async function child(which: string): Promise<void> {
  const z = await model();
  const { writer, oracle } = await loadEncoders(which === "oracle");
  const [t] = time(which === "oracle" ? oracle : writer, z);
  console.log(JSON.stringify({ which, ms: t }));
}

async function freshCold(which: string): Promise<number> {
  const args = ["run", "-A", SELF, "--child", which, "--layer", values.layer];
  if (values.ztoc) args.push("--ztoc", values.ztoc);
  const out = await new Deno.Command(Deno.execPath(), { args, stderr: "inherit" }).output();
  if (!out.success) throw new Error(`child ${which} failed`);
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!).ms;
}

async function main(): Promise<void> {
  if (values.child) return await child(values.child);
  const oracleFirst = values["oracle-first"];
  const { writer, oracle, tw, to } = await loadEncoders(oracleFirst);
  console.log(
    `module load: codec.ts with the writer ${ms(tw)}, the Builder oracle ` +
      `(npm flatbuffers${oracleFirst ? ", codec.ts" : ""}) ${ms(to)}` +
      ` (${oracleFirst ? "oracle" : "writer"} loaded first)`,
  );
  const t0 = performance.now();
  const z = await model();
  const entries = z.toc.length;
  const pax = z.toc.reduce((n, e) => n + e.xattrs.length, 0);
  console.log(
    `model: ${entries} entries, ${pax} PAX records, ${z.spanDigests.length} spans ` +
      `(${ms(performance.now() - t0)} to ${values.ztoc ? "decode" : "scan"})`,
  );

  // Cold: the first call of each, in this process.
  const order: Array<["writer" | "oracle", Encode]> = oracleFirst
    ? [["oracle", oracle], ["writer", writer]]
    : [["writer", writer], ["oracle", oracle]];
  const cold: Record<string, number> = {};
  const outs: Record<string, Uint8Array> = {};
  for (const [name, encode] of order) [cold[name], outs[name]] = time(encode, z);
  if (!same(outs.writer, outs.oracle)) throw new Error("the two encoders' bytes differ");
  const { sha256Digest } = await import("../lib/oci/digest.ts");
  console.log(`zTOC: ${outs.writer.length} bytes, ${await sha256Digest(outs.writer)}; equal bytes`);
  console.log(
    `result buffer: writer ${outs.writer.buffer.byteLength} bytes, ` +
      `oracle ${outs.oracle.buffer.byteLength} bytes (a view of ${outs.oracle.length})`,
  );
  console.log(
    `cold (first call, ${order[0][0]} first): writer ${ms(cold.writer)}, oracle ${
      ms(cold.oracle)
    }: oracle / writer = ${(cold.oracle / cold.writer).toFixed(2)}`,
  );

  // Warm: alternating.
  const rounds = Math.max(1, Number(values.rounds));
  const warm: Record<string, number[]> = { writer: [], oracle: [] };
  for (let i = 0; i < rounds; i++) {
    const pair = i % 2 === 0 ? order : [order[1], order[0]];
    for (const [name, encode] of pair) warm[name].push(time(encode, z)[0]);
  }
  const min = (xs: number[]) => Math.min(...xs);
  console.log(
    `warm (${rounds} alternating rounds): writer min ${ms(min(warm.writer))} median ${
      ms(median(warm.writer))
    }; oracle min ${ms(min(warm.oracle))} median ${ms(median(warm.oracle))}`,
  );
  console.log(
    `  oracle / writer: min ${(min(warm.oracle) / min(warm.writer)).toFixed(2)}, median ${
      (median(warm.oracle) / median(warm.writer)).toFixed(2)
    }`,
  );

  // What first-touching fresh memory of the zTOC's size costs on this machine
  // (both encoders pay it whenever their buffer is not recycled memory).
  const touch = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    const buf = new Uint8Array(outs.writer.length);
    for (let j = 0; j < buf.length; j += 4096) buf[j] = 1;
    touch.push(performance.now() - t);
  }
  console.log(`touching a fresh buffer of that size: ${ms(median(touch))} (median of 3)`);

  const fresh = Number(values.fresh);
  if (fresh > 0) {
    const runs: Record<string, number[]> = { writer: [], oracle: [] };
    for (let i = 0; i < fresh; i++) {
      for (const which of i % 2 === 0 ? ["writer", "oracle"] : ["oracle", "writer"]) {
        runs[which].push(await freshCold(which));
      }
    }
    console.log(
      `cold in fresh processes (${fresh} each, alternating): writer median ${
        ms(median(runs.writer))
      } [${runs.writer.map((t) => t.toFixed(1)).join(" ")}], oracle median ${
        ms(median(runs.oracle))
      } [${runs.oracle.map((t) => t.toFixed(1)).join(" ")}]: oracle / writer = ${
        (median(runs.oracle) / median(runs.writer)).toFixed(2)
      }`,
    );
  }
}

await main();
