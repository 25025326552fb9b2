/**
 * The stages as a library: curried stages in `pipe`, the span size the
 * descriptors record, stopping early (sources closed, workers stopped),
 * the scan pool's fallback when workers cannot start, and file extraction
 * that never passes on bytes of a corrupt span.
 */
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { goTar } from "./helpers/tar_go_writer.ts";
import { pseudoRandomBytes } from "./helpers/registry_oci_layout.ts";
import { fileLayer, readFileChunks } from "../lib/image/file_layer.ts";
import { OciLayoutSource } from "../lib/image/oci_layout.ts";
import { index, layers, type PendingLayer, pipe, reuse, spans, ztoc } from "../lib/pipeline.ts";
import { ScanPool } from "../lib/ztoc/scan_pool.ts";
import { storeZtocs } from "../lib/stages/store_sink.ts";
import { LocalStore } from "../lib/store/local_store.ts";
import { extractFile, findFile } from "../lib/ztoc/extract.ts";
import { decodeZtoc } from "../lib/ztoc/codec.ts";
import { decodeGzipZinfo } from "../lib/gzip/zinfo.ts";
import { hostPlatform } from "../lib/oci/platform.ts";

const REPO = new URL("..", import.meta.url).pathname;
const SAMPLE = `oci:${REPO}fixtures/sample-image:latest`;

/** A gzip layer holding `files` (name → bytes). */
function layer(files: Record<string, Uint8Array>): Uint8Array {
  return gzipSync(goTar(Object.entries(files).map(([name, data]) => ({ name, data }))), {
    level: 1,
  });
}

/** Chunks of `bytes`, slowly, counting whether the consumer closed the iteration. */
function slowSource(bytes: Uint8Array, state: { closed: boolean; read: number }) {
  return (async function* () {
    try {
      for (let off = 0; off < bytes.length; off += 64 * 1024) {
        await new Promise((r) => setTimeout(r, 20));
        state.read += Math.min(64 * 1024, bytes.length - off);
        yield bytes.slice(off, off + 64 * 1024);
      }
    } finally {
      state.closed = true;
    }
  })();
}

Deno.test("pipe() chains the stages called with options only", async () => {
  const image = OciLayoutSource.fromReference(SAMPLE);
  const viaPipe = await pipe(
    image,
    layers({ minLayerSize: 0 }),
    spans({ spanSize: 1 << 18 }),
    ztoc(),
    index(),
  );
  const nested = await index(
    ztoc(spans(layers(image, { minLayerSize: 0 }), { spanSize: 1 << 18 })),
  );
  assert.equal(viaPipe.descriptor.digest, nested.descriptor.digest);
  assert.deepEqual(viaPipe.bytes, nested.bytes);
});

/** The layers of `image` (all of them), counting how many are opened. */
function countingOpens(image: OciLayoutSource) {
  const counter = {
    opened: 0,
    layers: async function* () {
      for await (const r of layers(image, { minLayerSize: 0 })) {
        if (r.skip === undefined && r.error === undefined) {
          const open = r.layer.open;
          r.layer.open = () => (counter.opened++, open());
        }
        yield r;
      }
    },
  };
  return counter;
}

Deno.test("stages only take the layers they can handle (checked by deno check)", () => {
  const image = OciLayoutSource.fromReference(SAMPLE);
  // Never run: these lines are here for the type checker. The test's check is
  // that `deno test` type-checks this file: an @ts-expect-error line that
  // type-checks fails the run.
  const typeChecks = () => {
    // @ts-expect-error: ztoc() of layers that were never scanned
    ztoc(layers(image));
    // @ts-expect-error: index() of layers without zTOCs
    index(spans(layers(image)));
    // the right order type-checks
    return index(ztoc(spans(reuse(layers(image), () => Promise.resolve(undefined)))));
  };
  assert.equal(typeof typeChecks, "function");
});

