// Stopping the read APIs (`listFiles`, `openFile`, `ImageFiles`) with an
// AbortSignal, against the real registry (Debian's docker-registry on
// loopback) behind a proxy that holds one chosen request forever: whatever
// the read waits on (the manifest, the index's fallback tag, a zTOC, a span's
// range request, a layer read in full), the abort makes the pending call —
// or the read of the stream `openFile` returned — reject with the signal's
// reason at once (within seconds, where a stalled request would wait forever), and the test's sanitizers (ops, resources) find
// nothing left behind; for a stalled body, the client is seen to drop the
// connection. An already-aborted signal sends no request at all; a local
// `oci:` layout is stopped too. Then `spans()`: a subprocess that abandons
// its iterator still exits (idle workers are stopped), and a consumer
// slower than that idle stop still gets every result.
import assert from "node:assert/strict";
import { join } from "node:path";
import { createIndexes } from "../lib/use_cases/create.ts";
import { pushIndexes } from "../lib/use_cases/push.ts";
import { ImageFiles, listFiles, openFile } from "../lib/use_cases/read_files.ts";
import { openImage } from "../lib/image/open.ts";
import { OciLayoutSource } from "../lib/image/oci_layout.ts";
import { layers } from "../lib/stages/layers.ts";
import { spans } from "../lib/stages/spans.ts";
import { LocalStore } from "../lib/store/local_store.ts";
import { RegistryClient } from "../lib/registry/client.ts";
import { skopeoCopyToRegistry, startRegistry } from "./helpers/registry.ts";
import {
  heldAnswer,
  type InterceptedRequest,
  startInterceptProxy,
} from "./helpers/intercept_proxy.ts";
import { sha256 } from "./helpers/bytes.ts";
import { buildLayer, text, writeLayout } from "./helpers/read_images.ts";

const plain = { plainHttp: true, configDir: "/nonexistent/soci-read-cancel-docker-config" };
/** How long an abort may take to reach the caller (generous: the stalled request never ends). */
const PROMPT_MS = 5000;

/** How `p` settled, or a failure when it is still pending `ms` later. */
async function settledWithin<T>(p: Promise<T>, ms: number): Promise<PromiseSettledResult<T>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending ${ms} ms after the abort`)), ms);
  });
  try {
    return (await Promise.allSettled([Promise.race([p, late])]))[0] as PromiseSettledResult<T>;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A body that sends nothing (after the answer's headers) until `stopping`
 * aborts, and calls `gone` when the client drops the connection.
 */
function silentBody(stopping: AbortSignal, gone: () => void): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    pull: (controller) =>
      new Promise<void>((resolve) => {
        const end = () => {
          try {
            controller.close(); // short of its length: the client sees it cut
          } catch {
            // the client went away first
          }
          resolve();
        };
        if (stopping.aborted) end();
        else stopping.addEventListener("abort", end, { once: true });
      }),
    cancel: () => gone(),
  });
}

/** Reads a stream to its end. */
async function drain(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * Runs `start` against a proxy in front of `upstream` that stalls every
 * request `held` picks (`answer`: no answer at all; `body`: the answer's
 * headers, then nothing), aborts once one is stalled, and checks that
 * `start`'s promise rejects with the reason within {@link PROMPT_MS} — and,
 * for a stalled body, that the client dropped the connection as soon.
 */
async function abortWhenStalled(
  upstream: string,
  stall: "answer" | "body",
  held: (r: InterceptedRequest) => boolean,
  start: (ref: string, signal: AbortSignal) => Promise<unknown>,
): Promise<void> {
  const arrived = Promise.withResolvers<void>();
  const dropped = Promise.withResolvers<void>();
  const proxy = startInterceptProxy(upstream, async (req, forward, _body, stopping) => {
    if (!held(req)) return await forward();
    arrived.resolve();
    if (stall === "answer") return await heldAnswer(stopping);
    const res = await forward();
    await res.body?.cancel();
    return new Response(silentBody(stopping, dropped.resolve), res);
  });
  try {
    const stop = new AbortController();
    const reason = new Error("the user gave up");
    const pending = start(`docker://${proxy.host}/app:v1`, stop.signal);
    await Promise.race([arrived.promise, pending]);
    stop.abort(reason);
    const got = await settledWithin(pending, PROMPT_MS);
    assert.deepEqual(got, { status: "rejected", reason });
    assert.equal((got as PromiseRejectedResult).reason, reason);
    if (stall === "body") {
      assert.deepEqual(await settledWithin(dropped.promise, PROMPT_MS), {
        status: "fulfilled",
        value: undefined,
      });
    }
  } finally {
    await proxy.stop();
  }
}

