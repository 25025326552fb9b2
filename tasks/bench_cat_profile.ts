/**
 * Where the time of `cat` goes (issue 10): the benchmark image of
 * `bench_read.ts` served by a local registry, and per round (interleaved,
 * min of `--rounds`):
 *
 * * the reference: downloading the first layer's blob once;
 * * downloading its zTOC blob alone (digest checked);
 * * `openFile` in-process with an empty store, as `bench_read.ts` times it;
 * * `listFiles` (every layer's zTOC decoded whole and merged), for `ls`;
 * * the same read split in phases through `ImageFiles`: `open` (manifest
 *   and index discovery), `stat` (the zTOCs the lookup needs: fetched,
 *   checked, decoded, indexed) and `bytes` (the spans: fetched, checked,
 *   inflated).
 *
 * Then the costs of parts done in memory (no network): sha256 of the zTOC,
 * its full decode, the lookup index of its TOC, and the inflate of the
 * file's spans from bytes in memory — the floor of the read phase. Last,
 * the HTTP timeline of one `openFile` (every request: start, headers, end,
 * bytes), to see what waits on what.
 *
 * With `--base DIR` (a checkout of another revision, e.g. made with `git
 * archive REV | tar -x -C DIR`), that revision's `openFile` is timed in the
 * same rounds, for a before/after comparison in one run. With
 * `--dependence`, for every checkpoint of the first layer: how far the
 * output depends on the checkpoint's window (what decides whether a read
 * can start there, `lib/ztoc/extract.ts`).
 *
 * ```sh
 * deno run -A tasks/bench_cat_profile.ts [--data real|generated] [--rounds 5] [--size-mib N]
 *   [--base DIR] [--dependence]
 * ```
 *
 * @module
 */
import { dataKinds, parseArgs, realSizeArg, sizeArg } from "./bench_data.ts";
import { drain, serveBenchImage } from "./bench_read.ts";
import { ImageFiles, listFiles, openFile } from "../lib/use_cases/read_files.ts";
import { sha256Digest } from "../lib/oci/digest.ts";
import { decodeZtoc } from "../lib/ztoc/codec.ts";
import { validateZtoc, zinfoOf } from "../lib/ztoc/spans.ts";
import { LayerFiles } from "../lib/soci/merged_tree.ts";
import { ZtocLayerIndex } from "../lib/soci/ztoc_layer_index.ts";
import { ZtocView } from "../lib/ztoc/ztoc_view.ts";
import { extractFile, findFile } from "../lib/ztoc/extract.ts";
import { CheckpointResumer, inflateFromCheckpoint } from "../lib/gzip/resume.ts";
import { type Checkpoint, WINDOW_SIZE } from "../lib/gzip/checkpoint.ts";

const fmt = (ms: number) => `${ms.toFixed(1).padStart(7)} ms`;

/** One HTTP request seen by `fetch`. */
interface Request {
  what: string;
  start: number;
  headers: number;
  end: number;
  bytes: number;
}

/** Wraps `globalThis.fetch` to record every request (start, headers, body end). */
function traceFetch(): { log: Request[]; t0: number; reset(): void; restore(): void } {
  const original = globalThis.fetch;
  const state = { log: [] as Request[], t0: performance.now() };
  globalThis.fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const range = new Headers(init?.headers).get("range");
    const path = url.pathname.replace(/sha256:([0-9a-f]{8})[0-9a-f]{56}/g, "sha256:$1…")
      .replace(/sha256-([0-9a-f]{8})[0-9a-f]{56}/g, "sha256-$1…");
    const rec: Request = {
      what: `${init?.method ?? "GET"} ${path}${range ? ` (${range})` : ""}`,
      start: performance.now() - state.t0,
      headers: 0,
      end: 0,
      bytes: 0,
    };
    state.log.push(rec);
    const res = await original(input, init);
    rec.headers = performance.now() - state.t0;
    if (!res.body) {
      rec.end = rec.headers;
      return res;
    }
    const reader = res.body.getReader();
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        const { done, value } = await reader.read();
        if (done) {
          rec.end = performance.now() - state.t0;
          c.close();
        } else {
          rec.bytes += value.length;
          c.enqueue(value);
        }
      },
      cancel(reason) {
        rec.end = performance.now() - state.t0;
        return reader.cancel(reason);
      },
    });
    return new Response(body, {
      status: res.status,
      statusText: res.statusText,
      headers: res.headers,
    });
  };
  return {
    get log() {
      return state.log;
    },
    get t0() {
      return state.t0;
    },
    reset() {
      state.log = [];
      state.t0 = performance.now();
    },
    restore() {
      globalThis.fetch = original;
    },
  };
}

/**
 * For each checkpoint after the first: how much output inflating from it
 * takes until the stored and the complement window give 32 KiB of equal
 * bytes in a row (from there on the output does not depend on the window),
 * up to `limit` (Infinity beyond).
 */
