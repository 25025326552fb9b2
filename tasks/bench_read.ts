/**
 * Benchmarks of using the index (issue 10), each against a reference timed
 * in the same run, min of several rounds:
 *
 * * `cat` of a ~1 MiB file from the middle of a large layer served by
 *   Debian's docker-registry on loopback — `openFile` in-process, with an
 *   empty store (index discovery, the zTOC and the spans included) — versus
 *   downloading that layer blob once (goal ≤ 0.05×); with the bytes the
 *   `cat` fetched against the bound 2 × span + file + the zTOCs (of every
 *   layer: the lookup reads them from the top down to the file's) and
 *   documents.
 *   The same `cat` through the CLI (a whole `deno run` process) is shown
 *   for information.
 * * `verify` of the image (its layers' zTOCs, one streaming pass each)
 *   versus `ztoc build` of the same layer files, both in-process from local
 *   files (goal ≤ 1.0×), their rounds alternating (a build, a verify, …) so
 *   that a busy spell of a shared machine weighs on both.
 *
 * The inputs are {@link benchImage}: the shared images of `bench_data.ts`,
 * real content (two layers of the machine's own `/usr` files, about 300 MiB
 * of tar each) and generated (one layer, `--size-mib`, default 320), each
 * measured in its own run (`--data real|generated|both`, default both).
 *
 * ```sh
 * deno run -A tasks/bench_read.ts                 # both kinds of data, 5 rounds
 * deno run -A tasks/bench_read.ts --data generated --size-mib 64 --rounds 3 --json
 * ```
 *
 * @module
 */
import { join } from "node:path";
import {
  dataKinds,
  ensureImage,
  ensureRealImage,
  type ImageInfo,
  parseArgs,
  realSizeArg,
  sizeArg,
} from "./bench_data.ts";
import { skopeoCopyToRegistry, startRegistry } from "../tests/helpers/registry.ts";
import { createIndexes } from "../lib/use_cases/create.ts";
import { pushIndexes } from "../lib/use_cases/push.ts";
import { ImageFiles, openFile } from "../lib/use_cases/read_files.ts";
import { ReadStats } from "../lib/use_cases/read_stats.ts";
import { verifyImage } from "../lib/use_cases/verify.ts";
import { openImage } from "../lib/image/open.ts";
import { fileLayer } from "../lib/image/file_layer.ts";
import { spans, ztoc } from "../lib/pipeline.ts";
import { LocalStore } from "../lib/store/local_store.ts";
import { RegistryClient } from "../lib/registry/client.ts";
import { decodeZtoc } from "../lib/ztoc/codec.ts";
import { DEFAULT_SPAN_SIZE } from "../lib/oci/media_types.ts";

/** Goals of issue 10. */
export const GOALS = { cat: 0.05, verify: 1.0 } as const;

/**
 * The benchmark's input: an OCI layout (tag `bench`), real content (two
 * layers of `/usr` files) or generated (one layer); the `cat` file is taken
 * from its first layer.
 */
export function benchImage(
  data: "real" | "generated",
  size: number,
  log: (s: string) => void,
): Promise<ImageInfo> {
  return data === "real" ? ensureRealImage({ size, log }) : ensureImage({ seeds: [1], size, log });
}

/** Runs `fn` `n` times; returns the times in seconds. */
export async function rounds(n: number, fn: () => Promise<void>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    out.push((performance.now() - t) / 1000);
  }
  return out;
}

/** Runs `a` then `b`, `n` times over; returns the times of each in seconds. */
export async function alternating(
  n: number,
  a: () => Promise<void>,
  b: () => Promise<void>,
): Promise<[number[], number[]]> {
  const as: number[] = [];
  const bs: number[] = [];
  for (let i = 0; i < n; i++) {
    as.push(...await rounds(1, a));
    bs.push(...await rounds(1, b));
  }
  return [as, bs];
}

/** Reads a stream to its end; returns the number of bytes. */
export async function drain(stream: AsyncIterable<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const c of stream) n += c.length;
  return n;
}

const min = (xs: number[]) => Math.min(...xs);
const fmt = (s: number) => `${(s * 1000).toFixed(1)} ms`;