Deno.test("read: an AbortSignal stops listFiles, openFile and ImageFiles", async (t) => {
  const scratch = await Deno.makeTempDir({ prefix: "soci-read-cancel-" });
  const reg = await startRegistry();
  try {
    // Layer 0 (~600 KiB of text, 64 KiB spans) gets a zTOC; layer 1 is
    // below the minimum size and is read in full.
    const big = text(600_000, 1);
    const small = text(3000, 2);
    const built = [
      await buildLayer([
        { path: "big.txt", kind: "file", data: big },
        { path: "etc/os-release", kind: "file", data: new TextEncoder().encode("ID=t\n") },
      ]),
      await buildLayer([{ path: "small.txt", kind: "file", data: small }]),
    ];
    const layout = await writeLayout(join(scratch, "layout"), "v1", built);
    await skopeoCopyToRegistry(layout.dir, "v1", `${reg.host}/app:v1`);
    {
      using store = LocalStore.open(join(scratch, "builder"));
      const src = await openImage(`docker://${reg.host}/app:v1`, { registry: plain });
      try {
        await createIndexes(src, store, { spanSize: 64 * 1024, minLayerSize: 100_000 });
      } finally {
        await src.close?.();
      }
      const client = new RegistryClient(reg.host, { plainHttp: true });
      try {
        await pushIndexes(store, `${reg.host}/app:v1`, client, "app");
      } finally {
        client.close();
      }
    }
    let ztoc = "";
    {
      await using files = await ImageFiles.open(`docker://${reg.host}/app:v1`, {
        registry: plain,
      });
      assert.equal(files.index?.via, "tag");
      assert.deepEqual(files.layers.map((l) => l.ztoc !== undefined), [true, false]);
      ztoc = files.layers[0].ztoc!.digest;
    }
    const manifestHex = layout.manifest.digest.slice("sha256:".length);
    const blobGet = (digest: string) => (r: InterceptedRequest) =>
      r.method === "GET" && r.path === `/v2/app/blobs/${digest}`;

    /** What waits on the registry, and the request that is stalled. */
    const cases: Array<{
      name: string;
      held: (r: InterceptedRequest) => boolean;
      start: (ref: string, signal: AbortSignal) => Promise<unknown>;
    }> = [
      {
        name: "ImageFiles.open, the image's manifest",
        held: (r) => r.path === "/v2/app/manifests/v1",
        start: (ref, signal) => ImageFiles.open(ref, { registry: plain, signal }),
      },
      {
        name: "ImageFiles.open, the index's fallback tag (index discovery)",
        held: (r) => r.path === `/v2/app/manifests/sha256-${manifestHex}`,
        start: (ref, signal) => ImageFiles.open(ref, { registry: plain, signal }),
      },
      {
        name: "listFiles, the zTOC",
        held: blobGet(ztoc),
        start: (ref, signal) => listFiles(ref, { registry: plain, signal }),
      },
      {
        name: "files.list of an ImageFiles the caller holds, the zTOC",
        held: blobGet(ztoc),
        start: async (ref, signal) => {
          const files = await ImageFiles.open(ref, { registry: plain, signal });
          try {
            return await files.list();
          } finally {
            // The abort closed it: what is asked next fails with the reason,
            // and closing it again is harmless.
            await assert.rejects(files.stat("big.txt"), (e) => e === signal.reason);
            await files.close();
          }
        },
      },
      {
        name: "a read of openFile's stream, a span's range request",
        held: blobGet(built[0].digest),
        start: async (ref, signal) => {
          // The stream comes back before any span is asked for.
          const stream = await openFile(ref, "big.txt", { registry: plain, signal });
          const reader = stream.getReader();
          try {
            return await reader.read();
          } finally {
            // The stream stays failed.
            await assert.rejects(reader.read(), (e) => e === signal.reason);
          }
        },
      },
      {
        name: "openFile in a layer without zTOC, the layer read in full",
        held: blobGet(built[1].digest),
        start: (ref, signal) => openFile(ref, "small.txt", { registry: plain, signal }),
      },
    ];
    for (const c of cases) {
      for (const stall of ["answer", "body"] as const) {
        await t.step(`${c.name}: ${stall} stalled`, async () => {
          await abortWhenStalled(reg.url, stall, c.held, c.start);
        });
      }
    }

    await t.step("an already-aborted signal rejects at once, with no request sent", async () => {
      const proxy = startInterceptProxy(reg.url);
      try {
        const ref = `docker://${proxy.host}/app:v1`;
        const reason = new Error("aborted before the call");
        const signal = AbortSignal.abort(reason);
        const isReason = (e: unknown) => e === reason;
        await assert.rejects(listFiles(ref, { registry: plain, signal }), isReason);
        await assert.rejects(openFile(ref, "big.txt", { registry: plain, signal }), isReason);
        await assert.rejects(ImageFiles.open(ref, { registry: plain, signal }), isReason);
        assert.deepEqual(proxy.requests, []);
      } finally {
        await proxy.stop();
      }
    });

    await t.step("a signal that never fires changes nothing", async () => {
      const proxy = startInterceptProxy(reg.url);
      try {
        const ref = `docker://${proxy.host}/app:v1`;
        const signal = new AbortController().signal;
        assert.deepEqual(
          await listFiles(ref, { registry: plain, signal }),
          await listFiles(ref, { registry: plain }),
        );
        const bytes = await drain(await openFile(ref, "big.txt", { registry: plain, signal }));
        assert.equal(sha256(bytes), sha256(big));
        assert.equal(
          sha256(await drain(await openFile(ref, "small.txt", { signal, registry: plain }))),
          sha256(small),
        );
      } finally {
        await proxy.stop();
      }
    });

    await t.step("a local oci: layout", async (t) => {
      const ref = `oci:${layout.dir}:v1`;
      await t.step("an already-aborted signal rejects at once", async () => {
        const reason = new Error("aborted before the call");
        const signal = AbortSignal.abort(reason);
        await assert.rejects(listFiles(ref, { signal }), (e) => e === reason);
        await assert.rejects(openFile(ref, "big.txt", { signal }), (e) => e === reason);
      });
      await t.step("an abort between reads of a layer read in full", async () => {
        const stop = new AbortController();
        const reason = new Error("enough");
        const reader = (await openFile(ref, "big.txt", { signal: stop.signal })).getReader();
        const first = await reader.read();
        assert.equal(first.done, false);
        stop.abort(reason);
        await assert.rejects(reader.read(), (e) => e === reason);
      });
    });
  } finally {
    await reg.stop();
    await Deno.remove(scratch, { recursive: true });
  }
});