function windowDependence(layer: Uint8Array, checkpoints: Checkpoint[], limit: number): number[] {
  const out: number[] = [];
  for (let i = 1; i < checkpoints.length; i++) {
    const cp = checkpoints[i];
    const input = layer.subarray(cp.bits !== 0 ? cp.in - 1 : cp.in);
    const a = new CheckpointResumer(cp);
    const b = new CheckpointResumer(cp, cp.window.map((x) => x ^ 0xff));
    a.feed(input);
    b.feed(input);
    const step = 65536;
    const buf = new Uint8Array(step);
    let agree = 0;
    let at = Infinity;
    try {
      while (a.produced < limit) {
        const from = a.produced;
        const more = a.run(from + step, (v) => buf.set(v, a.produced - v.length - from));
        let pos = from;
        b.run(a.produced, (v) => {
          for (let k = 0; k < v.length; k++) {
            agree = v[k] === buf[pos - from + k] ? agree + 1 : 0;
          }
          pos += v.length;
        });
        if (agree >= WINDOW_SIZE) {
          at = a.produced;
          break;
        }
        if (!more) break;
      }
    } finally {
      a.free();
      b.free();
    }
    out.push(at);
  }
  return out;
}

async function time(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

/** `openFile` as exported by `read_files.ts`. */
type OpenFile = typeof openFile;

async function profile(
  data: "real" | "generated",
  size: number,
  n: number,
  base?: string,
  dependence = false,
): Promise<void> {
  const baseModule = base === undefined
    ? undefined
    : await import(`file://${base}/lib/use_cases/read_files.ts`);
  const baseOpen: OpenFile | undefined = baseModule?.openFile;
  const baseList: typeof listFiles | undefined = baseModule?.listFiles;
  const log = (s: string) => console.error(s);
  const served = await serveBenchImage(data, size, log);
  const { image, ref, repo, registry, client, path, fileSize } = served;
  const layer = image.layers[0];
  try {
    // The first layer's zTOC and the file's entry, for the in-memory parts.
    let ztocDesc;
    let ztocBytes: Uint8Array;
    {
      await using files = await ImageFiles.open(ref, { registry });
      ztocDesc = files.layers[0].ztoc!;
      ztocBytes = await files.blob(ztocDesc);
    }
    const z = decodeZtoc(ztocBytes);
    const zinfo = zinfoOf(z);
    const entry = findFile(z.toc, path);
    const off = entry.uncompressedOffset;
    const first = zinfo.spanOf(off);
    const last = Math.min(zinfo.spanOf(off + fileSize), zinfo.numSpans - 1);
    const from = Math.max(0, first - 1);
    const cStart = zinfo.compressedRange(from, z.compressedArchiveSize)[0];
    const cEnd = zinfo.compressedRange(last, z.compressedArchiveSize)[1];
    const spanBytes = await client.blobs.getRange(repo, layer.digest, cStart, cEnd, {
      size: layer.size,
    });
    const memReader = async function* (s: number, e: number) {
      yield spanBytes.subarray(s - cStart, e - cStart);
    };
    const ownStart = zinfo.compressedRange(first, z.compressedArchiveSize)[0];
    const cpOwn = zinfo.checkpoints[first];
    log(
      `file at ${off}, spans ${first}..${last} (reads from span ${from}); ` +
        `compressed bytes of spans ${from}..${last}: ${spanBytes.length}; ` +
        `from the file's own checkpoint: ${cEnd - ownStart}; ` +
        `uncompressed from checkpoint ${from}: ${off + fileSize - zinfo.checkpoints[from].out}, ` +
        `from checkpoint ${first}: ${off + fileSize - cpOwn.out}`,
    );

    const rows = new Map<string, number[]>();
    const add = (k: string, ms: number) => {
      const xs = rows.get(k) ?? [];
      xs.push(ms);
      rows.set(k, xs);
    };
    for (let r = 0; r < n; r++) {
      add(
        "download: layer blob",
        await time(async () => {
          const got = await drain(
            await client.blobs.chunks(repo, layer.digest, { size: layer.size }),
          );
          if (got !== layer.size) throw new Error("short download");
        }),
      );
      add(
        "request: 1 KiB range of the layer",
        await time(() => client.blobs.getRange(repo, layer.digest, 1 << 20, (1 << 20) + 1024)),
      );
      add(
        "request: the image's manifest",
        await time(() => client.manifests.get(repo, "bench")),
      );
      add(
        "download: zTOC blob of layer 0 (checked)",
        await time(() => client.blobs.get(repo, ztocDesc)),
      );
      add(
        "cat: openFile, drained",
        await time(async () => {
          const got = await drain(await openFile(ref, path, { registry }));
          if (got !== fileSize) throw new Error("short cat");
        }),
      );
      if (baseOpen) {
        add(
          "cat: openFile of --base, drained",
          await time(async () => {
            const got = await drain(await baseOpen(ref, path, { registry }));
            if (got !== fileSize) throw new Error("short cat (base)");
          }),
        );
      }
      add(
        "ls: listFiles (every layer's TOC, merged)",
        await time(() => listFiles(ref, { registry })),
      );
      if (baseList) {
        add("ls: listFiles of --base", await time(() => baseList(ref, { registry })));
      }
      let files: ImageFiles | undefined;
      const t0 = performance.now();
      add(
        "  phase open (manifest, discovery)",
        await time(async () => files = await ImageFiles.open(ref, { registry })),
      );
      add("  phase stat (zTOCs, lookup)", await time(() => files!.stat(path, { follow: true })));
      add(
        "  phase bytes (spans, inflate)",
        await time(async () => {
          const got = await drain(await files!.bytes(path));
          if (got !== fileSize) throw new Error("short read");
        }),
      );
      add("  phases total", performance.now() - t0);
      await files!.close();
      // In-memory parts.
      add("mem: sha256 of the zTOC", await time(() => sha256Digest(ztocBytes)));
      add("mem: decodeZtoc (full)", await time(() => decodeZtoc(ztocBytes)));
      add("mem: zinfoOf + validateZtoc", await time(() => (zinfoOf(z), validateZtoc(z))));
      add("mem: LayerFiles index of the TOC", await time(() => new LayerFiles(z.toc, 0)));
      add("mem: ZtocView.decode (lazy)", await time(() => ZtocView.decode(ztocBytes)));
      const view = ZtocView.decode(ztocBytes);
      add(
        "mem: ZtocLayerIndex, hash tables of every name",
        await time(() => new ZtocLayerIndex(view, 0).entry(path)),
      );
      add(
        "mem: ZtocLayerIndex prepared for the path",
        await time(() => {
          const index = new ZtocLayerIndex(view, 0);
          index.prepare(path);
          return index.entry(path);
        }),
      );
      add(
        "mem: extractFile from memory (hash, inflate, window check)",
        await time(async () => {
          const got = await drain(extractFile(z, entry, memReader, zinfo));
          if (got !== fileSize) throw new Error("short extract");
        }),
      );
      add(
        "mem: inflate from the file's own checkpoint to its end",
        await time(async () => {
          const input = spanBytes.subarray(ownStart - cStart);
          const got = await drain(inflateFromCheckpoint(cpOwn, [input], off - cpOwn.out, fileSize));
          if (got !== fileSize) throw new Error("short inflate");
        }),
      );
      add(
        "mem: sha256 of the spans' compressed bytes",
        await time(() => sha256Digest(spanBytes)),
      );
    }
    const min = (xs: number[]) => Math.min(...xs);
    const dl = min(rows.get("download: layer blob")!);
    console.log(
      `== ${data}: layer ${layer.size} B (${layer.uncompressedSize} uncompressed), ` +
        `zTOC ${ztocDesc.size} B, file ${path} (${fileSize} B); min of ${n} rounds`,
    );
    for (const [k, xs] of rows) {
      console.log(`${k.padEnd(62)} ${fmt(min(xs))}  ${(min(xs) / dl).toFixed(3)}×`);
    }

    if (dependence) {
      const bytes = await client.blobs.get(repo, layer);
      const d = windowDependence(bytes, zinfo.checkpoints, 4 << 20);
      const within = (n: number) => d.filter((x) => x <= n).length;
      const pct = (n: number) => `${((100 * within(n)) / d.length).toFixed(0)} %`;
      console.log(
        `window dependence of layer 0's ${d.length} checkpoints after the first: independent ` +
          `within 256 KiB ${pct(256 << 10)}, 512 KiB ${pct(512 << 10)}, 1 MiB ${pct(1 << 20)}, ` +
          `4 MiB ${pct(4 << 20)}`,
      );
    }

    // The HTTP timeline of one openFile.
    const trace = traceFetch();
    try {
      let best = Infinity;
      let bestLog: Request[] = [];
      for (let r = 0; r < Math.max(3, n); r++) {
        trace.reset();
        const got = await drain(await openFile(ref, path, { registry }));
        const total = performance.now() - trace.t0;
        if (got !== fileSize) throw new Error("short cat");
        if (total < best) {
          best = total;
          bestLog = trace.log;
        }
      }
      console.log(`HTTP timeline of the fastest traced openFile (${fmt(best)} in all):`);
      for (const q of bestLog) {
        console.log(
          `  ${fmt(q.start)} → headers ${fmt(q.headers)} → end ${fmt(q.end)}  ` +
            `${String(q.bytes).padStart(9)} B  ${q.what}`,
        );
      }
    } finally {
      trace.restore();
    }
  } finally {
    await served.stop();
  }
}

if (import.meta.main) {
  const { values } = parseArgs(Deno.args, {
    "size-mib": "string",
    rounds: "string",
    data: "string",
    base: "string",
    dependence: "bool",
  });
  const [data] = dataKinds(values, "real");
  const n = Number(values.rounds ?? 5);
  const base = values.base === undefined ? undefined : String(values.base).replace(/\/$/, "");
  const size = data === "real" ? realSizeArg(values) : sizeArg(values);
  await profile(data, size, n, base, values.dependence === true);
}