/** The benchmark image served by a local registry, with its SOCI index pushed. */
export interface ServedImage {
  /** The image of `bench_data.ts`. */
  image: ImageInfo;
  /** `docker://host/repo:bench`. */
  ref: string;
  /** The repository in the registry. */
  repo: string;
  /** Registry options for `openFile` and friends (plain HTTP, no Docker config). */
  registry: { plainHttp: true; configDir: string };
  /** A client of the registry. */
  client: RegistryClient;
  /** The store the index was built in. */
  store: LocalStore;
  /** A scratch directory (removed by `stop`). */
  scratch: string;
  /** The `cat` file: a regular file near 1 MiB, nearest the middle of the first layer. */
  path: string;
  /** Its size. */
  fileSize: number;
  /** Size of the first layer's zTOC. */
  ztocSize: number;
  /** Sizes of every layer's zTOC (the lookup of a file of the first layer reads them all). */
  ztocSizes: number;
  /** Stops the registry and removes the scratch directory. */
  stop(): Promise<void>;
}

/**
 * Pushes the benchmark image to a fresh local registry, builds and pushes
 * its SOCI index, and picks the `cat` file.
 */
export async function serveBenchImage(
  data: "real" | "generated",
  size: number,
  log: (s: string) => void,
): Promise<ServedImage> {
  const image = await benchImage(data, size, log);
  const scratch = await Deno.makeTempDir({ prefix: "soci-bench-read-" });
  const reg = await startRegistry();
  let client: RegistryClient | undefined;
  let store: LocalStore | undefined;
  try {
    const repo = "bench/read";
    const ref = `docker://${reg.host}/${repo}:bench`;
    const registry = { plainHttp: true as const, configDir: join(scratch, "no-docker-config") };
    log(`pushing ${image.dir} to ${ref} …`);
    await skopeoCopyToRegistry(image.dir, image.tag, `${reg.host}/${repo}:bench`);
    store = LocalStore.open(join(scratch, "root"));
    const src = await openImage(ref, { registry });
    await createIndexes(src, store, { minLayerSize: 0, spanSize: DEFAULT_SPAN_SIZE });
    await src.close?.();
    client = new RegistryClient(reg.host, { plainHttp: true });
    await pushIndexes(store, `${reg.host}/${repo}:bench`, client, repo);

    // The file: a regular file near 1 MiB, nearest the middle of the layer.
    let path = "";
    let fileSize = 0;
    let ztocSize = 0;
    let ztocSizes = 0;
    {
      await using files = await ImageFiles.open(ref, { registry });
      const z = decodeZtoc(await files.blob(files.layers[0].ztoc!));
      ztocSize = files.layers[0].ztoc!.size;
      ztocSizes = files.layers.reduce((n, l) => n + (l.ztoc?.size ?? 0), 0);
      const mid = z.uncompressedArchiveSize / 2;
      const score = (m: (typeof z.toc)[0]) =>
        Math.abs(Math.log2(m.uncompressedSize / 1048576)) * 4 +
        Math.abs(m.uncompressedOffset - mid) / z.uncompressedArchiveSize;
      const best = z.toc.filter((m) => m.type === "reg" && m.uncompressedSize > 0)
        .sort((a, b) => score(a) - score(b))[0];
      path = new TextDecoder().decode(best.name);
      fileSize = best.uncompressedSize;
      log(
        `file ${path}: ${fileSize} bytes at offset ${best.uncompressedOffset} of ` +
          `${z.uncompressedArchiveSize} (zTOC ${ztocSize} bytes, ${z.maxSpanId + 1} spans)`,
      );
    }
    const c = client;
    const st = store;
    return {
      image,
      ref,
      repo,
      registry,
      client: c,
      store: st,
      scratch,
      path,
      fileSize,
      ztocSize,
      ztocSizes,
      stop: async () => {
        c.close();
        st.close();
        await reg.stop();
        await Deno.remove(scratch, { recursive: true });
      },
    };
  } catch (e) {
    client?.close();
    store?.close();
    await reg.stop();
    await Deno.remove(scratch, { recursive: true });
    throw e;
  }
}