Deno.test("reuse() hands found zTOCs past spans(): those layers are never read", async () => {
  const image = OciLayoutSource.fromReference(SAMPLE);
  const built = await index(ztoc(spans(layers(image, { minLayerSize: 0 }), { concurrency: 0 })));
  const known = new Map(built.layers.map((r) => [r.layer.descriptor.digest, r.ztoc!]));
  const counting = countingOpens(image);
  const again = await pipe(
    counting.layers(),
    reuse((l) => {
      const z = known.get(l.descriptor.digest);
      return Promise.resolve(z && { digest: z.digest, size: z.size });
    }),
    spans({ concurrency: 0 }),
    ztoc(),
    index(),
  );
  assert.equal(counting.opened, 0);
  assert.deepEqual(again.bytes, built.bytes);
  assert.ok(again.layers.every((r) => r.ztoc?.reused === true));
});

Deno.test("ztoc() records the span size the layer was scanned with", async () => {
  const image = OciLayoutSource.fromReference(SAMPLE);
  // ztoc() is given no span size: the descriptors must still say 65536.
  const soci = await index(
    ztoc(spans(layers(image, { minLayerSize: 0 }), { spanSize: 65536, concurrency: 0 })),
  );
  assert.equal(soci.manifest.layers.length, 2);
  assert.equal(soci.layers.length, 2);
  for (const d of soci.manifest.layers) {
    assert.equal(d.annotations?.["com.amazon.soci.span-size"], "65536");
  }
  // and so do the zTOCs themselves (the zinfo header holds the span size)
  for (const r of soci.layers) {
    const z = decodeZtoc(r.ztoc!.bytes!);
    assert.equal(decodeGzipZinfo(z.checkpoints).spanSize, 65536);
  }
});

for (const concurrency of [0, 2]) {
  Deno.test(`spans() stops reading when its consumer leaves early (concurrency ${concurrency})`, async () => {
    const slow = { closed: false, read: 0 };
    const big = layer({ "big.bin": pseudoRandomBytes(4 << 20, 7) });
    const fast = layer({ "a.txt": new TextEncoder().encode("hello") });
    const results: PendingLayer[] = [
      {
        layer: {
          descriptor: { mediaType: "", digest: "", size: fast.length },
          index: 0,
          compression: "detect",
          open: () =>
            Promise.resolve((async function* () {
              yield fast;
            })()),
        },
      },
      {
        layer: {
          descriptor: { mediaType: "", digest: "", size: big.length },
          index: 1,
          compression: "detect",
          open: () => Promise.resolve(slowSource(big, slow)),
        },
      },
    ];
    for await (const r of spans(results, { concurrency })) {
      assert.equal(r.scan?.entries.length, 1);
      break; // leave after the first layer, while the second is still being read
    }
    // (Reading all of the slow layer would take 64 chunks × 20 ms.)
    if (concurrency === 0) {
      // one layer at a time: the slow one was never opened
      assert.equal(slow.read, 0);
    } else {
      assert.ok(slow.closed, "the slow source was closed");
      assert.ok(slow.read < big.length, `read ${slow.read} of ${big.length} bytes`);
    }
  });
}

Deno.test("ScanPool.close() fails a running scan instead of hanging", async () => {
  const pool = new ScanPool(1);
  const state = { closed: false, read: 0 };
  const big = layer({ "big.bin": pseudoRandomBytes(2 << 20, 3) });
  const running = pool.scan(slowSource(big, state), { compression: "gzip", spanSize: 1 << 20 });
  await new Promise((r) => setTimeout(r, 200));
  pool.close();
  await assert.rejects(running, /scan pool closed|scan worker stopped|scan cancelled/);
  assert.ok(state.closed, "the source was closed");
});