Deno.test("spans: a consumer slower than the idle stop gets every result", async () => {
  const layout = new URL("../fixtures/sample-image", import.meta.url).pathname;
  const scan = async (pauseMs: number) => {
    const image = OciLayoutSource.fromReference(`oci:${layout}:latest`);
    const out: string[] = [];
    for await (const r of spans(layers(image, { minLayerSize: 0 }), { concurrency: 1 })) {
      assert.equal(r.error, undefined);
      out.push(`${r.layer.descriptor.digest} ${r.scan?.uncompressedSize}`);
      // Longer than the stage waits (1 s) before it stops idle workers:
      // the next layer is scanned on a worker started again.
      if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
    return out;
  };
  const slow = await scan(1500);
  assert.equal(slow.length, 2);
  assert.deepEqual(slow, await scan(0));
});

Deno.test("spans: a script that abandons the iterator still exits", async (t) => {
  const script = new URL("./helpers/abandoned_spans.ts", import.meta.url).pathname;
  const layout = new URL("../fixtures/sample-image", import.meta.url).pathname;
  /** Generous: the subprocess starts Deno, loads the modules and a worker. */
  const limitMs = 20_000;
  // 1: the first layer is handed on before the second is scanned; 2: the
  // second is still being scanned when the script stops.
  for (const concurrency of [1, 2]) {
    await t.step(`concurrency ${concurrency}`, async () => {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--quiet", script, `oci:${layout}:latest`, String(concurrency)],
        env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const output = child.output();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<"late">((resolve) => {
        timer = setTimeout(() => resolve("late"), limitMs);
      });
      const first = await Promise.race([output, late]);
      clearTimeout(timer);
      if (first === "late") child.kill("SIGKILL");
      const out = await output;
      const stdout = new TextDecoder().decode(out.stdout);
      assert.notEqual(first, "late", `still running ${limitMs} ms after it started: ${stdout}`);
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      assert.match(stdout, /^first layer: sha256:[0-9a-f]{64}\nmain ends\n$/);
    });
  }
});