async function benchRead(
  data: "real" | "generated",
  size: number,
  n: number,
  json: boolean,
): Promise<void> {
  const log = (s: string) => console.error(s);
  const served = await serveBenchImage(data, size, log);
  const { image, ref, repo, registry, client, store, scratch, path, fileSize, ztocSizes } = served;
  const layer = image.layers[0];
  try {
    const download = await rounds(n, async () => {
      const got = await drain(await client.blobs.chunks(repo, layer.digest, { size: layer.size }));
      if (got !== layer.size) throw new Error("short download");
    });
    let fetched = 0;
    const cat = await rounds(n, async () => {
      const stats = new ReadStats();
      const got = await drain(await openFile(ref, path, { registry, stats }));
      if (got !== fileSize) throw new Error("short cat");
      fetched = stats.total();
    });
    const cli = await rounds(Math.min(n, 3), async () => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--quiet",
          new URL("../cli.ts", import.meta.url).pathname,
          "--root",
          join(scratch, "empty-root"),
          "cat",
          "--plain-http",
          ref,
          path,
        ],
        env: { DENO_NO_UPDATE_CHECK: "1", DOCKER_CONFIG: join(scratch, "no-docker-config") },
        stdout: "piped",
        stderr: "inherit",
      }).output();
      if (!out.success || out.stdout.length !== fileSize) throw new Error("soci cat failed");
    });
    const [build, verify] = await alternating(n, async () => {
      const inputs = [];
      for (const l of image.layers) inputs.push({ layer: await fileLayer(l.path) });
      for await (const r of ztoc(spans(inputs, { spanSize: DEFAULT_SPAN_SIZE }))) {
        if (r.error) throw r.error;
      }
    }, async () => {
      const report = await verifyImage(`oci:${image.dir}:${image.tag}`, { store });
      if (!report.ok) throw new Error("verify failed: " + JSON.stringify(report.layers));
    });
    const bound = 2 * DEFAULT_SPAN_SIZE + fileSize + ztocSizes + 64 * 1024;
    const result = {
      data,
      layers: image.layers.length,
      layer: { digest: layer.digest, size: layer.size, uncompressedSize: layer.uncompressedSize },
      file: { path, size: fileSize },
      downloadSeconds: min(download),
      catSeconds: min(cat),
      catRatio: min(cat) / min(download),
      catGoal: GOALS.cat,
      catFetchedBytes: fetched,
      catBoundBytes: bound,
      cliCatSeconds: min(cli),
      ztocBuildSeconds: min(build),
      verifySeconds: min(verify),
      verifyRatio: min(verify) / min(build),
      verifyGoal: GOALS.verify,
      rounds: n,
    };
    if (json) console.log(JSON.stringify(result, null, 2));
    else {
      console.log(`== ${data} content (${image.layers.length} layer(s))`);
      console.log(
        `layer ${layer.digest}: ${layer.size} bytes (${layer.uncompressedSize} uncompressed)`,
      );
      console.log(`download of the layer blob    ${fmt(result.downloadSeconds)}`);
      console.log(
        `cat of ${path} (${fileSize} B)  ${fmt(result.catSeconds)}  ratio ` +
          `${result.catRatio.toFixed(3)} (goal ≤ ${GOALS.cat}); fetched ${fetched} B ` +
          `(bound ${bound} B)`,
      );
      console.log(`soci cat (whole CLI process)  ${fmt(result.cliCatSeconds)}`);
      console.log(`ztoc build of the layers      ${fmt(result.ztocBuildSeconds)}`);
      console.log(
        `verify of the image           ${fmt(result.verifySeconds)}  ratio ` +
          `${result.verifyRatio.toFixed(2)} (goal ≤ ${GOALS.verify})`,
      );
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
    json: "bool",
  });
  const kinds = dataKinds(values);
  const n = Number(values.rounds ?? 5);
  for (const data of kinds) {
    const size = data === "real" ? realSizeArg(values) : sizeArg(values);
    await benchRead(data, size, n, !!values.json);
  }
}