Deno.test("ztoc build falls back to one thread when workers may not read their module", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/layer.tar.gz`;
    await Deno.writeFile(
      path,
      layer({ "x.bin": pseudoRandomBytes(300_000, 5), "y.txt": new TextEncoder().encode("y") }),
    );
    const run = async (perms: string[], out: string) =>
      await new Deno.Command(Deno.execPath(), {
        args: ["run", ...perms, `${REPO}cli.ts`, "ztoc", "build", "-o", out, path],
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).output();
    const narrow = await run([`--allow-read=${dir}`, `--allow-write=${dir}`], `${dir}/narrow.ztoc`);
    const stderr = new TextDecoder().decode(narrow.stderr);
    assert.equal(narrow.code, 0, stderr);
    assert.equal(stderr, "");
    const wide = await run(["-A"], `${dir}/wide.ztoc`);
    assert.equal(wide.code, 0);
    assert.deepEqual(
      await Deno.readFile(`${dir}/narrow.ztoc`),
      await Deno.readFile(`${dir}/wide.ztoc`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("extractFile passes on nothing of a corrupt span, and closes its reader", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Spans bigger than one 1 MiB read, so a check after the fact would be too late.
    const data = pseudoRandomBytes(3 << 20, 11);
    const path = `${dir}/layer.tar.gz`;
    await Deno.writeFile(path, layer({ "big.bin": data }));
    let blob;
    for await (const r of ztoc(spans([{ layer: await fileLayer(path) }], { spanSize: 8 << 20 }))) {
      blob = r.ztoc!;
    }
    const z = decodeZtoc(blob!.bytes!);
    const entry = findFile(z.toc, "big.bin");
    const bytes = await Deno.readFile(path);
    bytes[bytes.length >> 1] ^= 0xff; // corrupt the only span, in the middle
    const bad = `${dir}/bad.tar.gz`;
    await Deno.writeFile(bad, bytes);
    let got = 0;
    await assert.rejects(async () => {
      for await (const part of extractFile(z, entry, (s, e) => readFileChunks(bad, s, e))) {
        got += part.length;
      }
    }, /span 0 of the layer does not match the zTOC/);
    assert.equal(got, 0);
    // Leaving early closes the reader.
    let closed = false;
    const reader = (s: number, e: number) =>
      (async function* () {
        try {
          yield* readFileChunks(path, s, e);
        } finally {
          closed = true;
        }
      })();
    for await (const _ of extractFile(z, entry, reader)) break;
    assert.ok(closed);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("storeZtocs: zTOC writes run while later layers come through; the stage waits for them and fails with a failed one", async () => {
  const root = await Deno.makeTempDir();
  const store = LocalStore.open(root);
  try {
    const paths: string[] = [];
    for (let i = 0; i < 3; i++) {
      const p = `${root}/l${i}.tar.gz`;
      await Deno.writeFile(p, layer({ [`f${i}`]: pseudoRandomBytes(50_000 + i, i + 1) }));
      paths.push(p);
    }
    const inputs = async () => {
      const out = [];
      for (const p of paths) out.push({ layer: await fileLayer(p) });
      return out;
    };
    // A real transaction whose writes are slowed (and one made to fail):
    // what the stage must wait for.
    const run = async (failAt: number) => {
      const tx = store.begin();
      const events: string[] = [];
      let n = 0;
      const slowed = new Proxy(tx, {
        get(target, prop) {
          if (prop !== "putBlob") {
            const v = Reflect.get(target, prop);
            return typeof v === "function" ? v.bind(target) : v;
          }
          return async (bytes: Uint8Array, expected?: { digest: string; size: number }) => {
            const i = n++;
            events.push(`start ${i}`);
            await new Promise((r) => setTimeout(r, 150));
            if (i === failAt) {
              events.push(`fail ${i}`);
              throw new Error(`write ${i} failed`);
            }
            const info = await target.putBlob(bytes, expected);
            events.push(`done ${i}`);
            return info;
          };
        },
      });
      const seen: string[] = [];
      try {
        for await (const r of storeZtocs(slowed, ztoc(spans(await inputs(), { concurrency: 0 })))) {
          seen.push(r.ztoc!.digest);
          events.push(`yield ${seen.length - 1}`);
        }
        events.push("end");
        return { events, seen, tx, error: undefined };
      } catch (e) {
        events.push("threw");
        return { events, seen, tx, error: e as Error };
      }
    };

    const ok = await run(-1);
    assert.equal(ok.error, undefined);
    // Each layer is passed on before its write ends, and the stage ends after every write.
    assert.equal(ok.seen.length, 3);
    const done0: number = ok.events.indexOf("done 0");
    const yield1: number = ok.events.indexOf("yield 1");
    assert.ok(done0 >= 0 && yield1 >= 0 && yield1 < done0, ok.events.join(", "));
    assert.deepEqual(ok.events.slice(-1), ["end"]);
    for (let i = 0; i < 3; i++) {
      const at: number = ok.events.indexOf(`done ${i}`);
      assert.ok(at >= 0 && at < ok.events.indexOf("end"), ok.events.join(", "));
    }
    for (const d of ok.seen) assert.ok((await ok.tx.readBlob(d)).length > 0);
    await ok.tx.commit();
    for (const d of ok.seen) assert.equal(await store.has(d), true);

    const bad = await run(0);
    assert.match(bad.error?.message ?? "", /write 0 failed/);
    // The failure comes out only once the other writes are over.
    const threw: number = bad.events.indexOf("threw");
    for (const w of ["done 1", "done 2"]) {
      const at: number = bad.events.indexOf(w);
      assert.ok(at >= 0 && at < threw, bad.events.join(", "));
    }
    await bad.tx.abort();
  } finally {
    store.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("layers(): a single-manifest image of another platform than the host's is read by default", async () => {
  // The sample image with its descriptor saying another platform than this machine's.
  const dir = await Deno.makeTempDir({ prefix: "soci-pipeline-" });
  try {
    const src = `${REPO}fixtures/sample-image`;
    await Deno.mkdir(`${dir}/blobs/sha256`, { recursive: true });
    for (const e of Deno.readDirSync(`${src}/blobs/sha256`)) {
      await Deno.copyFile(`${src}/blobs/sha256/${e.name}`, `${dir}/blobs/sha256/${e.name}`);
    }
    await Deno.copyFile(`${src}/oci-layout`, `${dir}/oci-layout`);
    const idx = JSON.parse(await Deno.readTextFile(`${src}/index.json`));
    const other = hostPlatform().architecture === "riscv64" ? "s390x" : "riscv64";
    idx.manifests[0].platform = { os: "linux", architecture: other };
    await Deno.writeTextFile(`${dir}/index.json`, JSON.stringify(idx));
    const image = OciLayoutSource.fromReference(`oci:${dir}:latest`);
    const found: string[] = [];
    for await (const r of layers(image, { minLayerSize: 0 })) found.push(r.layer.descriptor.digest);
    const manifest = JSON.parse(
      await Deno.readTextFile(`${dir}/blobs/sha256/${idx.manifests[0].digest.slice(7)}`),
    );
    assert.deepEqual(found, manifest.layers.map((l: { digest: string }) => l.digest));
    // Asking for the host's platform finds nothing.
    await assert.rejects(
      Array.fromAsync(layers(image, { platform: hostPlatform() })),
      /image manifest for .*: not found/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("spans(): a span size that is no integer ≥ 0 is refused before any layer is read", async () => {
  const image = OciLayoutSource.fromReference(SAMPLE);
  for (const spanSize of [NaN, 0.5, -1, Infinity]) {
    const counting = countingOpens(image);
    await assert.rejects(
      Array.fromAsync(spans(counting.layers(), { spanSize, concurrency: 0 })),
      { name: "BadInputError", message: `span size must be an integer >= 0, not ${spanSize}` },
    );
    assert.equal(counting.opened, 0, String(spanSize));
  }
});

Deno.test("spans(): aborted while a layer is handed on, the scans behind it fail without an unhandled rejection", async () => {
  const image = OciLayoutSource.fromReference(SAMPLE);
  const ctl = new AbortController();
  const aborted = new Promise((resolve) => ctl.signal.addEventListener("abort", resolve));
  // The second layer's bytes stall until the abort (which may come before its
  // first read): its scan fails then, while the first layer's result is still
  // with the consumer.
  let n = 0;
  const stopped = Promise.withResolvers<void>();
  const slowSecond = async function* () {
    for await (const r of layers(image, { minLayerSize: 0 })) {
      if (r.skip === undefined && r.error === undefined && n++ === 1) {
        const open = r.layer.open;
        r.layer.open = async () => {
          const chunks = await open();
          return (async function* () {
            try {
              await aborted;
              yield* chunks;
            } finally {
              stopped.resolve(); // the scan stopped reading: it fails next
            }
          })();
        };
      }
      yield r;
    }
  };
  const out = spans(slowSecond(), { signal: ctl.signal, concurrency: 2 });
  const first = await out.next();
  assert.equal(first.done, false);
  ctl.abort(new Error("stop"));
  // The stalled scan fails; the consumer takes its time before asking again.
  await stopped.promise;
  await new Promise((r) => setTimeout(r, 50));
  await assert.rejects(out.next(), /stop/);
});
